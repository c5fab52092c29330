"""The recorder's write-ahead log: accepted samples in memory-mapped, pre-allocated segment files.

See :class:`WriteAheadLog`. Used by :mod:`data_adapters.recorder`.
"""

from __future__ import annotations

import errno
import json
import logging
import mmap
import os
import struct
import time
import zlib
from pathlib import Path

log = logging.getLogger("data_adapters.recorder")

_RECORD = struct.Struct("<Iqd")  # tag index, source time (ns since epoch, UTC), value
_CRC = struct.Struct("<I")
_SLOT = _RECORD.size + _CRC.size


def _reserve(fd: int, size: int) -> None:
    """Give the file ``size`` bytes of real blocks (ENOSPC now, never a SIGBUS on a mapped store later)."""
    try:
        os.posix_fallocate(fd, 0, size)
        return
    except AttributeError:  # no posix_fallocate (macOS): write the zeros
        pass
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
    block = b"\0" * (1 << 16)
    for off in range(0, size, len(block)):
        os.pwrite(fd, block[:min(len(block), size - off)], off)


class WriteAheadLog:
    """Append-only log of accepted samples in memory-mapped segment files (``WAL/<stamp>.bin``).

    Why a mapping: a store into a shared file mapping lands in the kernel's page cache at once, so it
    survives the process being killed (SIGKILL) exactly as an ``os.write`` would, without a system call
    per sample (the syscall was the recorder's largest per-sample cost). Like ``os.write`` without fsync,
    it does not survive a power cut; flushed chunks are fsynced. Each record is 24 bytes: tag index (u32),
    source time (i64 ns), value (f64) and a CRC-32 of those 20 bytes, so an unwritten (zero) slot or a
    record torn by the kill ends the replay of its segment. A full segment rolls over to a new file.

    Disk full: a store into a mapped page the file system cannot back is a SIGBUS that kills the process.
    So a segment's blocks are reserved when it is created (``posix_fallocate``): then every store into the
    mapping has its block, and a full disk shows as ``OSError(ENOSPC)`` from :meth:`write` or
    :meth:`rotate` (opening a segment), which the caller survives (nothing half-created is left behind).
    """

    SEGMENT_RECORDS = 1 << 16  # 1.5 MB per segment file (sparse until written)

    def __init__(self, folder: Path, paths: list[str]):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.paths = paths
        self._mm: mmap.mmap | None = None
        self._pos = self._end = 0
        self._segment: Path | None = None
        self._serial = 0

    def _open_segment(self) -> None:
        self.close()
        self._serial += 1
        stamp = f"{time.time_ns()}-{os.getpid()}-{self._serial:06d}"
        self._segment = self.folder / f"{stamp}.bin"
        try:
            (self.folder / f"{stamp}.tags.json").write_text(json.dumps(self.paths))
        except OSError:
            (self.folder / f"{stamp}.tags.json").unlink(missing_ok=True)
            raise
        size = self.SEGMENT_RECORDS * _SLOT
        try:
            fd = os.open(self._segment, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                _reserve(fd, size)  # every block now exists: no SIGBUS on a full disk later
                self._mm = mmap.mmap(fd, size)
            finally:
                os.close(fd)  # the mapping keeps the file open
        except OSError:
            self._segment.unlink(missing_ok=True)
            self._segment.with_suffix(".tags.json").unlink(missing_ok=True)
            self._segment = None
            raise
        self._pos, self._end = 0, size

    def write(self, index: int, ts_ns: int, value: float) -> None:
        if self._pos >= self._end:
            self._open_segment()
        rec = _RECORD.pack(index, ts_ns, value)
        pos = self._pos
        self._mm[pos:pos + _SLOT] = rec + _CRC.pack(zlib.crc32(rec))
        self._pos = pos + _SLOT

    def rotate(self, keep: list[tuple[int, int, float]]) -> None:
        """Start a new segment holding ``keep`` (the samples not yet stored); drop the older segments."""
        old = sorted(self.folder.glob("*.bin"))
        self._open_segment()
        for i, t, v in keep:
            self.write(i, t, v)
        current = set(self.folder.glob("*.bin")) - set(old)
        for seg in old:
            if seg not in current:
                seg.unlink(missing_ok=True)
                seg.with_suffix(".tags.json").unlink(missing_ok=True)

    def replay(self) -> list[tuple[str, int, float]]:
        """Samples left by earlier runs (path, ts_ns, value); a segment's replay ends at its first invalid slot."""
        out = []
        for seg in sorted(self.folder.glob("*.bin")):
            try:
                paths = json.loads(seg.with_suffix(".tags.json").read_text())
            except (OSError, ValueError):
                log.error("%s: write-ahead log segment without a readable tag list; left in place", seg)
                continue
            data = seg.read_bytes()
            for off in range(0, len(data) - _SLOT + 1, _SLOT):
                rec = data[off:off + _RECORD.size]
                if _CRC.unpack_from(data, off + _RECORD.size)[0] != zlib.crc32(rec):
                    break  # never written, or torn by the kill
                i, ts, v = _RECORD.unpack(rec)
                if i < len(paths):
                    out.append((paths[i], ts, v))
        return out

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self._pos = self._end = 0


__all__ = ["WriteAheadLog"]

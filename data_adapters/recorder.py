"""The recorder: subscribe to a line through its adapters and append what arrives to the history store.

Behaviour, stated once (and tested):

- **Bounded memory**: samples wait in a buffer until the next flush (``flush_interval_s``); when the
  buffer holds ``max_buffer`` samples it is flushed at once.
- **Arrival order**: a sample waits ``grace_s`` (source time, behind the newest sample of its station)
  before it is flushed, so samples that arrive out of order within that window are stored in time order.
- **Idempotent**: the store keeps only samples newer than a station's high-water mark; anything at or
  before it is a duplicate (same timestamp) or late (older) and is counted, not stored twice. A late
  sample is logged with its tag.
- **Crash-safe**: every accepted sample is written to a write-ahead log (``STORE/wal/``, a shared file
  mapping: in the page cache at once, see :class:`WriteAheadLog`) before it is buffered, so a SIGKILL
  loses nothing that reached the recorder's callback; the next start
  replays the log.
- **Backfill**: where the source keeps history (``backfill``, e.g. ``LineAdapters.history`` over OPC UA
  HistoryRead; ``workbench sim-server`` historizes by default), the recorder fills what it did not hear:
  on start (subscribed first, so nothing falls between history and live) from each tag's high-water mark
  to now, and after every reconnect (a tag's ``disconnected`` reading, then a sample again) from that
  tag's last sample to now. Until that backfill is in, the station's flushes wait (a forced flush at
  ``max_buffer`` does not), so history and live merge before anything is stored; a (tag, time) that
  both deliver is stored once. Where the source keeps no history (the backfill raises), the recorder
  logs one line naming the gap and records it as a gap: the samples between the kill and the restart
  are then not in the store; everything received before the kill is.
- **Change-only sources**: an OPC UA subscription without a filter reports a value only when it or its
  status changes (DataChangeTrigger StatusValue, no deadband). A setpoint that stays put is one stored
  sample until it moves, not one per scan: read such tags as "last value holds" (``ffill``).
- **Units and quality**: a sample in other units than the stored ones is converted; one whose units cannot
  be converted is rejected with a log line naming the tag. Disconnected and bad readings are not samples
  (they mark a gap) and are counted.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import mmap
import os
import struct
import time
import zlib
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from workbench.config import LineConfig
from workbench.history.fill import declare_line
from workbench.history.store import HistoryStore
from workbench.units import ureg

from data_adapters.base import Quality, Reading

log = logging.getLogger(__name__)

_RECORD = struct.Struct("<Iqd")  # tag index, source time (ns since epoch, UTC), value
_CRC = struct.Struct("<I")
_SLOT = _RECORD.size + _CRC.size
_STORABLE = frozenset((Quality.GOOD, Quality.UNCERTAIN, Quality.STALE))
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_NAIVE = datetime(1970, 1, 1)


def epoch_ns(t) -> int:
    """Nanoseconds since the Unix epoch (UTC) of a timestamp; a naive one is taken as UTC.

    The recorder's per-sample path: integer arithmetic on the datetime instead of building a
    ``pandas.Timestamp`` (which cost ~20 us a sample and capped the recorder at ~30 k samples/s).

    >>> epoch_ns(datetime(2026, 1, 5, 6, 0, 1, 500, tzinfo=timezone.utc))
    1767592801000500000
    >>> epoch_ns(pd.Timestamp("2026-01-05T07:00:01.0000005+01:00"))
    1767592801000000500
    """
    if isinstance(t, pd.Timestamp):
        return t.value  # UTC ns for aware, as-if-UTC for naive; keeps nanoseconds
    if isinstance(t, datetime):
        d = t - (_EPOCH if t.tzinfo is not None else _EPOCH_NAIVE)
        return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000
    ts = pd.Timestamp(t)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts).value


@dataclass
class RecorderStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    late: int = 0
    rejected_units: int = 0
    not_samples: int = 0
    flushes: int = 0
    replayed: int = 0
    backfilled: int = 0


class WriteAheadLog:
    """Append-only log of accepted samples in memory-mapped segment files (``WAL/<stamp>.bin``).

    Why a mapping: a store into a shared file mapping lands in the kernel's page cache at once, so it
    survives the process being killed (SIGKILL) exactly as an ``os.write`` would, without a system call
    per sample (the syscall was the recorder's largest per-sample cost). Like ``os.write`` without fsync,
    it does not survive a power cut; flushed chunks are fsynced. Each record is 24 bytes: tag index (u32),
    source time (i64 ns), value (f64) and a CRC-32 of those 20 bytes, so an unwritten (zero) slot or a
    record torn by the kill ends the replay of its segment. A full segment rolls over to a new file.
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
        (self.folder / f"{stamp}.tags.json").write_text(json.dumps(self.paths))
        size = self.SEGMENT_RECORDS * _SLOT
        fd = os.open(self._segment, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.ftruncate(fd, size)
            self._mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)  # the mapping keeps the file open
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


class Recorder:
    """Record every tag of ``line`` from ``source`` (an Adapter or LineAdapters) into the store at ``root``.

    ``backfill(paths, start, end) -> {path: (times, values)}`` (optional; a coroutine function works too)
    fetches the samples a source kept in [start, end) while the recorder was down or the link was lost;
    values that are NaN (bad quality) are gaps. An error it raises is logged once per gap, not raised.

    >>> rec = Recorder(line, source, "var/history", flush_interval_s=5)   # doctest: +SKIP
    >>> await rec.start(); ...; await rec.stop()                            # doctest: +SKIP
    """

    def __init__(self, line: LineConfig, source, root: str | Path, *, flush_interval_s: float = 5.0,
                 grace_s: float = 2.0, max_buffer: int = 1_000_000,
                 backfill: Callable | None = None, clock: Callable[[], pd.Timestamp] | None = None,
                 refill_delay_s: float = 0.5):
        if flush_interval_s <= 0 or grace_s < 0 or max_buffer <= 0:
            raise ValueError("flush_interval_s > 0, grace_s >= 0 and max_buffer > 0 are required")
        self.line, self.source = line, source
        self.store = HistoryStore(root)
        self.stations = declare_line(self.store, line)
        self.paths = [p for paths in self.stations.values() for p in paths]
        self._index = {p: i for i, p in enumerate(self.paths)}
        self._station_of = {p: s for s, paths in self.stations.items() for p in paths}
        names = list(self.stations)
        self._station_idx = np.array([names.index(self._station_of[p]) for p in self.paths], dtype=np.int64)
        self._units = {p: line.tag(p).units for p in self.paths}
        self.flush_interval_s, self.grace_s, self.max_buffer = flush_interval_s, grace_s, max_buffer
        self.backfill = backfill
        self.refill_delay_s = refill_delay_s
        self.clock = clock or (lambda: pd.Timestamp.now(tz="UTC"))
        self.stats = RecorderStats()
        self.wal = WriteAheadLog(self.store.root / "wal", self.paths)
        self._buffer: list[tuple[int, int, float]] = []
        self._newest: dict[str, int] = {}
        self._sub = None
        self._task: asyncio.Task | None = None
        self._flush_lock = asyncio.Lock()
        self._last: dict[str, int] = {}          # per tag: newest accepted source time (ns)
        self._gap: dict[str, int | None] = {}    # tags whose link dropped -> their last sample before it
        self._refill: dict[str, int | None] = {}  # tags back after a gap, waiting for their backfill
        self._pending: set[str] = set()          # stations whose flush waits for a backfill
        self._refill_task: asyncio.Task | None = None
        self._started_ns = 0

    # --- receiving ---------------------------------------------------------------------------------
    def _convert(self, path: str, value: float, units: str) -> float | None:
        want = self._units[path]
        if units == want or not units:
            return value
        try:
            return float(ureg.Quantity(value, units).to(want).magnitude)
        except Exception as exc:  # pint raises several types for unknown/incompatible units
            self.stats.rejected_units += 1
            log.warning("recorder: rejected a sample of %s in %r: cannot convert to the stored %r (%s)",
                        path, units, want, exc)
            return None

    def accept(self, path: str, ts_ns: int, value: float, units: str | None = None) -> bool:
        """Take one sample (WAL first, then the buffer). Returns False if it is not stored.

        ``ts_ns``: source time, ns since the epoch (UTC); ``value`` in ``units`` (default: the stored units).
        """
        idx = self._index.get(path)
        if idx is None:
            return False
        if units and units != self._units[path]:  # the common case (same units) skips pint entirely
            value = self._convert(path, value, units)
            if value is None:
                return False
        if not math.isfinite(value):
            return False
        self.wal.write(idx, ts_ns, value)
        self._buffer.append((idx, ts_ns, value))
        if ts_ns > self._last.get(path, -(2**63)):
            self._last[path] = ts_ns
        station = self._station_of[path]
        if ts_ns > self._newest.get(station, -(2**63)):
            self._newest[station] = ts_ns
        return True

    def on_reading(self, reading: Reading) -> None:
        """Subscription callback: one reading -> WAL -> buffer (the per-sample hot path; see benchmarks/history.py)."""
        self.stats.received += 1
        if reading.quality not in _STORABLE:
            self.stats.not_samples += 1
            if reading.quality is Quality.DISCONNECTED and self.backfill is not None \
                    and reading.path in self._index and reading.path not in self._gap:
                self._gap[reading.path] = self._last.get(reading.path)  # where its backfill will start
            return
        if self._gap and reading.path in self._gap:  # the link is back: fill what it missed
            self._back_after_gap(reading.path)
        t = reading.source_time
        if type(t) is datetime and t.tzinfo is not None:  # what adapters deliver: epoch_ns() inlined
            d = t - _EPOCH
            ts = (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000
        else:
            ts = epoch_ns(t)
        self.accept(reading.path, ts, reading.value, reading.units)
        if len(self._buffer) >= self.max_buffer:
            asyncio.get_running_loop().create_task(self.flush(force=True))

    # --- flushing ----------------------------------------------------------------------------------
    async def flush(self, *, force: bool = False) -> int:
        """Store buffered samples older than the grace window (all of them with ``force``)."""
        async with self._flush_lock:
            if not self._buffer:
                return 0
            data = np.array(self._buffer, dtype=[("i", "u4"), ("t", "i8"), ("v", "f8")])
            st = self._station_idx[data["i"]]
            keep = np.zeros(len(data), dtype=bool)
            stored = 0
            for k, station in enumerate(self.stations):
                mine = st == k
                if not mine.any():
                    continue
                if station in self._pending and not force:  # its backfill is not in yet: store nothing newer
                    keep |= mine
                    continue
                cutoff = np.iinfo(np.int64).max if force else self._newest[station] - int(self.grace_s * 1e9)
                due = mine & (data["t"] <= cutoff)
                keep |= mine & ~due
                if due.any():
                    stored += self._append(station, data[due])
            self._buffer = [tuple(x) for x in data[keep].tolist()]
            self.wal.rotate(self._buffer)
            self.stats.flushes += 1
            return stored

    def _append(self, station: str, rows: np.ndarray) -> int:
        times, inverse = np.unique(rows["t"], return_inverse=True)
        values = {}
        for idx in np.unique(rows["i"]):
            col = np.full(len(times), np.nan)
            sel = rows["i"] == idx
            col[inverse[sel]] = rows["v"][sel]  # the last sample of a repeated (tag, time) wins
            values[self.paths[idx]] = col
        res = self.store.append(station, pd.to_datetime(times, utc=True), values)
        self.stats.stored += res.stored
        self.stats.duplicates += res.duplicates
        self.stats.late += res.late
        if res.late:
            log.warning("recorder: %d row(s) of station %s older than the stored high-water mark were not "
                        "stored (re-delivered or late samples)", res.late, station)
        return res.stored

    # --- backfill ---------------------------------------------------------------------------------
    def _start_of(self, path: str, last: int | None) -> int:
        """Where a tag's backfill starts (exclusive, ns): its last sample, else its station's high-water mark,
        else this recorder's start (what came before the first recording is not the recorder's gap)."""
        if last is not None:
            return last
        mark = self.store.high_water_mark(self._station_of[path])
        return mark.value if mark is not None else self._started_ns

    async def _backfill(self, starts: dict[str, int], end: pd.Timestamp) -> int:
        """Fetch [start, end] from ``backfill`` (one call for all tags: one request batch, one log line on
        failure) and accept per tag what is newer than its start."""
        first = min(starts.values(), default=end.value)
        if first >= end.value:
            return 0
        t0 = pd.Timestamp(first, tz="UTC")
        try:
            got = self.backfill(list(starts), t0, end + pd.Timedelta(1, "ns"))  # [first, end] as half-open
            if inspect.isawaitable(got):  # a network source (OPC UA HistoryRead) answers asynchronously
                got = await got
        except Exception as exc:  # no history on the source, or it failed: the gap stays, said once
            log.warning("recorder: gap not filled for %d tag(s) from %s to %s: %s", len(starts), t0, end, exc)
            return 0
        taken = 0
        for path, entry in got.items():
            start = starts.get(path)
            if start is None:
                continue
            times, values = entry[0], entry[1]
            for t, v in zip(pd.to_datetime(times, utc=True).as_unit("ns").asi8, values):
                if t > start and self.accept(path, int(t), float(v)):
                    taken += 1
        self.stats.backfilled += taken
        return taken

    def _back_after_gap(self, path: str) -> None:
        self._refill[path] = self._gap.pop(path)
        self._pending.add(self._station_of[path])
        if self._refill_task is None or self._refill_task.done():
            self._refill_task = asyncio.get_running_loop().create_task(self._refill_loop(), name="recorder-backfill")

    async def _refill_loop(self) -> None:
        """After a reconnect: backfill the tags that came back (together, after a moment), then let the
        waiting stations flush."""
        try:
            while self._refill:
                await asyncio.sleep(self.refill_delay_s)  # the link's other tags come back in the same moment
                batch, self._refill = self._refill, {}
                starts = {p: self._start_of(p, last) for p, last in batch.items()}
                n = await self._backfill(starts, self.clock())
                log.info("recorder: backfilled %d sample(s) of %d tag(s) after a reconnect", n, len(batch))
        except Exception:
            log.exception("recorder: backfill after a reconnect failed; that time stays a gap")
        finally:
            if not self._refill:
                self._pending.clear()

    # --- life cycle --------------------------------------------------------------------------------
    async def _recover(self) -> dict[str, int]:
        """Replay the write-ahead log; return each tag's backfill start (taken before live samples arrive)."""
        replayed = self.wal.replay()
        for path, ts, v in replayed:
            self.accept(path, ts, v)
        self.stats.replayed = len(replayed)
        if replayed:
            log.warning("recorder: replayed %d sample(s) from the write-ahead log of an earlier run", len(replayed))
        # A tag's gap starts at its newest sample in the store (its station's high-water mark) or the log.
        # A station may have nothing stored yet (its grace window held its last samples back) while the
        # log has them; a tag with neither starts where the earlier run is known to have been alive.
        marks = {st: self.store.high_water_mark(st) for st in self.stations}
        known = [m.value for m in marks.values() if m is not None] + list(self._last.values())
        if not known:
            return {}  # a new store: there is no gap to fill
        alive_until = max(known)
        starts = {}
        for station, paths in self.stations.items():
            mark = marks[station].value if marks[station] is not None else None
            for p in paths:
                seen = [v for v in (mark, self._last.get(p)) if v is not None]
                starts[p] = max(seen) if seen else alive_until
        return starts

    async def start(self) -> None:
        """Recover (WAL replay), subscribe, backfill from the high-water marks, start the periodic flush.

        Subscribing before the backfill means a sample is either in the history asked for or in the live
        stream (or both: stored once)."""
        self._started_ns = self.clock().value
        starts = await self._recover()
        self._sub = await self.source.subscribe(self.paths, self.on_reading)
        if self.backfill is not None and starts:
            await self._backfill(starts, self.clock())
        await self.flush(force=True)
        self._task = asyncio.get_running_loop().create_task(self._flush_loop(), name="recorder-flush")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("recorder: flush failed; samples stay in the buffer and the write-ahead log")

    async def stop(self) -> RecorderStats:
        """Unsubscribe, store everything buffered, close the log."""
        if self._refill_task is not None and not self._refill_task.done():
            try:  # a backfill in flight is worth a short wait: its samples are the gap's
                await asyncio.wait_for(asyncio.shield(self._refill_task), 10.0)
            except (asyncio.TimeoutError, Exception):
                self._refill_task.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        subs = self._sub if isinstance(self._sub, list) else [self._sub]  # LineAdapters: one per adapter
        for sub in subs:
            if sub is not None:
                await sub.cancel()
        self._sub = None
        await self.flush(force=True)
        self.wal.close()
        return self.stats

    def summary(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.stats).items())


__all__ = ["Recorder", "RecorderStats", "WriteAheadLog", "epoch_ns"]

"""The store's rollups on disk: one per stored chunk, compacted per hour and per day once those are over.

Layout (beside ``ts/``; see :mod:`workbench.history.rollup` for what a rollup holds)::

    STORE/rollup/<station>/<YYYY-MM-DD>/<chunk name>.parquet   the rollup of one chunk (written with it)
    STORE/rollup/<station>/<YYYY-MM-DD>/hour-HH.parquet        an hour that is over, all its chunks merged
    STORE/rollup/<station>/<YYYY-MM-DD>.parquet                a day that is over, all its chunks merged

An hour or day is over once the station's high-water mark is past its end: the store refuses older samples
(see :mod:`.store`), so nothing can land in it any more. :func:`read_rollup` reads, for a window, the day
files of whole days, the hour files of whole hours and the chunk rollups of the rest; a chunk whose
rollup is missing (a store written before rollups existed) is rolled up from its samples, and what it
computed and the hours and days it merged are written back when the store is writable (once, atomically),
so a week is read from 7 files after its first read.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.history.rollup import (
    BUCKET_NS,
    combine,
    concat,
    from_frame,
    rollup,
    select,
    to_frame,
)
from workbench.history.store import CHUNK_NAME, HistoryError

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


def rollup_path(root: Path, station: str, chunk: Path) -> Path:
    """Where the rollup of the stored chunk ``chunk`` is kept."""
    return Path(root) / "rollup" / station / chunk.parent.name / chunk.name


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    """Write a rollup's long form atomically (temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _writable(root: Path) -> bool:
    return os.access(root, os.W_OK)


def _chunk_rollup(root: Path, station: str, chunk: Path) -> pd.DataFrame:
    """The long-form rollup of one chunk: from its rollup file, else computed from its samples."""
    path = rollup_path(root, station, chunk)
    if path.exists():
        return pq.read_table(path).to_pandas()
    from fsspec.implementations.local import LocalFileSystem

    from workbench.history.reader import _load_chunk

    doc = json.loads((Path(root) / "stations" / f"{station}.json").read_text())
    resolution = {t["path"]: t.get("resolution") for t in doc["tags"]}
    names = list(resolution)
    times = pq.read_table(chunk, columns=["time"]).column("time").to_numpy()
    values = _load_chunk(LocalFileSystem(), str(chunk), names, resolution, len(times), whole_file=True)
    frame = to_frame(rollup(times, values, names))
    if _writable(root):
        write_frame(path, frame)
    return frame


def _periods(day_start: int, hwm: int) -> list[tuple[int, int, str]]:
    """(start, end, compact file name) of the hours of a day that is not over: whole hours get a file."""
    out = []
    for h in range(24):
        h0 = day_start + h * HOUR_NS
        if h0 > hwm:
            break
        out.append((h0, h0 + HOUR_NS, f"hour-{h:02d}.parquet" if h0 + HOUR_NS <= hwm else ""))
    return out


def read_rollup(root: str | Path, station: str, tags: list[str], start=None, end=None) -> dict | None:
    """The rollup (:data:`BUCKET_NS` buckets) of ``tags`` of ``station`` for buckets starting in [start, end)
    (UTC; None: from the first / to the last stored), or None when nothing is stored there."""
    from workbench.history.reader import _window

    root = Path(root)
    start, end = _window(start, end)
    folder = root / "ts" / station
    if not folder.is_dir():
        raise HistoryError(f"{root}: no samples of station {station!r} in this store (no folder {folder})")
    days = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not days:
        return None
    hwm = max((int(m["t1"]) for f in (folder / days[-1]).iterdir() if (m := CHUNK_NAME.match(f.name))), default=None)
    if hwm is None:
        return None
    lo = -(2**62) if start is None else start.value // BUCKET_NS * BUCKET_NS
    hi = 2**62 if end is None else end.value
    parts = []
    writable = _writable(root)
    for day in days:
        d0 = pd.Timestamp(day, tz="UTC").value
        if d0 + DAY_NS <= lo or d0 > hi:
            continue
        day_file = root / "rollup" / station / f"{day}.parquet"
        if day_file.exists():
            parts.append(_read(day_file, tags))
            continue
        chunks = sorted((int(m["t0"]), f) for f in (folder / day).iterdir() if (m := CHUNK_NAME.match(f.name)))
        over = d0 + DAY_NS <= hwm
        periods = [(d0, d0 + DAY_NS, "")] if over else _periods(d0, hwm)
        day_frames: list = []  # long-form frames (from chunks) or rollups of ``tags`` (from hour files)
        for p0, p1, name in periods:
            hour_file = root / "rollup" / station / day / name if name else None
            if hour_file is not None and hour_file.exists():
                day_frames.append(_read(hour_file, tags))
                continue
            if not over and (p1 <= lo or p0 > hi):
                continue
            mine = [f for t0, f in chunks if p0 <= t0 < p1]
            if not over and not name:  # the hour going on: its chunks' rollups of ``tags`` (files kept in memory)
                day_frames += [_read(rollup_path(root, station, f), tags, chunk=True)
                               if rollup_path(root, station, f).exists() else _chunk_rollup(root, station, f)
                               for f in mine]
                continue
            frame = _merged([_chunk_rollup(root, station, f) for f in mine])
            if writable and name and frame is not None:
                write_frame(hour_file, frame)
            if frame is not None:
                day_frames.append(frame)
        if over:  # a day that is over: merged once into its day file
            frame = _merged(day_frames)
            if writable and frame is not None:
                write_frame(day_file, frame)
            day_frames = [frame] if frame is not None else []
        parts += day_frames
    if not parts:
        return None
    r = combine(concat([f if isinstance(f, dict) else from_frame(f, tags) for f in parts]), BUCKET_NS)
    return select(r, tags, lo, hi) if len(r["bucket"]) else None


def _read(path: Path, tags: list[str], chunk: bool = False) -> dict:
    """The rollup of ``tags`` in a rollup file (immutable once written: kept in memory, so a server reads a
    week of a station's tags once, and each chunk of the hour going on once, not at every refresh)."""
    return (_read_chunk if chunk else _read_cached)(str(path), path.stat().st_mtime_ns, tuple(tags))


def _read_file(path: str, mtime_ns: int, tags: tuple[str, ...]) -> dict:
    frame = pq.read_table(path, filters=[("tag", "in", list(tags))], read_dictionary=["tag"]).to_pandas()
    return from_frame(frame, list(tags))


_read_cached = functools.lru_cache(maxsize=128)(_read_file)  # hours and days (large)
_read_chunk = functools.lru_cache(maxsize=1024)(_read_file)  # chunks of the hour going on (a few rows each)


def _merged(frames: list[pd.DataFrame]) -> pd.DataFrame | None:
    """Long-form rollups of consecutive chunks merged into one (every tag they hold)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return None
    tags = sorted(set().union(*(set(f["tag"].unique()) for f in frames)))
    return to_frame(combine(concat([from_frame(f, tags) for f in frames]), BUCKET_NS))


__all__ = ["read_rollup", "rollup_path", "write_frame"]

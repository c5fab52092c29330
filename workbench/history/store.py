"""The history store's write side: station time series as immutable, atomically written Parquet chunks.

Layout of a store (a local folder, or any fsspec URL for reading)::

    STORE/
      stations/<station>.json                          tags of the station: path, units, resolution, reports
      ts/<station>/<YYYY-MM-DD>/<t0>_<t1>_<rows>.parquet   one flush: wide table time x tag (UTC ns)
      catalog.sqlite                                   genealogy, events, trials (see catalog.py)

A chunk holds the rows (unique source timestamps) of one flush, one column per tag. A tag with a
``resolution`` is stored as integer counts of that resolution (lossless at the instrument's resolution,
and it compresses to ~1 byte/sample); other tags as float64. Chunks are written to a temporary name,
fsynced and renamed, so a crash leaves either the whole chunk or none. File names carry the time
range and row count, so a reader builds lazy dask arrays without opening any file. Every data page carries
a CRC-32 (Parquet page checksum) that readers verify, so a damaged page is an error, never wrong values.

Idempotence: the station's high-water mark is the largest ``t1`` of its chunks. ``append`` stores only
samples newer than the mark; older samples are duplicates (already stored) or late arrivals, and are
counted and returned, never stored twice. See :class:`AppendResult`.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_NAME = re.compile(r"^(?P<t0>-?\d+)_(?P<t1>-?\d+)_(?P<rows>\d+)(?:_[0-9a-f]+)?\.parquet$")


class HistoryError(ValueError):
    """A store that cannot be read or written as asked; the message names the file and the fix."""


class DeclarationChanged(HistoryError):
    """A tag declared again with other units or another resolution than the store holds it in."""


@dataclass(frozen=True)
class TagSpec:
    """What the store keeps about a tag (from the line config)."""

    path: str
    units: str
    resolution: float | None = None
    reports: str | None = None


@dataclass(frozen=True)
class AppendResult:
    """Outcome of one append: samples stored, and samples not stored because they were not newer."""

    stored: int
    rows: int
    duplicates: int
    late: int
    file: str | None


def _read_only_mount(path: Path) -> bool:
    """True if ``path`` lies on a file system mounted read-only (root ignores file modes, not that)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class HistoryStore:
    """A local history store (write side). Read with :func:`workbench.history.open`.

    >>> import tempfile, numpy as np, pandas as pd
    >>> store = HistoryStore(tempfile.mkdtemp())
    >>> store.declare_station("dryroom", [TagSpec("plant1/dryroom/room1/hygrometer/frost_point_s1", "degC", 0.1)])
    >>> t = pd.date_range("2026-01-05", periods=3, freq="10s", tz="UTC")
    >>> store.append("dryroom", t, {"plant1/dryroom/room1/hygrometer/frost_point_s1": [-52.1, -52.0, -51.9]}).stored
    3
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / "stations").mkdir(exist_ok=True)
            (self.root / "ts").mkdir(exist_ok=True)
            if not os.access(self.root, os.W_OK) or _read_only_mount(self.root):
                raise OSError(30, "Read-only file system" if _read_only_mount(self.root) else "Permission denied")
        except OSError as exc:
            raise HistoryError(f"history store {self.root} cannot be written ({exc.strerror}): record into a "
                               f"writable folder (--store DIR), or make this one writable; reading it with "
                               f"workbench.history.open still works") from None
        self._marks: dict[str, int] = {}

    # --- stations ----------------------------------------------------------------------------------
    def declare_station(self, station: str, tags: Iterable[TagSpec], *, kind: str | None = None,
                        constants: dict | None = None) -> None:
        """Record (or extend) a station's tag list. Units of an existing tag may not change.

        ``kind`` (coating, dryroom, welding, formation, generic) selects the station view on reading;
        ``constants`` are values no tag carries, as {name: [value, units]} (e.g. coated_width).
        """
        if not re.fullmatch(r"[a-z][a-z0-9_]*", station):
            raise HistoryError(f"station name {station!r}: use lower-case letters, digits and _")
        path = self.root / "stations" / f"{station}.json"
        old_doc = json.loads(path.read_text()) if path.exists() else {}
        known = {t["path"]: t for t in old_doc.get("tags", [])}
        for tag in tags:
            old = known.get(tag.path)
            if old and old["units"] != tag.units:
                raise DeclarationChanged(
                    f"{path}: tag {tag.path} is stored in {old['units']!r}, not {tag.units!r}; convert samples "
                    f"to {old['units']} before recording, or record into a new store")
            if old and old.get("resolution") != tag.resolution:
                raise DeclarationChanged(
                    f"{path}: tag {tag.path} resolution changed from {old.get('resolution')} to {tag.resolution}; "
                    f"that would change how stored counts are read: give the tag its old resolution in the line "
                    f"config, or record into a new store")
            known[tag.path] = {"path": tag.path, "units": tag.units, "resolution": tag.resolution,
                               "reports": tag.reports}
        tmp = path.with_suffix(".json.tmp")
        doc = {"station": station, "kind": kind or old_doc.get("kind", "generic"),
               "constants": {**old_doc.get("constants", {}), **(constants or {})}, "tags": list(known.values())}
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)

    def tags(self, station: str) -> dict[str, TagSpec]:
        path = self.root / "stations" / f"{station}.json"
        if not path.exists():
            raise HistoryError(f"{self.root}: no station {station!r} in this store; declare_station() first")
        return {t["path"]: TagSpec(**t) for t in json.loads(path.read_text())["tags"]}

    # --- gaps (the one rule: see gaps.py) ------------------------------------------------------------
    def mark_gaps(self, station: str, tags: Iterable[str], start, end, cause: str, *, source: str = "recorder") -> int:
        """Record that ``tags`` of ``station`` have no samples from ``start`` (last known) to ``end`` (heard
        again) because of ``cause``; readers then show the hole (see :mod:`workbench.history.gaps`).
        Returns the number of new gap rows (marking the same gap twice stores it once)."""
        from workbench.history.gaps import write_gaps

        known = self.tags(station)
        tags = list(tags)
        unknown = [t for t in tags if t not in known]
        if unknown:
            raise HistoryError(f"station {station!r}: gap for undeclared tag(s) {unknown[:3]}; declare_station() first")
        rows = pd.DataFrame({"station": station, "tag": tags, "start": pd.Timestamp(start), "end": pd.Timestamp(end),
                             "cause": cause})
        return write_gaps(self.root, rows, source=source)

    def gaps(self, station: str | None = None) -> pd.DataFrame:
        """The gaps stored for ``station`` (all stations if None): station, tag, start, end, cause, source."""
        from workbench.history.gaps import load_gaps

        return load_gaps(self.root, station)

    # --- high-water mark ---------------------------------------------------------------------------
    def high_water_mark(self, station: str) -> pd.Timestamp | None:
        """The newest source timestamp stored for ``station`` (UTC), or None if nothing is stored."""
        if station not in self._marks:
            best = None
            for f in (self.root / "ts" / station).glob("*/*.parquet"):
                m = CHUNK_NAME.match(f.name)
                if m:
                    best = max(best or -(2**63), int(m["t1"]))
            if best is None:
                return None
            self._marks[station] = best
        return pd.Timestamp(self._marks[station], tz="UTC")

    def typical_spacing(self, station: str, chunks: int = 50) -> float | None:
        """The station's usual time between rows (ns), from its newest ``chunks`` chunk names (no file is
        read), or None if it has fewer than 2 rows stored."""
        found = []
        for f in (self.root / "ts" / station).glob("*/*.parquet"):
            m = CHUNK_NAME.match(f.name)
            if m:
                found.append((int(m["t0"]), int(m["t1"]), int(m["rows"])))
        newest = sorted(found)[-chunks:]
        rows = sum(r for _, _, r in newest)
        if rows < 2:
            return None
        return (newest[-1][1] - newest[0][0]) / (rows - 1)

    # --- append ------------------------------------------------------------------------------------
    def append(self, station: str, times, values: Mapping[str, Iterable[float]]) -> AppendResult:
        """Append rows (``times``: UTC, one per row; ``values``: tag path -> one value per row, NaN = none).

        Rows at or before the station's high-water mark are not stored (counted as duplicates when the
        same timestamp is already stored, as late otherwise). Rows are sorted; repeated timestamps within
        the batch are merged (the last non-NaN value of each tag wins).
        """
        specs = self.tags(station)
        unknown = [p for p in values if p not in specs]
        if unknown:
            raise HistoryError(f"station {station!r}: tag(s) {unknown[:3]} not declared; declare_station() first")
        t = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
        frame = pd.DataFrame({p: np.asarray(v, dtype=float) for p, v in values.items()}, index=t)
        if len(frame) and frame.index.hasnans:
            raise HistoryError(f"station {station!r}: {int(frame.index.isna().sum())} sample(s) without a timestamp")
        if not (frame.index.is_monotonic_increasing and frame.index.is_unique):  # in order, no repeats: as is
            frame = frame.sort_index(kind="stable").groupby(level=0).last()  # last non-NaN per tag per timestamp
        ns = frame.index.as_unit("ns").asi8
        mark = self.high_water_mark(station)
        dup = late = 0
        if mark is not None and len(ns):
            old = ns <= mark.value
            dup = int((ns == mark.value).sum())
            late = int(old.sum()) - dup
            frame, ns = frame[~old], ns[~old]
        if frame.empty:
            return AppendResult(0, 0, dup, late, None)
        file = self._write_chunk(station, specs, frame, ns)
        self._marks[station] = int(ns[-1])
        stored = int(frame.notna().to_numpy().sum())
        return AppendResult(stored, len(frame), dup, late, str(file))

    def _write_chunk(self, station: str, specs: dict[str, TagSpec], frame: pd.DataFrame, ns: np.ndarray) -> Path:
        columns = {"time": pa.array(ns, type=pa.int64())}
        stored = np.empty((len(ns), len(frame.columns)))  # the values as a reader gets them back
        for j, path in enumerate(frame.columns):
            col = frame[path].to_numpy()
            res = specs[path].resolution
            mask = np.isnan(col)
            if res:
                counts = np.rint(np.where(mask, 0.0, col) / res)
                if np.abs(counts).max(initial=0) >= 2**31:
                    raise HistoryError(f"{path}: value too large for resolution {res}")
                columns[path] = pa.array(counts.astype(np.int32), mask=mask)
                stored[:, j] = np.where(mask, np.nan, counts.astype(np.int32) * res)
            else:
                columns[path] = pa.array(col, mask=mask, type=pa.float64())
                stored[:, j] = col
        table = pa.table(columns)
        meta = {"station": station, "resolution": json.dumps({p: specs[p].resolution for p in frame.columns})}
        table = table.replace_schema_metadata({k: v.encode() for k, v in meta.items()})
        day = pd.Timestamp(int(ns[0]), tz="UTC").strftime("%Y-%m-%d")
        folder = self.root / "ts" / station / day
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{int(ns[0])}_{int(ns[-1])}_{len(ns)}_{uuid.uuid4().hex[:8]}.parquet"
        tmp = folder / f".{name}.tmp"
        try:
            with open(tmp, "wb") as fh:
                pq.write_table(table, fh, compression="zstd", compression_level=3,
                               use_dictionary=False, write_statistics=["time"], write_page_checksum=True,
                               column_encoding={"time": "DELTA_BINARY_PACKED"})
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:  # disk full, read-only: leave no half-written file behind; the caller keeps the rows
            tmp.unlink(missing_ok=True)
            raise
        final = folder / name
        os.replace(tmp, final)
        _fsync_dir(folder)
        # its rollup beside it (a crash before this line: readers roll the chunk up from its samples)
        from workbench.history.rollup import rollup, to_frame
        from workbench.history.rollups import rollup_path, write_frame

        write_frame(rollup_path(self.root, station, final), to_frame(rollup(ns, stored, list(frame.columns))))
        return final


__all__ = ["HistoryStore", "TagSpec", "AppendResult", "HistoryError", "CHUNK_NAME"]

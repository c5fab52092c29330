"""Replay a recorded history or a cycler export as a live station, ×N speed.

Formats (``format: auto`` guesses from the file):

* ``novonix``: a Novonix HPC export (``[Summary]``, ``[Protocol]``, then a ``[Data]`` block of quoted CSV
  rows); its columns are renamed to Battery Data Format (BDF) names.
* ``bdf``: CSV with BDF column names (``test_time_second``, ``voltage_volt``, ``current_ampere``, ...); the
  unit is the name's suffix.
* ``csv`` / ``parquet``: recorded history, *wide* (a ``time`` column and one column per tag path or tag
  name) or *long* (``time``, ``path``, ``value`` and optionally ``units``).

Tags find their column by full path, by tag name, or, for cycler data, by quantity (a tag named
``voltage`` reads ``voltage_volt``; ``current`` -> ``current_ampere``; ``temperature`` -> the cell or
ambient temperature). Values are converted from the column's unit to the tag's unit.

Time: the first sample plays at ``connect()``; a sample recorded ``t`` seconds after the first plays
``t / speed`` seconds later, stamped ``anchor + t`` where ``anchor`` is the wall clock at connect
(``anchor: now``) or the recording's own start (``anchor: recorded``). A replay is read-only.

Example
-------
>>> rec = load_recording("../shared/data/formation/novonix_formation_ch01_first_charge.csv")  # doctest: +SKIP
>>> rec.units["voltage_volt"], round(rec.duration_s / 3600, 1)  # doctest: +SKIP
('V', 17.4)
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from workbench.config import ReplayAdapter, Tag
from workbench.units import parse_unit, ureg

from data_adapters.base import BackendError, LocalSubscribers, Quality, Reading, utcnow

log = logging.getLogger(__name__)

NOVONIX_TO_BDF = {
    "Run Time (h)": ("test_time_second", 3600.0),
    "Potential (V)": ("voltage_volt", 1.0),
    "Current (A)": ("current_ampere", 1.0),
    "Capacity (Ah)": ("capacity_ah", 1.0),
    "Temperature (°C)": ("cell_temperature_celsius", 1.0),
    "Circuit Temperature (°C)": ("circuit_temperature_celsius", 1.0),
    "Energy (Wh)": ("energy_wh", 1.0),
    "Cycle Number": ("cycle_count", 1.0),
    "Step Number": ("step_index", 1.0),
    "Step Type": ("step_type", 1.0),
}

# BDF unit suffixes -> pint units
BDF_SUFFIX_UNITS = {"second": "s", "volt": "V", "ampere": "A", "ah": "A*h", "wh": "W*h", "celsius": "degC",
                    "watt": "W", "ohm": "ohm", "kelvin": "K", "count": "dimensionless", "index": "dimensionless",
                    "type": "dimensionless"}

# tag name -> BDF columns to try, in order
QUANTITY_COLUMNS = {
    "voltage": ["voltage_volt"],
    "current": ["current_ampere"],
    "temperature": ["cell_temperature_celsius", "temperature_celsius", "ambient_temperature_celsius"],
    "charge_capacity": ["charging_capacity_ah"],
    "discharge_capacity": ["discharging_capacity_ah"],
    "capacity": ["capacity_ah", "charging_capacity_ah"],
    "energy": ["energy_wh"],
    "cycle": ["cycle_count"],
    "step": ["step_index"],
}


class RecordingError(ValueError):
    """A recording that cannot be replayed; the message names the file and what is wrong."""


@dataclass
class Recording:
    """Samples of one recording: ``t_s`` seconds since the first sample (sorted), columns with units."""

    source: str
    t_s: np.ndarray
    columns: dict[str, np.ndarray]
    units: dict[str, str | None]  # None: not stated in the file (taken as the tag's units)
    start: pd.Timestamp | None = None  # absolute time of the first sample, when the file says

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1]) if len(self.t_s) else 0.0


def _bdf_unit(column: str) -> str:
    suffix = column.rsplit("_", 1)[-1].lower()
    return BDF_SUFFIX_UNITS.get(suffix, "dimensionless")


def _from_frame(df: pd.DataFrame, source: str, time_col: str, *, relative: bool, units: dict[str, str]) -> Recording:
    if time_col not in df:
        raise RecordingError(f"{source}: no time column {time_col!r}; columns are {list(df.columns)[:12]}")
    if relative:
        t = pd.to_numeric(df[time_col], errors="coerce").to_numpy(dtype=float)
        start = None
    else:
        ts = pd.to_datetime(df[time_col], utc=True, errors="coerce")
        if ts.isna().all():
            raise RecordingError(f"{source}: column {time_col!r} holds no readable timestamps")
        start = ts.min()
        t = ((ts - start).dt.total_seconds()).to_numpy(dtype=float)
    keep = np.isfinite(t)
    order = np.argsort(t[keep], kind="stable")
    t = t[keep][order] - (t[keep].min() if relative and keep.any() else 0.0)
    cols = {}
    for c in df.columns:
        if c == time_col:
            continue
        vals = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)[keep][order]
        if np.isfinite(vals).any():
            cols[str(c)] = vals
    if len(t) == 0:
        raise RecordingError(f"{source}: no samples with a readable time")
    return Recording(source, t, cols, {c: units.get(c) for c in cols}, start)


def _read_novonix(path: Path) -> Recording:
    text = path.read_text(encoding="utf-8", errors="replace")
    marker = text.find("[Data]")
    if marker < 0:
        raise RecordingError(f"{path}: not a Novonix export (no [Data] section)")
    rows = [ln.strip().strip('"') for ln in text[marker + len("[Data]"):].splitlines() if ln.strip()]
    df = pd.read_csv(io.StringIO("\n".join(rows)))
    missing = [c for c in ("Run Time (h)", "Potential (V)", "Current (A)") if c not in df]
    if missing:
        raise RecordingError(f"{path}: Novonix [Data] lacks {missing}; columns are {list(df.columns)}")
    renamed = {}
    for col, (bdf, scale) in NOVONIX_TO_BDF.items():
        if col in df:
            renamed[bdf] = pd.to_numeric(df[col], errors="coerce") * scale
    out = pd.DataFrame(renamed)
    rec = _from_frame(out, str(path), "test_time_second", relative=True,
                      units={c: _bdf_unit(c) for c in out.columns})
    if "Date and Time" in df:  # local time of the cycler PC; the file does not say which zone: take as UTC
        first = pd.to_datetime(df["Date and Time"].iloc[0], format="%Y-%m-%d %I:%M:%S %p", errors="coerce")
        rec.start = None if pd.isna(first) else first.tz_localize("UTC")
    return rec


def _read_table(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def load_recording(path: str | Path, format: str = "auto") -> Recording:
    """Load a recording (see the module docstring for formats); raises :class:`RecordingError`."""
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such recording (replay adapter 'path')")
    fmt = format
    if fmt == "auto":
        if path.suffix.lower() in (".parquet", ".pq"):
            fmt = "parquet"
        else:
            head = path.open("r", encoding="utf-8", errors="replace").read(400)
            fmt = "novonix" if "[Summary]" in head or "Novonix" in head else \
                "bdf" if "test_time_second" in head.splitlines()[0] else "csv"
    if fmt == "novonix":
        return _read_novonix(path)
    df = _read_table(path, "parquet" if fmt == "parquet" else "csv")
    if fmt == "bdf" or "test_time_second" in df.columns:
        return _from_frame(df, str(path), "test_time_second", relative=True,
                           units={c: _bdf_unit(c) for c in df.columns})
    if {"time", "path", "value"} <= set(df.columns):  # long history
        units = {}
        if "units" in df:
            units = df.dropna(subset=["units"]).groupby("path")["units"].first().to_dict()
        wide = df.pivot_table(index="time", columns="path", values="value", aggfunc="last").reset_index()
        return _from_frame(wide, str(path), "time", relative=False, units=units)
    return _from_frame(df, str(path), "time", relative=False, units={})


def column_for(tag: Tag, rec: Recording) -> str:
    """The recording column that feeds ``tag`` (path, name, or cycler quantity); clear error if none."""
    for c in (tag.path, tag.short_name, tag.path.rsplit("/", 1)[-1]):
        if c in rec.columns:
            return c
    for c in QUANTITY_COLUMNS.get(tag.path.rsplit("/", 1)[-1], []):
        if c in rec.columns:
            return c
    raise RecordingError(f"{rec.source}: no column for tag {tag.path}; name a column after the tag path or "
                         f"name, or use a cycler quantity ({', '.join(QUANTITY_COLUMNS)}); "
                         f"columns are {sorted(rec.columns)[:12]}")


def _convert(values: np.ndarray, src: str | None, dst: str, where: str) -> np.ndarray:
    if src is None or src == dst:  # a history file without units holds the tag's units
        return values
    parse_unit(dst, where=where)
    if ureg.Unit(src).dimensionality != ureg.Unit(dst).dimensionality:
        raise RecordingError(f"{where}: holds {src!r} but the tag says {dst!r}; these are different quantities")
    return np.asarray(ureg.Quantity(values, src).to(dst).magnitude, dtype=float)


class ReplayBackend(LocalSubscribers):
    """A recording played as a live station (read-only)."""

    def __init__(self, tags: Iterable[Tag], settings: ReplayAdapter, *, tick_s: float = 0.1,
                 max_rows_per_tick: int = 5000):
        self.tags = {t.path: t for t in tags}
        self.settings = settings
        self.speed = settings.speed
        self.tick_s, self.max_rows_per_tick = tick_s, max_rows_per_tick
        self.recording: Recording | None = None
        self._series: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # path -> (t_s of valid samples, values)
        self._t0: float | None = None
        self._anchor = None
        super().__init__()
        self._task: asyncio.Task | None = None
        self._played_to = 0.0

    @property
    def connected(self) -> bool:
        return self._t0 is not None

    async def connect(self) -> None:
        if self.recording is None:
            rec = await asyncio.to_thread(load_recording, self.settings.path, self.settings.format)
            for path, tag in self.tags.items():
                col = column_for(tag, rec)
                t, vals = rec.t_s, rec.columns[col]
                ok = np.isfinite(vals)
                self._series[path] = (t[ok], _convert(vals[ok], rec.units[col], tag.units, f"{rec.source} column {col}"))
            self.recording = rec
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        self._played_to = -1e-9
        recorded = self.settings.anchor == "recorded" and self.recording.start is not None
        self._anchor = self.recording.start.to_pydatetime() if recorded else utcnow()
        if self._task is None:
            self._task = loop.create_task(self._run(), name=f"replay {self.settings.path}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._t0 = None

    def position_s(self) -> float:
        """Seconds into the recording now (wraps when ``loop``; stops at the end otherwise)."""
        if self._t0 is None:
            raise BackendError("replay is not started (connect first)")
        pos = (asyncio.get_running_loop().time() - self._t0) * self.speed
        dur = self.recording.duration_s
        if self.settings.loop and dur > 0:
            return pos % dur
        return min(pos, dur)

    def _reading(self, path: str, i: int) -> Reading:
        t, v = self._series[path]
        tag = self.tags[path]
        if i < 0:
            now = utcnow()
            return Reading(path, math.nan, tag.units, now, Quality.BAD, now)
        return Reading(path, float(v[i]), tag.units, self._anchor + timedelta(seconds=float(t[i])),
                       Quality.GOOD, utcnow())

    async def read(self, paths: list[str]) -> dict[str, Reading]:
        pos = self.position_s()
        return {p: self._reading(p, int(np.searchsorted(self._series[p][0], pos, "right")) - 1) for p in paths}

    async def write(self, path: str, value: float) -> None:
        raise BackendError(f"replay of {self.settings.path} is read-only: a recorded station takes no setpoints")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            pos = self.position_s()
            lo = self._played_to
            if pos < lo:  # looped: play the tail, then from the start
                await self._play(lo, self.recording.duration_s + 1e-9)
                lo = -1e-9
            await self._play(lo, pos)
            self._played_to = pos

    async def _play(self, lo: float, hi: float) -> None:
        """Deliver every sample with lo < t <= hi, in time order, to each subscriber (bounded per tick)."""
        for _, paths, callback in self.subscribers():
            batch = []
            for p in paths:
                t, _ = self._series[p]
                a, b = np.searchsorted(t, lo, "right"), np.searchsorted(t, hi, "right")
                batch += [(t[i], p, i) for i in range(a, min(b, a + self.max_rows_per_tick))]
            batch.sort(key=lambda x: x[0])
            for _, p, i in batch:
                await callback(self._reading(p, i))


def replay_adapter(tags: Iterable[Tag], settings: ReplayAdapter, *, audit=None, name: str = "replay", **kw):
    """An :class:`data_adapters.base.Adapter` over a :class:`ReplayBackend`."""
    from data_adapters.base import Adapter

    tags = list(tags)
    return Adapter(tags, ReplayBackend(tags, settings, **kw), audit=audit, name=name)


__all__ = ["ReplayBackend", "replay_adapter", "load_recording", "Recording", "RecordingError", "column_for"]

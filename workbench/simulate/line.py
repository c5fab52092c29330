"""The virtual line: four stations, their setpoints, the injected events and the batch history.

>>> from workbench.simulate import virtual_line
>>> vl = virtual_line(seed=0)
>>> h = vl.history(hours=1)
>>> h.coating.sizes["lane"], sorted(set(h.truth.kind) & set(EVENT_KINDS))[:2]
(24, ['dewpoint_excursion', 'pump_wear'])
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from workbench.config import LineConfig, default_config_path, load_line_config

from . import datasets, events as ev, genealogy, instruments as inst, rng
from .coating import Coater, CoaterParams
from .dryroom import DryRoom, DryRoomParams
from .dynamics import Lag, SetpointSchedule
from .events import KINDS as EVENT_KINDS
from .tagmap import SETPOINTS, Signal, signals
from .welding import Welder, WelderParams

DEFAULT_START = "2026-01-05T06:00:00"
LAGS = {  # setpoint -> process value: dead time and first-order time constant (s)
    "pump": Lag(dead_time_s=3.0, tau_s=10.0),        # gear pump + line volume
    "speed": Lag(dead_time_s=2.0, tau_s=20.0),       # web drive ramp
    "power": Lag(dead_time_s=0.2, tau_s=1.0),        # laser source
    "setpoint": Lag(dead_time_s=60.0, tau_s=600.0),  # desiccant rotor + room volume
}


ENSURE_LOOKBACK_S = 86400.0  # every sampler ensures events from one day before its window (see ensure)


class EventBook:
    """The events of a line: a fixed list, or the default scenario generated day by day (cached)."""

    def __init__(self, line: "VirtualLine", spec):
        self.line = line
        self.default = isinstance(spec, str) and spec == "default"
        if isinstance(spec, str) and not self.default:
            raise ev.EventError(f"events={spec!r}: use 'default', None, or a list of events")
        self._days: set[int] = set()
        self.version = 0  # bumped whenever days are generated: live memos of samples drop on a change
        self._events: list[ev.Event] = [] if self.default else [e.resolved(line.epoch) for e in ev.events_from(spec)]
        for e in self._events:
            self._check(e)

    def _check(self, e: ev.Event):
        n_lanes = self.line.coater.p.n_lanes
        if e.lane is not None and not 1 <= e.lane <= n_lanes:
            raise ev.EventError(f"{e.kind}: lane {e.lane} is not in 1..{n_lanes}")
        sensors = self.line.dryroom.p.sensors
        if e.sensor is not None and e.sensor not in sensors:
            raise ev.EventError(f"{e.kind}: sensor {e.sensor!r} is not one of {list(sensors)}")

    def ensure(self, t0_s: float, t1_s: float) -> None:
        """Generate the default events of every day that can affect [t0, t1).

        Every sampler (history, tag_samples, live reads) calls this with the same reach
        (:data:`ENSURE_LOOKBACK_S` before its window) before it evaluates a station, so the events a
        sample sees never depend on which sampler ran first on this line.
        """
        if not self.default:
            return
        first = int(np.floor(t0_s / ev.DAY_S)) - ev.LOOKBACK_DAYS  # multi-day events start earlier
        for day in range(first, int(np.floor(t1_s / ev.DAY_S)) + 1):
            if day in self._days:
                continue
            self._days.add(day)
            self.version += 1
            for d in ev.default_day(day, uniform_at=self.line.uniform_at, lot_boundary=self.line.coater.lot_boundary,
                                    n_lanes=self.line.coater.p.n_lanes, n_racks=self.line.live_racks,
                                    n_channels=self.line.flow.n_channels):
                start_s, end_s = d.pop("start_s"), d.pop("end_s")
                e = ev.Event(**d, start=pd.Timedelta(seconds=float(start_s)), end=pd.Timedelta(seconds=float(end_s)))
                self._events.append(e.resolved(self.line.epoch))
        self._events.sort(key=lambda e: (e.start_s, e.kind))

    def __call__(self, kind: str, t_s=None) -> list[ev.Event]:
        """The events of ``kind`` that can act at times ``t_s`` (s since epoch; generated here if needed).

        Stations pass the times they evaluate, so the answer is complete whatever was generated before
        (without ``t_s``: only the events generated so far)."""
        if t_s is not None and self.default:
            t = np.asarray(t_s, dtype=np.float64)
            if t.size and np.isfinite(t).any():
                self.ensure(float(np.nanmin(t)), float(np.nanmax(t)) + 1.0)
        return [e for e in self._events if e.kind == kind]

    def overlapping(self, t0_s: float, t1_s: float) -> list[ev.Event]:
        self.ensure(t0_s, t1_s)
        return [e for e in self._events if e.start_s < t1_s and e.end_s > t0_s]


@dataclass
class History:
    """A batch history of the virtual line over [start, end) (tz-naive UTC)."""

    start: pd.Timestamp
    end: pd.Timestamp
    coating: xr.Dataset
    dryroom: xr.Dataset
    welding: xr.Dataset
    genealogy: genealogy.Genealogy
    truth: pd.DataFrame
    formation: xr.Dataset | None = None
    line: "VirtualLine | None" = field(default=None, repr=False)

    def tag_samples(self, *, start=None, end=None, hours: float | None = None, paths=None) -> dict:
        """Every sample each tag delivers, by default over this history's window; see
        :meth:`VirtualLine.tag_samples` (the one implementation).

        >>> h = virtual_line(seed=0).history(hours=2)
        >>> len(h.tag_samples(start="1h", hours=0.25, paths=["plant1/assembly/weld1/welder/weld_resistance"])[
        ...     "plant1/assembly/weld1/welder/weld_resistance"][0])   # a weld every 20 s
        45
        """
        if self.line is None:
            raise ValueError("this History has no line attached; call VirtualLine.tag_samples instead")
        if start is None and end is None and hours is None:
            start, end = self.start, self.end
        return self.line.tag_samples(start=self.start if start is None else start, end=end, hours=hours,
                                     paths=paths)

    def formation_curves(self, cell_ids) -> dict:
        """Formation curves {cell_id: Dataset (dim sample)} of cells of this history (a few at a time).

        >>> h = virtual_line(seed=0).history(hours=1)
        >>> cid = h.genealogy.cells.cell_id.iloc[0]
        >>> sorted(h.formation_curves([cid])[cid].data_vars)[:3]
        ['capacity', 'current', 'cycle']
        """
        return datasets.formation_curves(self, [cell_ids] if isinstance(cell_ids, str) else list(cell_ids))

    def __repr__(self) -> str:
        f = "None" if self.formation is None else f"{self.formation.sizes.get('cell', 0)} cells"
        return (f"History({self.start} .. {self.end}: coating {dict(self.coating.sizes)}, dryroom "
                f"{dict(self.dryroom.sizes)}, welding {dict(self.welding.sizes)}, formation {f}, "
                f"{len(self.genealogy.cells)} cells in genealogy, {len(self.truth)} events)")


class VirtualLine:
    """A deterministic, causal virtual cell line. Build with :func:`virtual_line`."""

    def __init__(self, seed: int = 0, *, start=DEFAULT_START, events="default",
                 config: LineConfig | str | Path | None = None, instruments="default"):
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"virtual_line: seed must be an int, got {type(seed).__name__}")
        self.seed = int(seed)
        self.config = config if isinstance(config, LineConfig) else load_line_config(config or default_config_path())
        self.epoch = np.datetime64(ev.to_timestamp(start, np.datetime64("1970-01-01", "ns")).asm8, "ns")
        self.signals: dict[str, Signal] = signals(self.config)
        self.flow = genealogy.FlowParams()
        if isinstance(instruments, str) and instruments == "default":
            instruments = inst.InstrumentParams()
        elif instruments is None:
            instruments = inst.CLEAN
        elif not isinstance(instruments, inst.InstrumentParams):
            raise TypeError(f"virtual_line: instruments must be 'default', None or InstrumentParams, got {instruments!r}")
        self.instruments = inst.Instruments(self.seed, instruments)
        cp = CoaterParams(gauge_sigma=instruments.gauge_noise[0], gauge_phi=instruments.gauge_noise[1])
        wp = WelderParams()
        dp = replace(self._dryroom_params(), sensor_phi=instruments.hygrometer_phi)
        self.schedules = {
            "pump": SetpointSchedule(cp.pump_rate_g_min, LAGS["pump"]),
            "speed": SetpointSchedule(cp.line_speed_m_min, LAGS["speed"]),
            "power": SetpointSchedule(wp.laser_power_w, LAGS["power"]),
            "setpoint": SetpointSchedule(dp.supply_setpoint_c, LAGS["setpoint"]),
        }
        book = self._events_of  # stations ask the book, built below
        self.coater = Coater(self.seed, cp, self.schedules["pump"], self.schedules["speed"], book,
                             resolution=self._resolutions("coating"))
        self.dryroom = DryRoom(self.seed, dp, self.schedules["setpoint"], book,
                               resolution=tuple(self._resolution("dryroom", None, 0.1, sensor=s) for s in dp.sensors))
        self.welder = Welder(self.seed, wp, self.schedules["power"], book,
                             resolution=self._resolutions("welding"))
        self.events = EventBook(self, events)
        self.write_count = 0  # live clocks drop their cached samples when this changes
        self._wires: dict[str, inst.Wire] = {}
        tags = self.config.tags
        self.tag_resolution = {p: tags[p].resolution for p in self.signals}  # the live clock asks on every read

    def _events_of(self, kind: str, t_s=None) -> list:
        return self.events(kind, t_s)

    # --- config helpers ------------------------------------------------------------------------------
    def _dryroom_params(self) -> DryRoomParams:
        sig = [s for s in self.signals.values() if s.station == "dryroom" and s.sensor]
        if not sig:
            return DryRoomParams()
        base = DryRoomParams()
        n = len(sig)
        cyc = lambda t: tuple(t[i % len(t)] for i in range(n))  # noqa: E731
        return replace(base, sensors=tuple(s.sensor for s in sig), reports=tuple(s.variable for s in sig),
                       location_offset_k=cyc(base.location_offset_k),
                       sensor_sigma_k=tuple(0.25 if s.variable == "dew_point" else 0.12 for s in sig))

    def _resolutions(self, station) -> dict:
        """{variable: resolution} for the station's tags that state one in the config."""
        out = {}
        for path, s in self.signals.items():
            res = self.config.tag(path).resolution
            if s.station == station and res and s.variable not in out:
                out[s.variable] = res
        return out

    def _resolution(self, station, variable, default, sensor=None) -> float | None:
        for path, s in self.signals.items():
            if s.station == station and (variable is None or s.variable == variable) and (
                    sensor is None or s.sensor == sensor):
                return self.config.tag(path).resolution or default
        return default

    @property
    def live_racks(self) -> int:
        """Number of formation racks with live tags (racks 1..n); the weak channel is among them."""
        racks = [s.rack for s in self.signals.values() if s.station == "formation"]
        return max(racks) if racks else self.flow.n_racks

    def uniform_at(self, name: str, i) -> np.ndarray:
        """Seeded uniforms for line-level choices (event jitter, lane order of the cells)."""
        return rng.uniform(rng.stream_key(self.seed, "line", name), i)

    def seconds(self, when) -> float:
        """Seconds since the line's start for a Timestamp, ISO string or offset ("2h")."""
        return float((np.datetime64(ev.to_timestamp(when, self.epoch).asm8, "ns") - self.epoch)
                     / np.timedelta64(1, "s"))

    def time(self, seconds) -> np.ndarray:
        """datetime64[ns] (UTC) for seconds since the line's start."""
        return self.epoch + np.round(np.asarray(seconds, dtype=np.float64) * 1e9).astype("timedelta64[ns]")

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.epoch)

    # --- setpoints -----------------------------------------------------------------------------------
    def write(self, path: str, value: float, *, at) -> float:
        """Schedule a setpoint write at time ``at``; returns the value applied (clamped to the config's
        min/max, in the tag's units). Raises KeyError for an unknown or read-only tag.

        Intended shared state: the write goes into this line's setpoint schedule, which every history,
        ``tag_samples`` call and live clock of this line reads (``live.write`` lands here too), so all of
        them agree after it. Build a separate ``virtual_line(...)`` for an untouched line.

        >>> vl = virtual_line(seed=0, events=None)
        >>> vl.write("plant1/electrode/coat1/coater/pump_rate_setpoint", 3600.0, at="1h")  # max 3400 g/min
        3400.0
        """
        sig = self.signals.get(path)
        if sig is None:
            raise KeyError(f"no tag {path!r} on the virtual line; see live.tags()")
        tag = self.config.tag(path)
        name = path.rsplit("/", 1)[-1]
        if not tag.writable or name not in SETPOINTS:
            writable = sorted(self.config.writable_tags())
            raise KeyError(f"tag {path!r} is not a writable setpoint; writable: {writable}")
        if not np.isfinite(float(value)):
            raise ValueError(f"write {path}: value must be a finite number, got {value!r}")
        applied = float(np.clip(float(value), tag.setpoint.min, tag.setpoint.max))
        self.write_count += 1
        return self.schedules[SETPOINTS[name][1]].write(self.seconds(at), applied)

    # --- batch history -------------------------------------------------------------------------------
    def history(self, hours: float | None = None, *, start=None, end=None) -> History:
        """Batch history over [start, end) (default start: the line start; give ``hours`` or ``end``).

        >>> h = virtual_line(seed=1, events=None).history(hours=0.5)
        >>> h.coating.areal_mass.attrs["units"], h.dryroom.sizes["sensor"]
        ('mg/cm^2', 4)
        """
        t0 = self.seconds(start) if start is not None else 0.0
        if end is not None:
            t1 = self.seconds(end)
        elif hours is not None:
            t1 = t0 + float(hours) * 3600.0
        else:
            raise ValueError("history: give hours=... or end=...")
        if not t1 > t0:
            raise ValueError(f"history: end must be after start (got {t1 - t0:.0f} s)")
        self.events.ensure(t0 - ENSURE_LOOKBACK_S, t1)
        gen = genealogy.build(self, t0, t1)
        truth = self.truth(t0, t1)
        return History(
            start=pd.Timestamp(self.time(t0)), end=pd.Timestamp(self.time(t1)),
            coating=datasets.coating(self, t0, t1), dryroom=datasets.dryroom(self, t0, t1),
            welding=datasets.welding(self, t0, t1), genealogy=gen, truth=truth,
            formation=datasets.formation(self, gen, truth), line=self,
        )

    def truth(self, t0_s: float, t1_s: float, *, instruments: bool = True) -> pd.DataFrame:
        """Truth table of the events overlapping [t0, t1) (seconds since start; see :mod:`.events`) and,
        with ``instruments``, of the instrument faults (ageing, bad values, drop-outs; :mod:`.instruments`)."""
        extra = inst.truth_rows(self, t0_s, t1_s) if instruments else []
        return datasets.truth_table(self, self.events.overlapping(t0_s, t1_s), extra)

    # --- the wire between instruments and the historian ----------------------------------------------
    def wire(self, sig: Signal) -> inst.Wire:
        """How ``sig``'s tag reaches the historian (see :mod:`.instruments`)."""
        w = self._wires.get(sig.path)
        if w is None:
            from .formation_live import SAMPLE_S

            w = self._wires[sig.path] = inst.wire_of(
                sig, dryroom_period_s=self.dryroom.p.sample_period_s, formation_period_s=SAMPLE_S,
                scan_s=self.coater.p.scan_period_s, weld_s=self.welder.p.weld_period_s)
        return w

    def sample_grid(self, w: inst.Wire, t0_s: float, t1_s: float):
        """(sample indices of ``w``'s tag in [t0, t1), index -> time in s) on its own grid."""
        if w.grid == "scan":
            return self.coater.scans_between(t0_s, t1_s), lambda k: self.coater.scan_time(k).astype(float)
        if w.grid == "weld":
            return self.welder.welds_between(t0_s, t1_s), lambda i: self.welder.weld_time(i).astype(float)
        p = w.period_s
        k = np.arange(int(np.ceil(t0_s / p)), int(np.ceil(t1_s / p)), dtype=np.int64)
        return k, lambda i: np.asarray(i, dtype=np.float64) * p

    def carry(self, path: str, k, t_s, values, convert=None, internal: str | None = None) -> np.ndarray:
        """What the historian receives of tag ``path`` for samples ``k`` at ``t_s`` (internal units in; the
        tag's units out via ``convert``, quantised to its resolution, with bad-value codes and NaN while its
        link is down). ``internal``: stay in these internal units (quantised only if they are the tag's)."""
        res = self.tag_resolution[path] if internal is None or internal == self.config.tag(path).units else None
        return self.instruments.carry(self.wire(self.signals[path]), k, t_s, values, resolution=res, convert=convert)

    def carry_one(self, path: str, k: int, t_s: float, value: float, convert=None) -> float:
        """:meth:`carry` of one sample in the tag's units (the live clock's reads)."""
        return self.instruments.carry_one(self.wire(self.signals[path]), k, t_s, value,
                                          resolution=self.tag_resolution[path], convert=convert)

    def tag_samples(self, *, start=None, end=None, hours: float | None = None, paths=None) -> dict:
        """Every sample each tag delivers in [start, end): {path: (times, values)}, equal to live reads.

        See :mod:`workbench.simulate.samples` (for filling a history store without running the clock).

        >>> s = virtual_line(seed=0).tag_samples(start="1h", hours=0.25,
        ...                                       paths=["plant1/assembly/weld1/welder/weld_resistance"])
        >>> len(s["plant1/assembly/weld1/welder/weld_resistance"][0])   # a weld every 20 s
        45
        """
        from .samples import tag_samples

        t0 = self.seconds(start) if start is not None else 0.0
        t1 = self.seconds(end) if end is not None else t0 + float(hours if hours is not None else np.nan) * 3600.0
        if not t1 > t0:
            raise ValueError("tag_samples: give end=... (after start) or hours=...")
        return tag_samples(self, t0, t1, paths)

    def live(self, speed: float = 1.0, *, start=None):
        """A live clock over this line (see :class:`workbench.simulate.live.LiveLine`)."""
        from .live import LiveLine
        return LiveLine(self, speed=speed, start=start)

    def tags(self) -> list[str]:
        """Every tag path of the line (config order).

        >>> virtual_line().tags()[0]
        'plant1/electrode/coat1/gauge/areal_mass_lane01'
        """
        return list(self.signals)


def virtual_line(seed: int = 0, *, start=DEFAULT_START, events="default", config=None,
                 instruments="default") -> VirtualLine:
    """The virtual cell line: coating, dry room, tab welding, formation, with injected events.

    ``seed``: all noise and event jitter; ``start``: the line's start (tz-naive UTC or aware, default
    2026-01-05 06:00); ``events``: "default" (one set per day), None (no events), or a list of
    :class:`~workbench.simulate.events.Event` / dicts (times absolute or offsets like "3h");
    ``config``: a LineConfig or YAML path (default: the shipped virtual line); ``instruments``: "default"
    (ageing, bad-value codes and link drop-outs as a real line has them), None (none of them), or
    :class:`~workbench.simulate.instruments.InstrumentParams` (see :mod:`.instruments`).

    >>> vl = virtual_line(seed=0, events=None, instruments=None)
    >>> len(vl.history(hours=1).truth)
    0
    """
    return VirtualLine(seed, start=start, events=events, config=config, instruments=instruments)

"""Injected process events and their truth table.

An :class:`Event` is a known disturbance the simulator adds on top of normal operation; the truth
table (``History.truth``) lists every event that overlaps the history window so detectors can be
scored against it. Kinds, station, units of ``magnitude`` and the effect:

==========================  =========  ==============  =====================================================
kind                        station    magnitude unit  effect
==========================  =========  ==============  =====================================================
pump_wear                   coating    percent         delivered slurry flow ramps linearly to +magnitude %
                                                       (negative = loss) over [start, end); pump serviced at end
slurry_lot_step             coating    dimensionless   solids mass fraction of the slurry shifted by magnitude
                                                       in [start, end) (the default one spans one lot exactly)
die_lip_streak              coating    percent         one ``lane`` gets magnitude % (negative = light), its two
                                                       neighbours get -magnitude/2 % each (mass is conserved)
gauge_drift                 coating    mg/cm^2         gauge reading offset ramps to magnitude over [start, end);
                                                       recalibrated at end (measurement only, not the product)
dewpoint_excursion          dryroom    K               room frost point rises towards +magnitude (τ 5 min) in
                                                       [start, end), then decays (τ 10 min); all sensors, or
                                                       only ``sensor``'s zone (a local leak) if given
laser_window_contamination  welding    percent         transmission of the protective window ramps to
                                                       magnitude % over [start, end); window cleaned at end
weak_formation_channel      formation  percent         one ``rack``/``channel``: effect defined by formation.py
==========================  =========  ==============  =====================================================

``start``/``end`` are when the cause acts (at the die for coating causes). The truth table adds
``observed_start``/``observed_end``: when the signature appears in the target signal (e.g. the
gauge sees die-time effects one transport delay later; an excursion decays after ``end``).
All times are tz-naive UTC.

Example
-------
>>> e = Event("die_lip_streak", start="3h", end="5h", magnitude=-3.0, lane=7)
>>> e.station, e.units
('coating', 'percent')
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

KINDS: dict[str, tuple[str, str]] = {
    "pump_wear": ("coating", "percent"),
    "slurry_lot_step": ("coating", "dimensionless"),
    "die_lip_streak": ("coating", "percent"),
    "gauge_drift": ("coating", "mg/cm^2"),
    "dewpoint_excursion": ("dryroom", "K"),
    "laser_window_contamination": ("welding", "percent"),
    "weak_formation_channel": ("formation", "percent"),
}
EXCURSION_RISE_S = 300.0
EXCURSION_DECAY_S = 600.0
EXCURSION_TAIL = 0.002  # the decay is cut at 0.2 % of its start: the event has a finite footprint


class EventError(ValueError):
    """An injected event that cannot be used (unknown kind, missing lane, end before start...)."""


@dataclass(frozen=True)
class Event:
    """One injected event. ``start``/``end``: Timestamps (UTC) or offsets from the line start ("3h").

    ``lane`` is required for die_lip_streak, ``rack`` and ``channel`` for weak_formation_channel;
    ``sensor`` makes a dew-point excursion local to that sensor's zone. ``magnitude`` in :attr:`units`.

    >>> Event("dewpoint_excursion", start="1h", end="90min", magnitude=8.0, sensor="s3").units
    'K'
    """

    kind: str
    start: object
    end: object
    magnitude: float
    lane: int | None = None
    sensor: str | None = None
    rack: int | None = None
    channel: int | None = None
    description: str = ""
    start_s: float = field(default=np.nan, compare=False)
    end_s: float = field(default=np.nan, compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise EventError(f"unknown event kind {self.kind!r}; use one of {sorted(KINDS)}")
        if self.kind == "die_lip_streak" and self.lane is None:
            raise EventError("die_lip_streak needs lane=<1..n_lanes>")
        if self.kind == "weak_formation_channel" and (self.rack is None or self.channel is None):
            raise EventError("weak_formation_channel needs rack=<int> and channel=<int>")
        if not np.isfinite(float(self.magnitude)):
            raise EventError(f"{self.kind}: magnitude must be a finite number, got {self.magnitude!r}")

    @property
    def station(self) -> str:
        return KINDS[self.kind][0]

    @property
    def units(self) -> str:
        return KINDS[self.kind][1]

    def resolved(self, epoch: np.datetime64) -> "Event":
        """A copy with absolute naive-UTC Timestamps and ``start_s``/``end_s`` seconds since ``epoch``."""
        start, end = to_timestamp(self.start, epoch), to_timestamp(self.end, epoch)
        if end <= start:
            raise EventError(f"{self.kind}: end {end} is not after start {start}")
        sec = lambda ts: (np.datetime64(ts.asm8, "ns") - epoch) / np.timedelta64(1, "s")  # noqa: E731
        return replace(self, start=start, end=end, start_s=float(sec(start)), end_s=float(sec(end)))

    # --- time profile of the effect, a pure function of time (seconds since epoch) ----------------
    def ramp(self, t_s) -> np.ndarray:
        """0 before start, rising linearly to 1 at end, 0 again after end (reset)."""
        t = np.asarray(t_s, dtype=np.float64)
        inside = (t >= self.start_s) & (t < self.end_s)
        return np.where(inside, (t - self.start_s) / (self.end_s - self.start_s), 0.0)

    def window(self, t_s) -> np.ndarray:
        """1 in [start, end), else 0."""
        t = np.asarray(t_s, dtype=np.float64)
        return ((t >= self.start_s) & (t < self.end_s)).astype(np.float64)

    def excursion(self, t_s) -> np.ndarray:
        """Rise 1 − exp(−(t−start)/τr) inside the window, exponential decay after ``end`` (cut to 0 once
        below ``EXCURSION_TAIL`` of its start, see :meth:`footprint_end_s`)."""
        t = np.asarray(t_s, dtype=np.float64)
        rise = -np.expm1(-np.clip(t - self.start_s, 0, None) / EXCURSION_RISE_S)
        at_end = -np.expm1(-(self.end_s - self.start_s) / EXCURSION_RISE_S)
        decay = at_end * np.exp(-np.clip(t - self.end_s, 0, None) / EXCURSION_DECAY_S)
        decay = np.where(t < self.footprint_end_s, decay, 0.0)
        return np.where(t < self.start_s, 0.0, np.where(t < self.end_s, rise, decay))

    @property
    def footprint_end_s(self) -> float:
        """When an excursion's decay is cut to zero (s since epoch): end + τd·ln(1/tail)."""
        return self.end_s + EXCURSION_DECAY_S * np.log(1 / EXCURSION_TAIL)


def to_timestamp(value, epoch: np.datetime64) -> pd.Timestamp:
    """A naive-UTC Timestamp from a Timestamp/datetime/ISO string, or an offset ("3h", Timedelta) from ``epoch``."""
    if isinstance(value, (pd.Timedelta, np.timedelta64)) or (
        isinstance(value, str) and not any(c in value.lstrip().lstrip("-") for c in "-:T")
    ):
        return pd.Timestamp(epoch) + pd.Timedelta(value)
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.as_unit("ns")


def events_from(spec) -> list[Event]:
    """Events from a list of :class:`Event` / dicts, or a DataFrame with the same columns."""
    if spec is None:
        return []
    if isinstance(spec, pd.DataFrame):
        spec = spec.to_dict("records")
    out = []
    for i, item in enumerate(spec):
        if isinstance(item, Event):
            out.append(item)
        elif isinstance(item, dict):
            keep = {k: v for k, v in item.items()
                    if k in Event.__dataclass_fields__ and k not in ("start_s", "end_s") and not _isna(v)}
            try:
                out.append(Event(**keep))
            except TypeError as exc:
                raise EventError(f"events[{i}]: {exc}; give kind, start, end, magnitude") from None
        else:
            raise EventError(f"events[{i}]: expected an Event or dict, got {type(item).__name__}")
    return out


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


# --- the default scenario: one set of events per day, jittered by the seed ---------------------------
DAY_S = 86400.0


def default_day(day: int, *, uniform_at, lot_boundary, n_lanes: int, n_racks: int, n_channels: int) -> list[dict]:
    # n_racks: the racks with live tags, so the weak channel shows in live data too
    """The default events of ``day`` (0 = the line's first day), in seconds since epoch.

    Layout (hours into the day, ±10 min jitter) so that an 8-hour history shows every kind once:
    pump wear 0.5–7.8 h, dew-point excursion 1.0–2.0 h, laser window 1.5–6.5 h, slurry-lot step on the
    lot that begins after 2 h, die-lip streak 2.8–6.8 h, gauge drift 5.5–7.5 h; every 7th day a weak formation
    channel (rack 1–4) that lasts the week.
    ``uniform_at(name, i)`` gives seeded uniforms; ``lot_boundary(k)`` the start (s) of lot k.
    """
    base = day * DAY_S

    def jit(name, hours):
        return base + hours * 3600.0 + float(np.round((uniform_at(name, day) - 0.5) * 1200.0))

    first_lot = int(np.floor((base + 2.0 * 3600.0) / LOT_PERIOD_GUESS_S)) + 1
    lot_start, lot_end = lot_boundary(first_lot), lot_boundary(first_lot + 1)
    lane = 3 + int(uniform_at("streak_lane", day) * (n_lanes - 4))  # never an edge lane
    rack = 1 + int(uniform_at("weak_rack", 0) * n_racks)  # a hardware fault: the same channel every day
    channel = 1 + int(uniform_at("weak_channel", 0) * n_channels)
    return [
        dict(kind="pump_wear", start_s=jit("wear0", 0.5), end_s=jit("wear1", 7.8),
             magnitude=-1.5, description="gear pump wear: delivered flow falls, serviced at end"),
        dict(kind="dewpoint_excursion", start_s=jit("dew0", 1.0), end_s=jit("dew1", 2.0),
             magnitude=12.0, description="desiccant wheel regeneration heater trip"),
        dict(kind="laser_window_contamination", start_s=jit("win0", 1.5), end_s=jit("win1", 6.5),
             magnitude=-10.0, description="spatter on the protective window, cleaned at end"),
        dict(kind="slurry_lot_step", start_s=lot_start, end_s=lot_end, magnitude=-0.010,
             description="slurry lot mixed light on solids"),
        dict(kind="die_lip_streak", start_s=jit("streak0", 2.8), end_s=jit("streak1", 6.8),
             magnitude=-3.0, lane=lane, description="die-lip build-up starves one lane"),
        dict(kind="gauge_drift", start_s=jit("gauge0", 5.5), end_s=jit("gauge1", 7.5),
             magnitude=0.15, description="beta-gauge source/detector drift, recalibrated at end"),
    ] + ([dict(kind="weak_formation_channel", start_s=base, end_s=base + WEAK_CHANNEL_DAYS * DAY_S,
               magnitude=-3.0, rack=rack, channel=channel,
               description="channel with a bad contact / current calibration, found at weekly maintenance")]
         if day % WEAK_CHANNEL_DAYS == 0 else [])


LOT_PERIOD_GUESS_S = 9000.0
WEAK_CHANNEL_DAYS = 7  # a channel loads one cell per ≈22.8 h: a week gives 7 cells to compare with its rack
LOOKBACK_DAYS = WEAK_CHANNEL_DAYS  # the coater's nominal lot period; only used to pick which lot steps

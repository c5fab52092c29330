"""What the wire carries: instrument ageing, PLC bad-value codes and communication drop-outs.

The stations (:mod:`.coating`, :mod:`.dryroom`, :mod:`.welding`, :mod:`.formation`) compute what each
instrument measures: the process plus the instrument's own AR(1) noise (not white), quantised to its
resolution. Between the instrument and the historian a real line adds three more things, and so does
this module, for every tag the line serves (live reads, ``tag_samples``, the batch history):

- **ageing**: every instrument drifts from its last calibration at its own rate (sign and size drawn per
  instrument around :attr:`InstrumentParams.ageing_per_day`; calibrated up to ``calibrated_within_days``
  before the line's start); the reading is quantised again to the tag's ``resolution`` after the offset;
- **bad values**: now and then the PLC writes a bad-value code (:data:`workbench.badvalues.PLC_BAD_VALUES`)
  instead of the reading, for a burst of one sample up to ``bad_value_max_s``;
- **communication drop-outs**: the link to a station's PLC (formation: each rack's cycler) drops for
  seconds to minutes; the samples of that time are missing (NaN; live: quality disconnected), never filled.

Everything is a pure function of (seed, tag, sample index or time), so batch and live agree, and each
fault is a row of the truth table (kinds :data:`KINDS`): :func:`truth_rows`.

>>> from workbench.simulate import virtual_line
>>> vl = virtual_line(seed=0, instruments=InstrumentParams(dropouts_per_day=48.0))
>>> t = vl.truth(0.0, 7200.0)
>>> sorted(set(t.kind) & set(KINDS))
['bad_value', 'comm_dropout', 'sensor_ageing']
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from workbench.badvalues import PLC_BAD_VALUES

from . import rng

DAY_S = 86400.0
KINDS = ("sensor_ageing", "bad_value", "comm_dropout")
AGEING_PER_DAY = {  # typical drift per day from the last calibration, in the tag's internal units
    "gauge": 0.002,          # mg/cm², what the beta gauge's self-standardising leaves (every lane alike)
    "chilled_mirror": 0.02,  # K, mirror contamination
    "capacitive": 0.05,      # K, polymer sensor at -45 °C drifts more
    "thermometer": 0.01,     # K, room air temperature
    "weld_probe": 0.05,      # µΩ, four-wire probe tips wear
    "cell_probe": 0.02,      # K, formation channel thermocouple
}
DROPOUT_BUCKET_S = 3600.0


@dataclass(frozen=True)
class InstrumentParams:
    """How nasty the line's signals are (``virtual_line(instruments=...)``; ``None``: no ageing, bad values
    or drop-outs, the stations' noise only)."""

    gauge_noise: tuple = (0.045, 0.6)       # beta gauge: noise sd (mg/cm²) and lag-1 correlation scan to scan
    hygrometer_phi: float = 0.7             # lag-1 correlation of the hygrometers' noise (10 s samples)
    ageing_per_day: dict = field(default_factory=lambda: dict(AGEING_PER_DAY))
    calibrated_within_days: float = 14.0    # each instrument's last calibration: up to this long before the start
    bad_values_per_day: float = 0.25        # bursts of bad-value codes per measured tag per day
    bad_value_max_s: float = 60.0           # a burst is one sample up to this long
    bad_value_codes: tuple = PLC_BAD_VALUES
    dropouts_per_day: float = 1.0           # communication drop-outs per station link per day
    dropout_s: tuple = (2.0, 300.0)         # their length: log-uniform, seconds to minutes

    def __post_init__(self):
        sd, phi = self.gauge_noise
        if not (sd >= 0 and 0 <= phi < 1 and 0 <= self.hygrometer_phi < 1):
            raise ValueError(f"instruments: noise sd must be >= 0 and lag-1 correlations in [0, 1), got "
                             f"gauge_noise={self.gauge_noise}, hygrometer_phi={self.hygrometer_phi}")
        lo, hi = self.dropout_s
        if not 0 < lo <= hi < DROPOUT_BUCKET_S:
            raise ValueError(f"instruments: dropout_s must be 0 < min <= max < {DROPOUT_BUCKET_S:.0f} s, "
                             f"got {self.dropout_s}")
        if self.bad_values_per_day < 0 or self.dropouts_per_day < 0 or self.bad_value_max_s <= 0:
            raise ValueError("instruments: rates must be >= 0 and bad_value_max_s > 0")
        if not self.bad_value_codes:
            raise ValueError("instruments: give at least one bad-value code")


CLEAN = InstrumentParams(ageing_per_day={}, bad_values_per_day=0.0, dropouts_per_day=0.0)


@dataclass(frozen=True)
class Wire:
    """How one tag reaches the historian: its stream, link, sample grid, ageing instrument, bad values."""

    tag: str
    link: str
    grid: str              # "scan" (gauge), "weld" (one per weld) or "periodic"
    period_s: float
    ageing: tuple | None   # (family, unit) of the instrument, None for setpoints and lab values
    bad: bool


def wire_of(sig, *, dryroom_period_s: float, formation_period_s: float, scan_s: float, weld_s: float) -> Wire:
    """The :class:`Wire` of a :class:`~workbench.simulate.tagmap.Signal`."""
    st, var = sig.station, sig.variable
    setpoint = var.endswith("_setpoint")
    if st == "coating":
        if var == "areal_mass":
            return Wire(f"coating/lane{sig.lane:02d}", "coating", "scan", scan_s, ("gauge", 0), True)
        return Wire(f"coating/{var}", "coating", "periodic", 1.0, None, not setpoint and var != "solids_fraction")
    if st == "dryroom":
        if sig.sensor:
            family = "capacitive" if var == "dew_point" else "chilled_mirror"
            return Wire(f"dryroom/{sig.sensor}", "dryroom", "periodic", dryroom_period_s, (family, sig.sensor), True)
        return Wire(f"dryroom/{var}", "dryroom", "periodic", dryroom_period_s,
                    ("thermometer", 0) if var == "temperature" else None, var == "temperature")
    if st == "welding":
        if var in ("weld_resistance", "laser_energy"):
            return Wire(f"welding/{var}", "welding", "weld", weld_s,
                        ("weld_probe", 0) if var == "weld_resistance" else None, True)
        return Wire(f"welding/{var}", "welding", "periodic", 1.0, None, not setpoint)
    if st == "formation":
        unit = f"rack{sig.rack}/ch{sig.channel:02d}"
        return Wire(f"formation/{unit}/{var}", f"formation/rack{sig.rack}", "periodic", formation_period_s,
                    ("cell_probe", unit) if var == "temperature" else None, var != "capacity")
    raise KeyError(sig.path)


class Instruments:
    """The instrument faults of one line (seeded); see the module doc."""

    def __init__(self, seed: int, params: InstrumentParams):
        self.seed, self.p = seed, params
        self._codes = np.asarray(params.bad_value_codes, dtype=np.float64)
        self._memo: dict = {}  # one-sample reads (the live clock): draws per instrument, block and bucket

    def _memoised(self, key, compute):
        if key not in self._memo:
            if len(self._memo) > 8192:
                self._memo.clear()
            self._memo[key] = compute()
        return self._memo[key]

    def _key(self, *names) -> np.uint64:
        return rng.stream_key(self.seed, "instrument", *names)

    def _u(self, index, *names) -> np.ndarray:
        return rng.uniform(self._key(*names), index)

    # --- ageing ------------------------------------------------------------------------------------------
    def rate_per_day(self, family: str, unit) -> float:
        """This instrument's drift per day (internal units): ±(0.5..1.5) x the family's typical rate."""
        def draw():
            base = float(self.p.ageing_per_day.get(family, 0.0))
            sign = 1.0 if float(self._u(0, "ageing_sign", family, unit)) < 0.5 else -1.0
            return sign * base * (0.5 + float(self._u(0, "ageing_rate", family, unit)))
        return self._memoised(("rate", family, unit), draw)

    def calibrated_s(self, family: str, unit) -> float:
        """When the instrument was last calibrated (s since the line's start, <= 0)."""
        return self._memoised(("calibrated", family, unit), lambda: -self.p.calibrated_within_days * DAY_S * float(
            self._u(0, "calibrated", family, unit)))

    def ageing(self, family: str, unit, t_s) -> np.ndarray:
        """The reading's offset from ageing at ``t_s`` (internal units): rate x time since calibration."""
        t = np.asarray(t_s, dtype=np.float64)
        return self.rate_per_day(family, unit) * (t - self.calibrated_s(family, unit)) / DAY_S

    # --- bad values --------------------------------------------------------------------------------------
    def _burst_shape(self, period_s: float) -> tuple[int, float]:
        """(block length in samples = longest burst, probability of a burst per block)."""
        n = max(1, int(math.ceil(self.p.bad_value_max_s / period_s)))
        return n, min(1.0, self.p.bad_values_per_day * n * period_s / DAY_S)

    def _bursts_in(self, tag: str, blocks: np.ndarray, period_s: float):
        """(happens, first sample, length, code) of the burst drawn for each block (one at most)."""
        n, p = self._burst_shape(period_s)
        happens = self._u(blocks, "bad", tag) < p
        first = blocks * n + np.floor(self._u(blocks, "bad_at", tag) * n).astype(np.int64)
        length = 1 + np.floor(self._u(blocks, "bad_len", tag) * n).astype(np.int64)
        code = self._codes[np.floor(self._u(blocks, "bad_code", tag) * len(self._codes)).astype(np.int64)]
        return happens, first, length, code

    def _burst_of(self, tag: str, period_s: float, block: int) -> tuple[bool, int, int, float]:
        """(happens, first sample, length, code) of one block's burst, memoised (the live clock's reads)."""
        def draw():
            h, f, n, c = self._bursts_in(tag, np.array([block], dtype=np.int64), period_s)
            return bool(h[0]), int(f[0]), int(n[0]), float(c[0])
        return self._memoised(("burst", tag, period_s, block), draw)

    def bad_values(self, tag: str, k, period_s: float) -> np.ndarray:
        """The bad-value code the PLC writes at sample indices ``k`` of ``tag`` (NaN: the reading passes)."""
        k = np.asarray(k, dtype=np.int64)
        out = np.full(k.shape, np.nan)
        if self.p.bad_values_per_day <= 0 or k.size == 0:
            return out
        if k.size == 1:
            out.flat[0] = self.bad_value(tag, int(k.flat[0]), period_s)
            return out
        n, _ = self._burst_shape(period_s)
        for b in (k // n, k // n - 1):  # a burst is at most one block long: it reaches into the next block only
            happens, first, length, code = self._bursts_in(tag, b, period_s)
            hit = happens & (k >= first) & (k < first + length)
            out = np.where(hit, code, out)
        return out

    def bad_value(self, tag: str, k: int, period_s: float) -> float:
        """:meth:`bad_values` of one sample index (NaN: the reading passes)."""
        if self.p.bad_values_per_day <= 0:
            return math.nan
        n, _ = self._burst_shape(period_s)
        out = math.nan
        for b in (k // n, k // n - 1):  # the same order as bad_values: the earlier block's burst wins
            happens, first, length, code = self._burst_of(tag, period_s, b)
            if happens and first <= k < first + length:
                out = code
        return out

    def bursts(self, tag: str, k_lo: int, k_hi: int, period_s: float) -> list[tuple[int, int, float]]:
        """Bursts of ``tag`` touching sample indices [k_lo, k_hi): (first, end exclusive, code), clipped."""
        if self.p.bad_values_per_day <= 0 or k_hi <= k_lo:
            return []
        n, _ = self._burst_shape(period_s)
        blocks = np.arange(k_lo // n - 1, (k_hi - 1) // n + 1, dtype=np.int64)
        happens, first, length, code = self._bursts_in(tag, blocks, period_s)
        a, b = np.maximum(first, k_lo), np.minimum(first + length, k_hi)
        keep = happens & (a < b)
        return [(int(x), int(y), float(c)) for x, y, c in zip(a[keep], b[keep], code[keep])]

    # --- communication drop-outs -------------------------------------------------------------------------
    def _dropouts_in(self, link: str, buckets: np.ndarray):
        lo, hi = self.p.dropout_s
        p = min(1.0, self.p.dropouts_per_day * DROPOUT_BUCKET_S / DAY_S)
        happens = self._u(buckets, "dropout", link) < p
        start = np.floor((buckets + self._u(buckets, "dropout_at", link)) * DROPOUT_BUCKET_S)
        length = np.round(np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * self._u(buckets, "dropout_len", link)))
        return happens, start, start + np.maximum(length, 1.0)

    def _dropout_of(self, link: str, bucket: int) -> tuple[bool, float, float]:
        """(happens, start, end) of one bucket's drop-out, memoised (the live clock's reads)."""
        def draw():
            h, a, e = self._dropouts_in(link, np.array([bucket], dtype=np.int64))
            return bool(h[0]), float(a[0]), float(e[0])
        return self._memoised(("dropout", link, bucket), draw)

    def link_down(self, link: str, t_s) -> np.ndarray:
        """True where the station link ``link`` is down at ``t_s`` (s since the line's start)."""
        t = np.asarray(t_s, dtype=np.float64)
        if self.p.dropouts_per_day <= 0 or t.size == 0:
            return np.zeros(t.shape, dtype=bool)
        if t.size == 1:
            return np.full(t.shape, self.link_down_at(link, float(t.flat[0])))
        down = np.zeros(t.shape, dtype=bool)
        b0 = np.floor(t / DROPOUT_BUCKET_S).astype(np.int64)
        for b in (b0, b0 - 1):  # a drop-out is shorter than a bucket
            happens, start, end = self._dropouts_in(link, b)
            down |= happens & (t >= start) & (t < end)
        return down

    def link_down_at(self, link: str, t: float) -> bool:
        """:meth:`link_down` at one time."""
        if self.p.dropouts_per_day <= 0:
            return False
        b0 = math.floor(t / DROPOUT_BUCKET_S)
        for b in (b0, b0 - 1):
            happens, start, end = self._dropout_of(link, b)
            if happens and start <= t < end:
                return True
        return False

    def dropouts(self, link: str, t0_s: float, t1_s: float) -> list[tuple[float, float]]:
        """Drop-outs of ``link`` overlapping [t0, t1): (start, end) in s since the line's start, unclipped."""
        if self.p.dropouts_per_day <= 0 or t1_s <= t0_s:
            return []
        b = np.arange(int(np.floor(t0_s / DROPOUT_BUCKET_S)) - 1, int(np.floor(t1_s / DROPOUT_BUCKET_S)) + 1)
        happens, start, end = self._dropouts_in(link, b)
        keep = happens & (start < t1_s) & (end > t0_s)
        return [(float(s), float(e)) for s, e in zip(start[keep], end[keep])]

    # --- the whole wire ----------------------------------------------------------------------------------
    def carry(self, w: Wire, k, t_s, values, *, resolution: float | None = None, convert=None) -> np.ndarray:
        """What the historian receives for samples ``k`` at ``t_s`` of a tag measuring ``values`` (internal
        units): + ageing, ``convert`` to the tag's units, quantised to ``resolution``, bad-value codes, NaN
        while the link is down."""
        t = np.asarray(t_s, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if w.ageing is not None and self.p.ageing_per_day.get(w.ageing[0]):
            v = v + self.ageing(*w.ageing, t)
        if convert is not None:
            v = convert(v)
        if resolution:
            v = np.where(np.isfinite(v), rng.quantise(np.nan_to_num(v), resolution), v)
        if w.bad:
            codes = self.bad_values(w.tag, k, w.period_s)
            v = np.where(np.isnan(codes), v, codes)
        return np.where(self.link_down(w.link, t), np.nan, v)

    def carry_one(self, w: Wire, k: int, t: float, value: float, *, resolution: float | None = None,
                  convert=None) -> float:
        """:meth:`carry` of one sample (the live clock reads every tag a few times a second): the same value,
        without the array overhead (floats are IEEE doubles either way)."""
        v = float(value)
        if w.ageing is not None and self.p.ageing_per_day.get(w.ageing[0]):
            v = v + self.rate_per_day(*w.ageing) * (t - self.calibrated_s(*w.ageing)) / DAY_S
        if convert is not None:
            v = float(convert(np.array([v]))[0])
        if resolution and math.isfinite(v):
            v = float(rng.quantise(v, resolution))
        if w.bad:
            code = self.bad_value(w.tag, int(k), w.period_s)
            if not math.isnan(code):
                v = code
        return math.nan if self.link_down_at(w.link, t) else v


def truth_rows(line, t0_s: float, t1_s: float) -> list[dict]:
    """Truth-table rows (see :func:`workbench.simulate.datasets.truth_table`'s columns) of every instrument
    fault overlapping [t0, t1): one ``sensor_ageing`` row per instrument, one ``bad_value`` row per burst
    and tag ([start, end) spans exactly its bad samples), one ``comm_dropout`` row per drop-out and link."""
    inst = line.instruments
    ts = lambda s: line.time(float(s))  # noqa: E731
    rows, links, aged = [], {}, {}
    for path, sig in line.signals.items():
        w = line.wire(sig)
        units = line.config.tag(path).units
        links.setdefault(w.link, []).append(path)
        if w.ageing is not None and inst.p.ageing_per_day.get(w.ageing[0]) and w.ageing not in aged:
            aged[w.ageing] = path if w.grid != "scan" else path.rsplit("_lane", 1)[0] + "_lane*"
            rate = inst.rate_per_day(*w.ageing)
            off = inst.ageing(*w.ageing, [t0_s, t1_s])
            cal = inst.calibrated_s(*w.ageing)
            rows.append(_row("sensor_ageing", sig.station, aged[w.ageing], ts(cal), ts(t1_s), rate,
                             f"{'K' if units == 'degC' else units}/day",
                             f"{w.ageing[0]} calibrated {ts(cal)}: reads {off[0]:+.4g} .. {off[1]:+.4g} {units} "
                             f"off in this window"))
        if not w.bad:
            continue
        k, index_time = line.sample_grid(w, t0_s, t1_s)
        if k.size == 0:
            continue
        for a, b, code in inst.bursts(w.tag, int(k[0]), int(k[-1]) + 1, w.period_s):
            start, end = index_time(np.array([a, b]))
            rows.append(_row("bad_value", sig.station, path, ts(start), ts(end), code, units,
                             f"PLC wrote the bad-value code {code:g} for {b - a} sample(s)"))
    for link, paths in links.items():
        parts = [p.split("/") for p in paths]
        prefix = "/".join(os.path.commonprefix(parts)) if len(parts) > 1 else paths[0]
        station = line.signals[paths[0]].station
        for s, e in inst.dropouts(link, t0_s, t1_s):
            rows.append(_row("comm_dropout", station, prefix + "/*" if len(parts) > 1 else prefix, ts(s), ts(e),
                             e - s, "s", f"link to {link} down: {e - s:.0f} s of samples missing"))
    return rows


def _row(kind, station, target, start, end, magnitude, units, description) -> dict:
    return dict(kind=kind, station=station, target=target, cause="", lane=None, sensor=None, rack=None, channel=None,
                start=start, end=end, observed_start=start, observed_end=end, magnitude=float(magnitude),
                units=units, description=description)


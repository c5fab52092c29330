"""Batch tag samples: what the live clock would deliver for each tag over a window, computed at once.

For filling a history store in the recorder's shape (one series per ISA-95 tag path) without running
the clock: every sample a tag produces in [start, end), at its own source timestamps, with exactly the
values :meth:`LiveLine.read` returns at those timestamps: what the wire carries (:mod:`.instruments`), bad-value
codes and link drop-outs (NaN) included. Sampling grids: gauge lanes at scan times,
coater/welder process values and setpoints at 1 Hz, dry room every 10 s, welds at weld times,
formation channels every 10 s.

>>> from workbench.simulate import virtual_line
>>> s = virtual_line(seed=0).tag_samples(start="2h", end="2h10min",
...                                      paths=["plant1/dryroom/room1/hygrometer/frost_point_s1"])
>>> times, values = s["plant1/dryroom/room1/hygrometer/frost_point_s1"]
>>> len(times), str(values.dtype)
(60, 'float64')
"""

from __future__ import annotations

import numpy as np

from .line import ENSURE_LOOKBACK_S
from .live import INTERNAL_UNITS, _convert


def tag_samples(line, t0_s: float, t1_s: float, paths=None) -> dict:
    """{path: (times datetime64[ns] UTC, values float64 in the tag's units)} for samples in [t0, t1)."""
    paths = list(line.signals) if paths is None else ([paths] if isinstance(paths, str) else list(paths))
    unknown = [p for p in paths if p not in line.signals]
    if unknown:
        raise KeyError(f"no tag(s) {unknown[:3]} on the virtual line; see vl.tags()")
    line.events.ensure(t0_s - ENSURE_LOOKBACK_S, t1_s)
    sigs = [line.signals[p] for p in paths]
    cache: dict = {}
    out = {}
    for p, sig in zip(paths, sigs):
        t, v = _series(line, sig, t0_s, t1_s, cache)
        k = line.sample_grid(line.wire(sig), t0_s, t1_s)[0]  # the same grid _series sampled
        v = line.carry(p, k, t, v, convert=converter(INTERNAL_UNITS[(sig.station, sig.variable)],
                                                      line.config.tag(p).units))
        out[p] = (line.time(t), np.asarray(v, dtype=np.float64))
    return out


def converter(src: str, dst: str):
    """None when the units agree, else a function converting an array from ``src`` to ``dst``."""
    if src == dst:
        return None
    return lambda v: np.asarray([_convert(float(x), src, dst) for x in np.atleast_1d(v)])


def _seconds(t0_s: float, t1_s: float, step: int) -> np.ndarray:
    return np.arange(int(np.ceil(t0_s / step)) * step, int(np.ceil(t1_s / step)) * step, step, dtype=np.int64)


def _series(line, sig, t0_s, t1_s, cache):
    if sig.station == "coating":
        if sig.variable == "areal_mass":
            if "gauge" not in cache:
                cache["gauge"] = line.coater.gauge(line.coater.scans_between(t0_s, t1_s))
            g = cache["gauge"]
            return g["t"], g["areal_mass"][:, sig.lane - 1]
        if "coater_pv" not in cache:
            sec = _seconds(t0_s, t1_s, 1)
            cache["coater_pv"] = (sec, line.coater.process_values(sec))
        sec, pv = cache["coater_pv"]
        return sec.astype(float), pv[sig.variable]
    if sig.station == "dryroom":
        if "room" not in cache:
            dt = line.dryroom.p.sample_period_s
            cache["room"] = line.dryroom.samples(_seconds(t0_s, t1_s, dt) // dt)
        v = cache["room"]
        if sig.sensor:
            return v["t"], v["dew_frost_point"][:, line.dryroom.p.sensors.index(sig.sensor)]
        return v["t"], v[sig.variable]
    if sig.station == "welding":
        if sig.variable in ("laser_power", "laser_power_setpoint"):
            sec = _seconds(t0_s, t1_s, 1)
            if sig.variable == "laser_power":
                return sec.astype(float), line.welder.laser_power(sec)
            return sec.astype(float), line.welder.power.setpoint(sec.astype(float))
        if "welds" not in cache:
            cache["welds"] = line.welder.welds(line.welder.welds_between(t0_s, t1_s))
        w = cache["welds"]
        return w["t"], w[sig.variable]
    if sig.station == "formation":
        return _formation(line, sig, t0_s, t1_s, cache)
    raise KeyError(sig.path)


def _formation(line, sig, t0_s, t1_s, cache):
    from . import formation_live as fl

    sec = _seconds(t0_s, t1_s, fl.SAMPLE_S)
    if "formation" not in cache:
        cache["formation"] = fl.formation_line_for(line, t0_s, t1_s)
        cache["formation_values"] = {}
    key = (sig.rack, sig.channel)
    vals = cache["formation_values"]
    if key not in vals:
        if cache["formation"] is None:
            vals[key] = {v: np.full(sec.shape, np.nan) for v in ("voltage", "current", "temperature", "capacity")}
        else:
            vals[key] = cache["formation"].channel_values(sig.rack, sig.channel, line.time(sec.astype(float)))
    return sec.astype(float), vals[key][sig.variable]

"""Live formation channels: glue between the live clock and ``formation.FormationLine``.

The cells on the live racks at time t went on their channel within the last formation slot
(≈ 22.8 h), so for each hour bucket we build the genealogy of the cells welded in the 26 h before it
(only those on racks with live tags) and hand them to ``FormationLine`` (formation engineer's
module). Values are a pure function of time, so they equal ``formation_curves`` at the same times.
Channels are sampled every ``SAMPLE_S`` seconds (a cycler's logging interval).
"""

from __future__ import annotations

import math

import numpy as np

BUCKET_S = 3600.0
SAMPLE_S = 10  # the cyclers log every 10 s: live channel values sit on a 10 s grid


def formation_line_for(line, t0_s: float, t1_s: float):
    """A FormationLine holding every live-rack cell that can be on a channel during [t0, t1)."""
    from . import genealogy
    from .formation import FormationLine

    lookback = genealogy.formation_slot_s(line.flow, line.welder.p.cell_takt_s) + line.flow.soak_s + 2 * BUCKET_S
    gen = genealogy.build(line, t0_s - lookback, t1_s)
    cells = gen.cells[gen.cells.rack <= line.live_racks].reset_index(drop=True)
    truth = line.truth(t0_s - lookback, t1_s + BUCKET_S, instruments=False)  # the process events it needs
    return FormationLine(cells, seed=line.seed, events=truth)


def _formation_line(live, bucket: int):
    cache = live.__dict__.setdefault("_formation_lines", {})
    if bucket not in cache:
        cache.clear()  # keep one bucket: the live clock mostly moves forward
        cache[bucket] = formation_line_for(live.line, bucket * BUCKET_S, (bucket + 1) * BUCKET_S)
    return cache[bucket]


def channel_value(live, sig, sec: int, cache: dict) -> float:
    """The value of a formation tag (voltage, current, temperature, capacity) at whole second ``sec``."""
    try:
        from . import formation  # noqa: F401
    except ImportError:
        return math.nan
    if cache.get("formation_t") != sec:  # all channels at once (one vectorised call per sample time)
        fl = _formation_line(live, int(np.floor(sec / BUCKET_S)))
        values = fl.values_at(live.line.time(float(sec)))
        cache["formation"] = (fl, {pair: j for j, pair in enumerate(fl.channels)}, values)
        cache["formation_t"] = sec
    fl, where, values = cache["formation"]
    j = where.get((sig.rack, sig.channel))
    if j is None:  # no cell ever on this channel in the window: idle
        return {"voltage": math.nan, "current": 0.0, "capacity": math.nan,
                "temperature": fl.rack_temperature(sig.rack)}[sig.variable]
    return float(values[sig.variable][j])

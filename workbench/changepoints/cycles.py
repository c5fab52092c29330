"""The cycle model: changes in what each cycle of a periodic signal looks like, never cuts inside a cycle.

A scanning gauge's traverse, a dry-room regeneration cycle or a machine's stroke repeat with period P
(``policy.dominant_period``). Cut into cycles of P samples, each cycle is described by five numbers: level
(mean), spread (log sd), roughness (log mean |difference|) and upper/lower envelope (max - mean, mean -
min). A regime change moves some of them; the exact joint L2 search (``_kernels.pelt_l2_joint``) runs on
these cycle features, each less its own season if it has one (``seasons.find_season``: weekends are a
season of 7 daily cycles, not two level changes a week) and scaled by its own robust long-run sigma, with
the chi-square penalty for 5 series, and at least 5 cycles per segment; as in joint detection, a drift of
the features within the segments found (a level creeping up under the cycles) is removed when that costs
less (``trend.choose_trend_joint``; tried even for one step when one line through the features, its
penalty paid, costs less than the steps with theirs) and needs no more changes than the steps did, so it
is not cut into a staircase. Each change is then placed to the sample, within one cycle,
where the means of one cycle before and one cycle after differ most (a full cycle averages the periodic
part out).
"""

from __future__ import annotations

import math

import numpy as np

from ._joint import pelt_l2_joint
from .policy import CYCLES_PER_SEGMENT, Plan, auto_penalty, long_run
from .seasons import MIN_SEASONS, find_season, seasonal_profile
from .trend import _columns, choose_trend_joint

__all__ = ["cycle_features", "cycle_changes"]

# A series of cycle features is short (tens to hundreds of cycles): with policy.MIN_BLOCKS (128) its block
# estimate would never run and the AR(1) model alone would judge wander between cycles. 32 blocks (from 64
# cycles up) accept a ~25 % noisier scale to keep that check.
FEATURE_BLOCKS = 32


def cycle_features(xv: np.ndarray, period: int) -> np.ndarray:
    """(cycles, 5) level, log spread, log roughness, upper and lower envelope of each full cycle.

    >>> f = cycle_features(np.tile([0.0, 1.0, 2.0, 1.0], 3), 4)
    >>> f.shape, float(f[0, 0]), float(f[0, 3])
    ((3, 5), 1.0, 1.0)
    """
    k = xv.shape[0] // period
    b = xv[: k * period].reshape(k, period)
    mean = b.mean(axis=1)
    floor = max(float(np.ptp(xv)) * 1e-9, 1e-300)  # log of a flat cycle: finite, far below any real spread
    spread = np.log(b.std(axis=1) + floor)
    rough = np.log(np.abs(np.diff(b, axis=1)).mean(axis=1) + floor) if period > 1 else np.zeros(k)
    return np.stack([mean, spread, rough, b.max(axis=1) - mean, mean - b.min(axis=1)], axis=1)


def cycle_changes(xv: np.ndarray, p: Plan, *, min_size: int, factor: float) -> np.ndarray:
    """Change indices (first sample of each new segment) of one finite series under the cycle model."""
    period = p.period
    feats = cycle_features(xv, period)
    k = feats.shape[0]
    cols = []
    for j in range(feats.shape[1]):
        f = np.ascontiguousarray(feats[:, j])
        season = find_season(f)[0] if k >= 4 * MIN_SEASONS else 0
        if season:  # a longer season under the cycles (weekends under days) is not a change in the cycles
            f = f - seasonal_profile(f, season)
        lr = long_run(f, FEATURE_BLOCKS, efficient=False)["long_run_sigma"] if k >= 4 else 0.0
        if lr > 0.0:
            cols.append((f - f.mean()) / lr)
    if not cols:
        return np.empty(0, np.int64)
    z = np.ascontiguousarray(np.stack(cols, axis=1))
    m = max(CYCLES_PER_SEGMENT, math.ceil(min_size / period))
    beta = auto_penalty(k, z.shape[1], factor=factor)
    flags = pelt_l2_joint(z, beta, m)
    if np.count_nonzero(flags):  # a drift under the cycles (level creeping up) is not a staircase, nor one step
        drift, _ = choose_trend_joint(z, flags, beta, beta, m, auto_penalty(k, factor=factor),
                                      force=_line_beats_steps(z, flags, beta))
        # ... but a drift that needs more changes than the staircase explains no staircase: cycles whose
        # features wander in structured ways (TSSB's MiddlePhalanx: 16 -> 48 changes) keep the steps
        flags = drift if np.count_nonzero(drift) <= np.count_nonzero(flags) else flags
    starts = np.flatnonzero(flags) * period
    return np.array([_place(xv, s, period) for s in starts], dtype=np.int64)


def _line_beats_steps(z: np.ndarray, flags: np.ndarray, beta: float) -> bool:
    """Whether one line through each column of z (cycles, features), ``beta`` paid for the slopes, costs less
    than the segment means of ``flags``, ``beta`` paid per change: then the steps may be a drift cut up (the
    slopes within the segments are biased low, and a few cycles per segment give them little weight)."""
    line = np.zeros(z.shape[0], np.bool_)
    sxy, sxx, rss = _columns(z, line)
    steps = float(np.sum(_columns(z, flags)[2])) + beta * int(np.count_nonzero(flags))
    return float(np.sum(rss - sxy * sxy / sxx)) + beta < steps


def _place(xv: np.ndarray, s: int, period: int) -> int:
    """The sample within one cycle of s where one cycle after and one cycle before differ most in mean."""
    n = xv.shape[0]
    lo, hi = max(period, s - period), min(n - period, s + period)
    if hi <= lo:
        return s
    c = np.r_[0.0, np.cumsum(xv)]
    t = np.arange(lo, hi + 1)
    diff = np.abs((c[t + period] - c[t]) - (c[t] - c[t - period]))
    return int(t[np.argmax(diff)])

"""Curve or staircase: a smooth baseline (a heater warming up, a filter loading) plus steps.

A change-in-mean search cuts a curved drift into a staircase, and a straight line (``trend.py``) cannot
follow it. The smooth model is a cubic B-spline with K uniform interior knots (K + 3 coefficients beside the
level): it bends on the scale of the knot spacing (>= ``policy.curve_spacing`` samples: too far apart to
bend through a 3 long-run sigma step for less than the step's penalty) and cannot make a step, so a real
step stays in the residual and is found again. The choice is the trend model's:

1. **Gate** (``curve_gate``, one compiled pass): two or more marginal changes (``marginal_changes``), or
   segments of the mean-shift fit that are not flat: a slope of their own per segment lowers the residual
   sum of squares (in long-run noise units) by a chi-square with one degree of freedom per segment when
   they are flat; more than the chi-square bound that the penalty is built from (``policy.auto_penalty``
   for that many degrees of freedom) means they are not.
2. **Fit** with an intercept per segment (the baseline is estimated *within* the segments, so steps do
   not bend it), remove it, search again, refit within the new segments, until the change points stop
   moving (at most MAX_ROUNDS), starting from the staircase's segments and from one curve through the
   whole series; K = 0, 1, 3, 7, 15 (as the spacing allows, K = 0 only under 500 samples; nested, each
   halves the spacing).
3. **Choose** by penalised cost, the same yardstick for everything: residual sum of squares + one penalty
   per change + one penalty per coefficient of the baseline (K + 3), against the mean-shift and linear-trend
   models' costs. A staircase of real steps keeps its steps (the baseline cannot make them and costs more).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._kernels import fpop_l2, staircase_sums
from .policy import CURVE_KNOTS, auto_penalty, curve_spacing

MAX_ROUNDS = 8
LONG_SPACING = 250  # samples between knots at least on long series (main's rule, kept there)
MARGINAL = 10.0  # a change gaining less than this many penalties could be a stair of a drift (gate only)
__all__ = ["choose_curve", "choose_curve_joint", "curve_baseline", "curve_cost", "curve_gate", "is_short", "marginal_changes", "spline_basis"]


@lru_cache(maxsize=16)
def spline_basis(n: int, knots: int):
    """What every fit on n samples with ``knots`` uniform interior knots shares (cached, read-only): the
    (n, knots + 4) cubic B-spline basis B on sample index 0 .. n-1 (its columns sum to 1: the level is in
    them), its cumulative sums along the samples (n + 1, p) and B'B."""
    from scipy.interpolate import BSpline

    inner = np.linspace(0.0, n - 1.0, knots + 2)
    t = np.r_[[0.0] * 3, inner, [n - 1.0] * 3]
    b = BSpline.design_matrix(np.arange(n, dtype=np.float64), t, 3).toarray()
    cum = np.vstack([np.zeros((1, b.shape[1])), np.cumsum(b, axis=0)])
    out = (b, cum, b.T @ b)
    for a in out:
        a.setflags(write=False)
    return out


def _starts(flags_or_starts: np.ndarray) -> np.ndarray:
    a = np.asarray(flags_or_starts)
    st = np.flatnonzero(a) if a.dtype == np.bool_ else a.astype(np.int64)
    return np.r_[0, st[st > 0]]


def _segment_sums(z: np.ndarray, starts: np.ndarray):
    """(sums of z (n, d) over each segment, lengths)."""
    sums = np.add.reduceat(z, starts)[:, None] if z.ndim == 1 else np.add.reduceat(z, starts, axis=0)
    return sums, np.diff(np.r_[starts, z.shape[0]]).astype(np.float64)


def _rss(r: np.ndarray, starts: np.ndarray) -> float:
    """Residual sum of squares of r (n,) or (n, d) about its segment means."""
    rr = r.reshape(r.shape[0], -1)
    s, m = _segment_sums(rr, starts)
    return float(np.sum(rr * rr) - np.sum(s * s / m[:, None]))


def _baseline(z: np.ndarray, knots: int, starts: np.ndarray) -> np.ndarray:
    """The smooth baseline of z (n,) or (n, d) fitted within the segments (an intercept per segment), from
    the normal equations: the segments enter only through their sums (O(segments x p) besides B'z)."""
    b, cum, btb = spline_basis(z.shape[0], knots)
    zz = z.reshape(z.shape[0], -1)
    ends = np.r_[starts[1:], z.shape[0]]
    m = (ends - starts).astype(np.float64)[:, None]
    bs = cum[ends] - cum[starts]
    zs, _ = _segment_sums(zz, starts)
    coef = np.linalg.lstsq(btb - bs.T @ (bs / m), b.T @ zz - bs.T @ (zs / m), rcond=1e-10)[0]
    return (b @ coef).reshape(z.shape)


def curve_baseline(z: np.ndarray, knots: int, flags: np.ndarray) -> np.ndarray:
    """The smooth baseline with ``knots`` of z (n,) or (n, d), fitted within the segments of bool ``flags``."""
    return _baseline(z, knots, _starts(flags))


def _gains(z: np.ndarray, starts: np.ndarray, beta: float) -> np.ndarray:
    """Per change after the first segment: the drop in the residual sum of squares (z (n,) or (n, d),
    columns summed) from splitting its two neighbouring segments there, in penalties."""
    s, m = _segment_sums(z, starts)
    mean = s / m[:, None]
    return np.sum((mean[1:] - mean[:-1]) ** 2, axis=1) * (m[1:] * m[:-1] / (m[1:] + m[:-1])) / beta


def marginal_changes(z: np.ndarray, flags: np.ndarray, beta: float) -> int:
    """How many changes of ``flags`` pay their penalty less than MARGINAL times over (``_gains``). The
    optimal staircase of a drift of a per sample has a step every L samples with a^2 L^3 = 6 beta, and
    each of them gains 3 penalties; a real step of 3 sigma between 200-sample segments gains 36 (at
    10,000 samples)."""
    if z.ndim == 1:
        return int(staircase_sums(z, np.ascontiguousarray(flags, dtype=np.bool_), MARGINAL * beta)[3])
    return int(np.count_nonzero(_gains(z, _starts(flags), beta) < MARGINAL))


def curve_gate(z: np.ndarray, flags: np.ndarray, beta: float, min_size: int) -> bool:
    """Whether the mean-shift fit ``flags`` of standardised z (n,) or (n, d) could be a cut-up drift, so the
    curve model is worth fitting (the cheap test first: one compiled pass for a single series). Either

    - two or more changes are marginal (``marginal_changes``: the stairs of a long drift), or
    - the segments are not flat: a slope of their own per segment (and per column) lowers the residual sum
      of squares by more than the chi-square bound for that many degrees of freedom (``auto_penalty``):
      the one or two stairs of a short drift pay many penalties each, but what is left in them still slopes.

    A staircase of real steps has flat segments and steps paying many penalties: no curve is fitted.
    """
    changes = int(np.count_nonzero(flags))
    if not is_short(z.shape[0], min_size) or not changes:
        return changes >= 2 and marginal_changes(z, flags, beta) >= 2
    if marginal_changes(z, flags, beta) >= 2:
        return True
    starts = _starts(flags)
    zz = z.reshape(z.shape[0], -1)
    bent = sum(_bent(zz[:, k], starts) for k in range(zz.shape[1]))
    return bent > auto_penalty(z.shape[0], starts.size * zz.shape[1])


def _bent(z: np.ndarray, starts: np.ndarray) -> float:
    """Drop in the residual sum of squares of z (n,) from a line of its own in every segment beginning at
    ``starts`` (segments of 3 samples or more; numpy: the short-series gate only)."""
    s, m = _segment_sums(z, starts)
    st, _ = _segment_sums(z * np.arange(z.shape[0], dtype=np.float64), starts)
    sxy = st[:, 0] - 0.5 * (2 * starts + m - 1) * s[:, 0]
    sxx = m * (m * m - 1.0) / 12.0
    ok = m > 2
    return float(np.sum(sxy[ok] ** 2 / sxx[ok]))


def coef_penalty(z: np.ndarray, knots: int) -> float:
    """What the baseline pays for its coefficients (K + 3 per series of z): the chi-square tail bound the
    change penalty is built from, for that many degrees of freedom (no search over a location)."""
    d = z.shape[1] if z.ndim == 2 else 1
    return auto_penalty(z.shape[0], (knots + 3) * d)


def curve_cost(z: np.ndarray, starts: np.ndarray, beta: float, knots: int) -> float:
    """Penalised cost of the curve model: a baseline with ``knots`` fitted within the segments at
    ``starts`` (change indices), beta per change, ``coef_penalty`` for the baseline."""
    st = _starts(starts)
    return _rss(z - _baseline(z, knots, st), st) + beta * (st.size - 1) + coef_penalty(z, knots)


def is_short(n: int, min_size: int) -> bool:
    """A series too short for one knot at the long-series floor (LONG_SPACING; 50 x min_size there):
    the knot spacing from ``policy.curve_spacing`` and the sloping-segments gate apply only to these (on
    longer series they merged practical steps and seasonal shifts into the curve: not yet resolved)."""
    return n < 2 * LONG_SPACING


def _knot_counts(n: int, min_size: int, beta: float):
    if not is_short(n, min_size):
        spacing = max(LONG_SPACING, 50 * max(int(min_size), 1))
        return [k for k in CURVE_KNOTS if k and n / (k + 1) >= spacing]
    spacing = curve_spacing(beta, max(int(min_size), 1))
    return [k for k in CURVE_KNOTS if n / (k + 1) >= spacing]


def _search_from(z, first, knots, search, cost_of):
    """Refit the baseline within the segments the search finds, from ``first``, until they stop moving:
    the best (cost, flags) seen."""
    best = (np.inf, None)
    st = first
    seen = None
    for _ in range(MAX_ROUNDS):
        r = np.ascontiguousarray(z - _baseline(z, knots, st))
        tf = search(r)
        new = _starts(tf)
        cost = cost_of(r, new)
        if cost < best[0]:
            best = (cost, tf)
        if seen is not None and np.array_equal(new, seen):
            break
        seen = st = new
    return best


def choose_curve(z: np.ndarray, flags: np.ndarray, beta: float, min_size: int, cost_to_beat: float):
    """(flags, knots) of the smooth-baseline model for standardised z (n,) when it costs less than
    ``cost_to_beat`` (the mean-shift or trend model's penalised cost), else (flags, None). For flags that pass
    ``curve_gate`` (the caller asks it first)."""
    return _choose(z, flags, beta, min_size, cost_to_beat, lambda r: fpop_l2(r, beta, min_size), True)


def choose_curve_joint(z2: np.ndarray, flags: np.ndarray, beta: float, min_size: int, cost_to_beat: float):
    """``choose_curve`` for one segmentation shared by the columns of z2 (n, d): a baseline per column,
    one joint penalty ``beta`` (the penalty for d series) per basis function; (flags, knots)."""
    from ._joint import pelt_l2_joint  # the joint kernel only when a rig is searched

    if not curve_gate(z2, flags, beta, min_size):
        return flags, None
    return _choose(z2, flags, beta, min_size, cost_to_beat, lambda r: pelt_l2_joint(r, beta, min_size), False)


def _choose(z, flags, beta, min_size, cost_to_beat, search, whole_too):
    counts = _knot_counts(z.shape[0], min_size, beta)
    if not counts:
        return flags, None
    best = (cost_to_beat, flags, None)
    # the baseline is first fitted within the staircase's steps that are not marginal (a drift's stairs
    # are; real steps pay many times over; none: one curve through the whole series), then the search and
    # the fit alternate. ``whole_too``: also from one curve through the whole series (the last stair of a
    # long flat tail can pay 10 penalties; the joint search is slow on a residual that still holds steps,
    # so the joint choice starts from the steps alone)
    stairs = _starts(flags)
    strong = np.r_[0, stairs[1:][_gains(z, stairs, beta) >= MARGINAL]]
    firsts = [strong] + ([np.zeros(1, np.int64)] if whole_too and strong.size > 1 else [])
    for k in counts:  # every K: the information criterion picks (a misfit of too few knots can pass for a step)

        def cost_of(r, st, k=k):
            return _rss(r, st) + beta * (st.size - 1) + coef_penalty(z, k)

        for first in firsts:
            cost, tf = _search_from(z, first, k, search, cost_of)
            if cost < best[0]:
                best = (cost, tf, k)
    return best[1], best[2]

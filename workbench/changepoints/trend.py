"""Trend or staircase: the model choice between steps in a level and a drift plus steps.

A change-in-mean search cuts a drift into a staircase. After the search, the slope *within* the segments it
found (pooled least squares, in long-run noise units so its z-score is honest under autocorrelation) tells
them apart: the segments of a true staircase are flat, those of a cut-up drift all slope the same way. When
that slope is significant (|z| > TREND_Z), the drift is removed and the search runs again, starting from
that slope and from the one line through the whole series (until the change points stop moving, at most 8 times,
re-estimating the slope within the new segments); the drift model is kept only if its penalised cost, with
one penalty more for the slope, is lower. A trend plus two steps gives two change points, not a staircase.
"""

from __future__ import annotations

import numpy as np

from ._kernels import fpop_l2, segment_line_sums

TREND_Z = 3.0  # within-segment slope / its standard error needed to try the drift model
MAX_ROUNDS = 8  # refits of the slope (it converges in 2-4 on drifts)
__all__ = ["TREND_Z", "choose_trend", "choose_trend_joint", "pooled_slope", "sloped"]


def _segment_sums(z: np.ndarray, starts: np.ndarray):
    flags = np.zeros(z.shape[0], np.bool_)
    flags[starts] = True
    return segment_line_sums(np.ascontiguousarray(z), flags)


def pooled_slope(z: np.ndarray, starts: np.ndarray) -> tuple[float, float]:
    """(slope per sample, z-score) of z within the segments starting at ``starts`` (0 excluded).

    >>> slope, zs = pooled_slope(0.01 * np.arange(200.0), np.array([100]))
    >>> round(slope, 3), bool(zs > 3)  # z in units of a unit-variance noise
    (0.01, True)
    """
    sxy, sxx, _ = _segment_sums(z, starts)
    if not sxx > 0:
        return 0.0, 0.0
    slope = sxy / sxx
    return float(slope), float(slope * np.sqrt(sxx))


def sloped(sxy: float, sxx: float) -> bool:
    """Whether the segments slope one way beyond chance: the pooled within-segment slope Sxy / Sxx
    (``segment_line_sums``; pooled_slope's arithmetic) has |z| > TREND_Z. Otherwise the drift model cannot
    win and is not tried.

    >>> sxy, sxx, _ = segment_line_sums(0.01 * np.arange(200.0), np.zeros(200, np.bool_))
    >>> sloped(sxy, sxx), sloped(0.0, sxx)
    (True, False)
    """
    return sxx > 0 and abs(float(sxy / sxx * np.sqrt(sxx))) > TREND_Z


def choose_trend(z: np.ndarray, flags: np.ndarray, beta: float, min_size: int, force: bool = False):
    """(flags, slope) of the better model for standardised z given the mean-shift flags; slope 0.0 when
    the staircase (mean-shift) model wins. ``force``: compare the models even if the segments do not slope
    beyond chance (one step that a line explains better, ``rows.drift_beats_step``)."""
    sxy, sxx, rss = segment_line_sums(np.ascontiguousarray(z), np.ascontiguousarray(flags, dtype=np.bool_))
    if not sxx > 0 or not (force or sloped(sxy, sxx)):  # the cheap test first (one pass, no copies): most
        # series have flat segments
        return flags, 0.0
    slope = float(sxy / sxx)
    cost_steps = rss + beta * int(np.count_nonzero(flags))
    t = np.arange(z.shape[0], dtype=np.float64)
    best = (cost_steps, flags, 0.0)
    whole, _ = pooled_slope(z, np.empty(0, np.int64))  # one line through everything: the other end
    for slope in (slope, whole):
        seen = None
        for _ in range(MAX_ROUNDS):  # the slope within a staircase's segments is biased low: refit until stable
            tf = fpop_l2(np.ascontiguousarray(z - slope * t), beta, min_size)
            st = np.flatnonzero(tf)
            cost = _segment_sums(z - slope * t, st)[2] + beta * (st.size + 1)
            if cost < best[0]:
                best = (cost, tf, slope)
            if seen is not None and np.array_equal(st, seen):
                break
            seen = st
            slope, _ = pooled_slope(z, st)
    return best[1], best[2]



def _columns(z2: np.ndarray, flags: np.ndarray):
    """Per column of z2 (n, d): arrays of (Sxy, Sxx, residual sum of squares) within the segments of flags."""
    f = np.ascontiguousarray(flags, dtype=np.bool_)
    return np.array([segment_line_sums(np.ascontiguousarray(z2[:, k]), f) for k in range(z2.shape[1])]).T


def choose_trend_joint(z2: np.ndarray, flags: np.ndarray, beta: float, slope_penalty: float, min_size: int,
                       beta_one: float, force: bool = False):
    """``choose_trend`` for one segmentation shared by the columns of standardised z2 (n, d): (flags, slopes
    per column, all 0.0 when the staircase wins). A drift is tried when the segments of the joint fit slope
    one way: the slopes' chi-square (sum of their z^2, d degrees of freedom) beats ``slope_penalty``, what
    the drift model pays for its d slopes (quiet or stepped rigs of 8: <= 19; drifting ones: >= 80). The
    refits start from the slopes within the joint segments, from one line through each series, and from
    each series' own choice (``choose_trend`` at the single-series penalty ``beta_one``): a step in some
    series biases the first two, and the refits can settle on a drift plus a spurious change. ``force``:
    compare the models even if the slopes within the segments do not beat ``slope_penalty`` (they are biased
    low when the staircase has taken most of the drift).

    The joint search sums every series' evidence, so a drift too weak to cut one series into a staircase
    (and left in by the single-series choice) still cuts the rig: the choice is made on the joint fit.
    """
    from ._joint import pelt_l2_joint  # the joint kernel only when a rig is searched

    n, d = z2.shape
    sxy, sxx, rss = _columns(z2, flags)
    zero = np.zeros(d)
    if not np.all(sxx > 0) or not (force or float(np.sum(sxy * sxy / sxx)) > slope_penalty):
        return flags, zero
    t = np.arange(n, dtype=np.float64)[:, None]
    best = (rss.sum() + beta * int(np.count_nonzero(flags)), flags, zero)
    within = sxy / sxx
    whole = np.array([pooled_slope(np.ascontiguousarray(z2[:, k]), np.empty(0, np.int64))[0] for k in range(d)])
    own = np.array([_own_slope(np.ascontiguousarray(z2[:, k]), beta_one, min_size) for k in range(d)])
    for slopes in (within, whole, np.where(own != 0.0, own, within)):
        seen = None
        for _ in range(MAX_ROUNDS):
            zd = np.ascontiguousarray(z2 - t * slopes)
            tf = pelt_l2_joint(zd, beta, min_size)
            cost = _columns(zd, tf)[2].sum() + beta * int(np.count_nonzero(tf)) + slope_penalty
            if cost < best[0]:
                best = (cost, tf, slopes)
            st = np.flatnonzero(tf)
            if seen is not None and np.array_equal(st, seen):
                break
            seen = st
            sxy, sxx, _ = _columns(z2, tf)
            slopes = sxy / sxx
    return best[1], best[2]


def _own_slope(z: np.ndarray, beta: float, min_size: int) -> float:
    """The slope the single-series default removes from z (0.0: mean-shift), as ``rows`` decides it."""
    flags = fpop_l2(z, beta, min_size)
    return 0.0 if np.count_nonzero(flags) < 2 else choose_trend(z, flags, beta, min_size)[1]

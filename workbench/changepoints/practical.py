"""The minimum shift of practical interest (``detect(..., min_shift=...)``): a step after the search.

A level change can be statistically certain and still of no interest: on a coater the lanes wander by a
fraction of the spec tolerance over the hour, and a penalised search on hours of scans finds every such
move. ``min_shift`` (in the data's unit) says which shift matters; :func:`merge_small_shifts` then merges
every change whose step is smaller, one at a time, smallest first, and re-fits the segmentation:

1. the segment means of the current change points (least squares, the L2 cost of the search);
2. the change with the smallest step |mean after - mean before| below ``min_shift`` is removed, which
   merges its two segments;
3. the change points on either side of the merged segment are re-located (the best single split, L2,
   between their own neighbours, at least ``min_size`` samples from each), because a boundary placed for
   a short wander segment is not where the remaining, larger, step is best placed;
4. repeat until every step is at least ``min_shift``; a last pass re-locates every change point once more.

Each round removes one change point, so it ends after at most as many rounds as there were changes. The
result is what a search restricted to changes of at least ``min_shift`` would give on the same candidates:
no list filtering that would leave two neighbouring segments at nearly the same level, and levels and
locations re-estimated on the merged segments.

The default search merges each row as soon as its model is chosen (``rows.detect_rows``, with the drift and
season that model removed, refitted within the merged segments); the shape and ruptures searches merge
afterwards (:func:`merge_rows`). With ``joint=`` (``rows.detect_rows_joint``) a change is kept when its
step is at least ``min_shift`` in any one series: a shift of practical interest anywhere in the rig; the
segment means and re-locations use every series (the joint L2 cost); the drift of a joint trend or curve
model is taken off first, a line or curve per series.

Rows the policy models as periodic (the ``cycle`` model) are left alone: their changes are in what each
cycle looks like (spread, roughness), not only in level, so a step in mean does not measure them.

>>> import numpy as np
>>> x = np.r_[np.zeros(100), np.full(100, 0.05), np.full(100, 1.0)]
>>> flags = np.zeros(300, bool); flags[[100, 200]] = True
>>> out, merged = merge_small_shifts(x, flags, 0.5, min_size=5)
>>> np.flatnonzero(out).tolist(), merged
([200], 1)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MERGE_REASON", "merge_rows", "merge_small_shifts"]

MAX_PASSES = 20  # re-location passes after the merges (each lowers the cost; ties could otherwise swap forever)

MERGE_REASON = ("changes whose step between the segment means was below min_shift were merged (smallest "
                "first), the neighbouring change points re-located after each merge")


def _best_split(csum: np.ndarray, a: int, b: int, m: int, current: int) -> int:
    """The split t in [a + m, b - m] of segment [a, b) with the lowest L2 cost (``current`` if none fits);
    ``csum`` (n + 1,) or (n + 1, d): the cost summed over the series."""
    lo, hi = a + m, b - m
    if hi < lo:
        return current
    t = np.arange(lo, hi + 1)
    left, right = csum[t] - csum[a], csum[b] - csum[t]
    wl, wr = (t - a).astype(np.float64), (b - t).astype(np.float64)
    if csum.ndim == 2:
        wl, wr = wl[:, None], wr[:, None]
    gain = left * left / wl + right * right / wr  # maximising this minimises the two-segment cost
    if gain.ndim == 2:
        gain = gain.sum(axis=1)
    return int(t[np.argmax(gain)])


def _relocate(csum: np.ndarray, cps: list[int], i: int, n: int, m: int) -> None:
    a = cps[i - 1] if i > 0 else 0
    b = cps[i + 1] if i + 1 < len(cps) else n
    cps[i] = _best_split(csum, a, b, m, cps[i])


def _sums(x: np.ndarray, cps: list, drift) -> np.ndarray:
    """Cumulative sums (n + 1, ...) of x (n,) or (n, d) minus its drift (an array, or ``drift(starts)`` for
    the change points ``cps``), centred: the sums keep their precision on large offsets."""
    if drift is not None:
        x = x - (drift(np.asarray(cps, dtype=np.int64)) if callable(drift) else drift)
    c = np.cumsum(x - x.mean(axis=0), axis=0)
    return np.concatenate([np.zeros((1, *c.shape[1:])), c])


def merge_small_shifts(x: np.ndarray, flags: np.ndarray, min_shift: float, min_size: int = 1,
                       drift: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Merge the changes of one series whose step is below ``min_shift`` (see module doc).

    ``x``: the series' valid samples (finite, in order), or (n, d) samples of d series segmented together
    (a change is kept if its step reaches ``min_shift`` in any of them); ``flags``: the search's bool flags on them (True at
    the first sample of a new segment); ``drift``: what the model removed besides the steps (a trend, a
    curve or a season, same length, data units; or ``drift(starts)`` fitted within the segments that
    begin at ``starts``, refitted after each merge), taken off before the steps are measured. Returns
    (new flags, number of changes merged away).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    cps = [int(i) for i in np.flatnonzero(flags)]
    if not cps or not min_shift > 0:
        return np.asarray(flags, bool).copy(), 0
    csum = _sums(x, cps, drift)
    m = max(int(min_size), 1)
    merged = passes = 0
    while cps:
        edges = np.r_[0, cps, n]
        sizes = np.diff(edges).astype(np.float64)
        means = (csum[edges[1:]] - csum[edges[:-1]]) / (sizes[:, None] if csum.ndim == 2 else sizes)
        steps = np.abs(np.diff(means, axis=0))
        if steps.ndim == 2:  # joint: the largest step of any series
            steps = steps.max(axis=1)
        j = int(np.argmin(steps))
        if steps[j] >= min_shift:
            before = list(cps)
            for i in range(len(cps)):  # the last pass: every change at its best place between its neighbours
                _relocate(csum, cps, i, n, m)
            passes += 1
            if cps == before or passes >= MAX_PASSES:
                break
            continue
        del cps[j]
        merged += 1
        if callable(drift):  # the drift refitted within the merged segments
            csum = _sums(x, cps, drift)
        for i in (j - 1, j):  # the change points left and right of the merged segment
            if 0 <= i < len(cps):
                _relocate(csum, cps, i, n, m)
    out = np.zeros(n, bool)
    out[cps] = True
    return out, merged


def merge_rows(x: np.ndarray, flags: np.ndarray, min_shift: float, min_size: int, penalty: float,
               info=None, factor: float = 1.0, spike_threshold: float = 5.0) -> np.ndarray:
    """:func:`merge_small_shifts` on every row of (rows, n) ``x`` and its flags found by the shape or a
    ruptures search (the default search merges in its own row loop), on the samples the search used
    (absurd values masked, NaN dropped); rows of the cycle model are left alone; under the automatic
    penalty the drift of the trend or curve model and the season are taken off first (``_drift``), so a
    step is measured against the drift, not with it. Counts in ``info``."""
    from .rows import _clean

    out = np.array(flags, dtype=bool, copy=True)
    for r in range(x.shape[0]):
        if not out[r].any():
            continue
        clean, valid, _ = _clean(x[r])
        xv = clean if valid is None else np.ascontiguousarray(clean[valid])
        own = out[r] if valid is None else out[r, valid]
        drift = None
        if math.isnan(penalty):
            drift = _drift(xv, min_size, factor, spike_threshold, valid)
            if drift is False:  # the cycle model
                continue
        new, merged = merge_small_shifts(xv, own, min_shift, min_size, drift)
        if merged or not np.array_equal(new, own):
            out[r] = False
            out[r, np.flatnonzero(new) if valid is None else valid[new]] = True
        if info is not None:
            info.merged += merged
    return out


def _drift(xv: np.ndarray, min_size: int, factor: float, spike_threshold: float, at: np.ndarray | None = None):
    """What the default's model removes from the finite series ``xv`` besides its steps, in data units: the
    season (an array), ``drift(starts)`` (trend line or curve baseline fitted within the segments, plus the
    season), None (nothing) or False (the cycle model): the plan and the model choice of
    ``rows.detect_rows`` made for a row another search segmented (one more search per row); ``at``: the
    samples' positions when the row's gaps were taken out."""
    from ._kernels import fpop_l2
    from .rows import drift_choice, prepare

    z, p, _ = prepare(xv, min_size, factor, math.nan, spike_threshold, allow_cycle=True, at=at)
    if p.model == "cycle":
        return False
    if p.model == "constant":
        return None
    m = max(int(min_size), 1)
    drift = drift_choice(z, fpop_l2(np.ascontiguousarray(z), p.beta, m), p, m)[3]
    if drift is None:
        return p.season
    season = 0.0 if p.season is None else p.season
    return lambda starts: drift(starts) * p.scale + season

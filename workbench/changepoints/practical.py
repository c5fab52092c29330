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

import numpy as np

__all__ = ["MERGE_REASON", "merge_rows", "merge_small_shifts"]

MAX_PASSES = 20  # re-location passes after the merges (each lowers the cost; ties could otherwise swap forever)

MERGE_REASON = ("changes whose step between the segment means was below min_shift were merged (smallest "
                "first), the neighbouring change points re-located after each merge")


def _best_split(csum: np.ndarray, a: int, b: int, m: int, current: int) -> int:
    """The split t in [a + m, b - m] of segment [a, b) with the lowest L2 cost (``current`` if none fits)."""
    lo, hi = a + m, b - m
    if hi < lo:
        return current
    t = np.arange(lo, hi + 1)
    left, right = csum[t] - csum[a], csum[b] - csum[t]
    gain = left * left / (t - a) + right * right / (b - t)  # maximising this minimises the two-segment cost
    return int(t[np.argmax(gain)])


def _relocate(csum: np.ndarray, cps: list[int], i: int, n: int, m: int) -> None:
    a = cps[i - 1] if i > 0 else 0
    b = cps[i + 1] if i + 1 < len(cps) else n
    cps[i] = _best_split(csum, a, b, m, cps[i])


def merge_small_shifts(x: np.ndarray, flags: np.ndarray, min_shift: float, min_size: int = 1) -> tuple[np.ndarray, int]:
    """Merge the changes of one series whose step is below ``min_shift`` (see module doc).

    ``x``: the series' valid samples (finite, in order); ``flags``: the search's bool flags on them (True at
    the first sample of a new segment). Returns (new flags, number of changes merged away).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    cps = [int(i) for i in np.flatnonzero(flags)]
    if not cps or not min_shift > 0:
        return np.asarray(flags, bool).copy(), 0
    csum = np.r_[0.0, np.cumsum(x - x.mean())]  # centred: the sums keep their precision on large offsets
    m = max(int(min_size), 1)
    merged = passes = 0
    while cps:
        edges = np.r_[0, cps, n]
        means = (csum[edges[1:]] - csum[edges[:-1]]) / np.diff(edges)
        steps = np.abs(np.diff(means))
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
        for i in (j - 1, j):  # the change points left and right of the merged segment
            if 0 <= i < len(cps):
                _relocate(csum, cps, i, n, m)
    out = np.zeros(n, bool)
    out[cps] = True
    return out, merged


def merge_rows(x: np.ndarray, flags: np.ndarray, min_shift: float, min_size: int, penalty: float,
               info=None) -> np.ndarray:
    """:func:`merge_small_shifts` on every row of (rows, n) ``x`` and its flags, on the samples the search
    used (absurd values masked, NaN dropped); rows of the cycle model are left alone. Counts in ``info``."""
    import math

    from .policy import plan
    from .rows import _clean

    out = np.array(flags, dtype=bool, copy=True)
    for r in range(x.shape[0]):
        if not out[r].any():
            continue
        clean, valid, _ = _clean(x[r])
        xv = clean if valid is None else np.ascontiguousarray(clean[valid])
        own = out[r] if valid is None else out[r, valid]
        if math.isnan(penalty) and plan(xv, min_size=min_size).model == "cycle":
            continue
        new, merged = merge_small_shifts(xv, own, min_shift, min_size)
        if merged or not np.array_equal(new, own):
            out[r] = False
            out[r, np.flatnonzero(new) if valid is None else valid[new]] = True
        if info is not None:
            info.merged += merged
    return out

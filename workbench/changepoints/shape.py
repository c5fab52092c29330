"""The shape option (``detect(method="shape")``): changes in the pattern of a signal, not in its level.

Our own take on ClaSP (Schaefer, Ermshaus & Leser, CIKM 2021): cut the series into overlapping windows of
one period (``policy.dominant_period``; 10 samples if there is none), link each window to its k = 3
nearest neighbours in z-normalised shape (``_shape.knn``), and score every split s by how few links cross
it compared with links between random windows:

    score(s) = 1 - crossing(s) / (2 k s (m - s) / m)        (m windows)

Two regimes of different shape link within themselves, so the best split scores near 1; a series of one
shape scores lower everywhere. The best split is kept if its score reaches SHAPE_SCORE and both sides are
at least 5 windows long, then each side is searched again (binary segmentation, neighbours recomputed
within the side). SHAPE_SCORE is set from our own no-change generators (white, AR(1), quantised, sine,
trend; ``tests/test_changepoints_shape.py``), not from any benchmark. Cost: O(n^2) per level of the
recursion (about a second for 20,000 samples), so it is an option, not the default.
"""

from __future__ import annotations

import numpy as np

from ._shape import knn
from .policy import dominant_period

K = 3
SHAPE_SCORE = 0.45  # no-change generators (3,000 samples, 120 series) score at most 0.35
MIN_WINDOWS = 5  # a segment is at least this many windows long
FALLBACK_WINDOW = 10
__all__ = ["shape_changes", "split_score"]


def split_score(neighbours: np.ndarray) -> np.ndarray:
    """score(s) for s = 0 .. m (see module doc) from the (m, k) neighbour table; NaN at the ends."""
    m, k = neighbours.shape
    i = np.repeat(np.arange(m), k)
    j = neighbours.ravel()
    ok = j >= 0
    lo, hi = np.minimum(i[ok], j[ok]), np.maximum(i[ok], j[ok])
    diff = np.zeros(m + 2)
    np.add.at(diff, lo + 1, 1.0)
    np.add.at(diff, hi + 1, -1.0)
    crossing = np.cumsum(diff)[: m + 1]  # links with lo < s <= hi
    s = np.arange(m + 1, dtype=np.float64)
    expected = 2.0 * ok.sum() / m * s * (m - s) / m
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 1.0 - crossing / expected
    out[[0, m]] = np.nan
    return out


def shape_changes(xv: np.ndarray, *, min_size: int = 1, window: int | None = None) -> np.ndarray:
    """Change indices (first sample of each new segment) of one finite series by shape (see module doc)."""
    x = np.ascontiguousarray(xv, dtype=np.float64)
    if window is None:
        period, _ = dominant_period(x)
        window = period if period >= 4 else FALLBACK_WINDOW
    w = int(window)
    found = []
    todo = [(0, x.size)]
    while todo and len(found) < x.size // max(w, 1):
        a, b = todo.pop()
        edge = max(MIN_WINDOWS * w, min_size)
        if b - a < 2 * edge + w:
            continue
        nb = knn(x[a:b], w, K, w)
        score = split_score(nb)
        m = nb.shape[0]
        lo, hi = edge - w // 2, m - edge + w // 2
        if hi <= lo:
            continue
        s = lo + int(np.nanargmax(score[lo:hi]))
        if not score[s] >= SHAPE_SCORE:
            continue
        c = a + s + w // 2
        found.append(c)
        todo += [(a, c), (c, b)]
    return np.array(sorted(found), dtype=np.int64)

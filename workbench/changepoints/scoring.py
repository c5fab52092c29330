"""Scoring detected change points against the truth (for tests, benchmarks and trial analysis)."""

from __future__ import annotations

import numpy as np


def f1_score(true, predicted, margin: int = 5) -> float:
    """F1 of predicted change indices against true ones, one-to-one within ``margin`` samples.

    Indices are segment starts (``detect``'s True positions), not including 0 or n. Each true change can
    be matched by at most one prediction (greedy by distance), as in ruptures' ``precision_recall``.
    No true and no predicted changes scores 1.0.

    >>> f1_score([100, 200], [102, 260])
    0.5
    """
    t = np.sort(np.asarray(true, dtype=np.int64).ravel())
    p = np.sort(np.asarray(predicted, dtype=np.int64).ravel())
    if margin < 0:
        raise ValueError(f"f1_score: margin must be >= 0 samples, got {margin}")
    if t.size == 0 and p.size == 0:
        return 1.0
    if t.size == 0 or p.size == 0:
        return 0.0
    dist = np.abs(t[:, None] - p[None, :])
    pairs = np.argwhere(dist <= margin)
    order = np.argsort(dist[pairs[:, 0], pairs[:, 1]], kind="stable")
    used_t, used_p, hits = set(), set(), 0
    for i, j in pairs[order]:
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
            hits += 1
    if hits == 0:
        return 0.0
    precision, recall = hits / p.size, hits / t.size
    return 2 * precision * recall / (precision + recall)


def covering(true, predicted, n: int) -> float:
    """Segmentation covering (van den Burg & Williams 2020; TSSB's score): for each true segment the best
    Jaccard overlap with a predicted one, weighted by its length. Change points as segment starts (no 0, n).

    >>> covering([50], [50], 100), covering([50], [], 100)
    (1.0, 0.5)
    """
    def bounds(cps):
        c = sorted({int(i) for i in np.asarray(cps).ravel() if 0 < int(i) < n})
        return np.r_[0, c, n]

    t, p = bounds(true), bounds(predicted)
    score = 0.0
    for a, b in zip(t[:-1], t[1:]):
        lo, hi = np.maximum(a, p[:-1]), np.minimum(b, p[1:])
        inter = np.clip(hi - lo, 0, None)
        union = np.maximum(b, p[1:]) - np.minimum(a, p[:-1])
        score += (b - a) * float(np.max(inter / union))
    return float(score / n)

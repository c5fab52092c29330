"""The shape option (``detect(method="shape")``): changes in the pattern of a signal, not in its level.

Our own implementation of ClaSP (Schaefer, Ermshaus & Leser, CIKM 2021; Ermshaus et al., DAMI 2023): a
change in pattern is a split at which a classifier can tell the windows on its left from those on its right.

1. **Window** w (``suss_window``, SuSS): the smallest w whose sliding windows' mean, spread and range come
   as close to the whole series' as 89 % of the way from w = 1 to w = n, at least 10 samples; a good part of a
   period (a third of a sine's), the time a pattern needs to show.
2. **Self-supervised k-NN** (``_shape.knn``): every window's k = 3 nearest neighbours in z-normalised
   Euclidean distance (level and spread removed: only the shape counts), trivial matches within w / 2
   excluded.
3. **Score profile** (``split_profile``): for each split s, label windows left / right of s, predict each
   window's label by the majority of its neighbours' labels (the w windows overlapping the split are
   predicted "right"), and score the prediction by the ROC AUC of the true labels against the predicted
   ones: (P(right | predicted right) + P(left | predicted left)) / 2. One regime throughout gives about
   0.5 (neighbours fall anywhere); two regimes of different shape give about 1 at their boundary.
4. **Significance** (``split_z``, ``label_inflation``, ``split_z_min``): the best split is kept only if
   the predicted labels left and right of it differ by a Wilcoxon rank-sum test whose variance is inflated
   by the labels' autocorrelation over the window overlap (ClaSP's test takes them as independent and asks
   p <= 1e-15, which autocorrelated noise still passes), at a two-sided level of 1 % shared (Bonferroni)
   by the (candidate splits) / w splits that share no windows (|z| >= about 4). Both sides must be at
   least 5 windows long.
5. **Recursion**: binary segmentation in order of score: the best significant split of any segment is taken
   first, then each side is searched again with its own neighbours (a pattern is judged against its own
   segment), until no segment has a significant split. A regime that comes back (A, B, A) is weaker
   evidence: every split has A on both sides.

Cost: O(n^2) for the neighbours of each level of the recursion (about a second for 20,000 samples), so it is
an option, not the default. Pick it for regime changes at the same level and spread (a gauge's traverse
pattern, a cycle's shape, a new vibration); the default finds level changes faster and with a penalty.
"""

from __future__ import annotations

import heapq

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d
from scipy.stats import norm

from ._shape import knn, split_profile

K = 3  # neighbours per window (odd: a majority always exists)
MIN_WINDOWS = 5  # a segment is at least this many windows long
MIN_WINDOW = 10  # SuSS lower bound on the window
SUSS_SHARE = 0.89  # SuSS: how close the windows' statistics must come to the series'
ALPHA = 0.01  # false-alarm rate per segment searched
__all__ = ["shape_changes", "split_scores", "split_z", "suss_window"]


def _suss_distance(x: np.ndarray, w: int, stats: np.ndarray) -> float:
    """Mean distance of the sliding windows' (mean, sd, range) from the series' ones, per sqrt(w)."""
    c1 = np.cumsum(np.r_[0.0, x])
    c2 = np.cumsum(np.r_[0.0, x * x])
    mean = (c1[w:] - c1[:-w]) / w
    sd = np.sqrt(np.maximum((c2[w:] - c2[:-w]) / w - mean * mean, 0.0))
    h = w // 2  # the filters' window around i covers x[i - h: i - h + w]: windows starting at 0 .. n - w
    rng = (maximum_filter1d(x, w) - minimum_filter1d(x, w))[h: h + mean.size]
    d = np.sqrt((mean - stats[0]) ** 2 + (sd - stats[1]) ** 2 + (rng - stats[2]) ** 2)
    return float(d.mean() / np.sqrt(w))


def suss_window(xv: np.ndarray, lower: int = MIN_WINDOW, share: float = SUSS_SHARE) -> int:
    """SuSS window size (Ermshaus et al. 2023; see module doc), by an exponential then a binary search.

    >>> t = np.arange(3000)
    >>> suss_window(np.sin(2 * np.pi * t / 50))  # about a third of the period
    18
    """
    x = np.asarray(xv, dtype=np.float64)
    n = x.size
    if n < 2 * lower:
        return max(n // 2, 1)
    lo_v, hi_v = x.min(), x.max()
    if not hi_v > lo_v:
        return lower
    x = (x - lo_v) / (hi_v - lo_v)
    stats = np.array([x.mean(), x.std(), 1.0])
    worst, best = _suss_distance(x, 1, stats), _suss_distance(x, n - 1, stats)
    if worst == best:
        return lower

    def close(w):
        return 1.0 - (_suss_distance(x, w, stats) - best) / (worst - best)

    e = max(int(np.ceil(np.log2(lower))), 0)
    while 2 ** e < n - 1 and close(2 ** e) <= share:
        e += 1
    a, b = max(lower, 2 ** (e - 1)), min(2 ** e, n - 1)
    while a < b:  # smallest w in [a, b] that comes close enough
        mid = (a + b) // 2
        if close(mid) > share:
            b = mid
        else:
            a = mid + 1
    return int(a)


def _votes(neighbours: np.ndarray) -> np.ndarray:
    """Highest split at which a majority of a window's neighbours lie right of it (-1: never)."""
    k = neighbours.shape[1]
    return np.sort(neighbours, axis=1)[:, k - (k // 2 + 1)].astype(np.int64)


def split_scores(neighbours: np.ndarray, lo: int, hi: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(score, |z|) of each split s in [lo, hi) from the (m, k) neighbour table (see module doc)."""
    m = neighbours.shape[0]
    counts = split_profile(_votes(neighbours), lo, hi, w).astype(np.float64)
    s = np.arange(lo, hi, dtype=np.float64)
    lr, rr = counts[:, 0], counts[:, 1]
    pred_right, pred_left = lr + rr, m - lr - rr
    with np.errstate(invalid="ignore", divide="ignore"):
        score = 0.5 * (rr / pred_right + (s - lr) / pred_left)
    score[~((pred_right > 0) & (pred_left > 0))] = np.nan
    return score, split_z(s, m - s, lr, rr)


def split_z(n_left, n_right, left_ones, right_ones):
    """Wilcoxon rank-sum z of binary predicted labels left vs right of a split (no tie correction)."""
    n_left, n_right = np.asarray(n_left, float), np.asarray(n_right, float)
    n = n_left + n_right
    ones = left_ones + right_ones
    zeros = n - ones
    rank_zero, rank_one = (zeros + 1) / 2, zeros + (ones + 1) / 2
    rank_sum = (n_left - left_ones) * rank_zero + left_ones * rank_one
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(rank_sum - n_left * (n + 1) / 2) / np.sqrt(n_left * n_right * (n + 1) / 12)


def label_inflation(vote: np.ndarray, s: int, w: int) -> float:
    """Variance inflation 1 + 2 sum rho_k of the predicted labels at split s (residuals from each side's
    mean), over lags 1 .. w and until the first non-positive autocorrelation: windows less than w apart
    share samples (and so neighbours), so their labels are not the independent draws the rank-sum test
    assumes. Beyond w lags labels share no samples; longer runs (a whole regime misread) are structure,
    not noise, and are not counted against the split."""
    m = vote.size
    i = np.arange(m)
    pred = ((vote >= s) | ((i >= s - w) & (i < s))).astype(np.float64)
    r = pred.copy()
    r[:s] -= r[:s].mean()
    r[s:] -= r[s:].mean()
    if not np.any(r):
        return 1.0
    f = np.fft.rfft(r, 2 * m)
    ac = np.fft.irfft(f * np.conj(f))[: min(w + 1, m // 2)]
    ac = ac / ac[0]
    stop = np.flatnonzero(ac[1:] <= 0)
    last = int(stop[0]) + 1 if stop.size else ac.size
    return float(max(1.0 + 2.0 * ac[1:last].sum(), 1.0))


def split_z_min(n_splits: int, w: int) -> float:
    """|z| a split must reach: two-sided level ALPHA shared (Bonferroni) by the n_splits / w candidate splits
    that do not share windows."""
    return float(norm.isf(ALPHA / 2 / max(n_splits / w, 1.0)))


def _best_split(x: np.ndarray, w: int, edge: int):
    """(score, split) of the best significant split of x with both sides >= edge samples, or None."""
    n = x.size
    if n < 2 * edge or n < w * (K + 1):
        return None
    neighbours = knn(x, w, K, w // 2 + 1)
    lo, hi = edge, n - edge + 1
    if hi <= lo:
        return None
    score, z = split_scores(neighbours, lo, hi, w)
    if np.all(np.isnan(score)):
        return None
    s = int(np.nanargmax(score))
    if not z[s] / np.sqrt(label_inflation(_votes(neighbours), lo + s, w)) >= split_z_min(hi - lo, w):
        return None
    return float(score[s]), lo + s


def shape_changes(xv: np.ndarray, *, min_size: int = 1, window: int | None = None) -> np.ndarray:
    """Change indices (first sample of each new segment) of one finite series by shape (see module doc)."""
    x = np.ascontiguousarray(xv, dtype=np.float64)
    w = int(window) if window is not None else suss_window(x)
    edge = max(MIN_WINDOWS * w, int(min_size))
    found: list[int] = []
    heap: list[tuple[float, int, int, int]] = []

    def push(a, b):
        best = _best_split(x[a:b], w, edge)
        if best is not None:
            heapq.heappush(heap, (-best[0], a + best[1], a, b))

    push(0, x.size)
    while heap:
        _, c, a, b = heapq.heappop(heap)
        found.append(c)
        push(a, c)
        push(c, b)
    return np.array(sorted(found), dtype=np.int64)

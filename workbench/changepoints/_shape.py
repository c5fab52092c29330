"""The shape option's two compiled kernels: nearest neighbours of z-normalised windows, and the split profile.

``knn(x, w, k, excl)``: for every window x[i:i+w], the k windows (starting >= excl samples away) with the
smallest z-normalised Euclidean distance, by the diagonal recurrence of the sliding dot products (STOMP,
Zhu et al. 2016): O(n^2) multiply-adds, O(n k) memory. Flat windows (sd 0) are at distance sqrt(2 w) from all.

``split_profile(vote, lo, hi, w)``: the cross-validated k-NN score of every split s in [lo, hi) in O(m) for
all of them (``shape.py`` explains the score); ``vote[i]`` is the highest split at which window i's neighbours
still vote "right of the split".
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def knn(x, w, k, excl):
    n = x.shape[0]
    m = n - w + 1
    mu = np.empty(m)
    sd = np.empty(m)
    s1 = 0.0
    s2 = 0.0
    for t in range(w):
        s1 += x[t]
        s2 += x[t] * x[t]
    for i in range(m):
        if i > 0:
            s1 += x[i + w - 1] - x[i - 1]
            s2 += x[i + w - 1] * x[i + w - 1] - x[i - 1] * x[i - 1]
        mu[i] = s1 / w
        v = s2 / w - mu[i] * mu[i]
        sd[i] = math.sqrt(v) if v > 1e-12 * (mu[i] * mu[i] + 1e-300) else 0.0
    best_d = np.full((m, k), np.inf)
    best_j = np.full((m, k), -1, np.int64)
    for d in range(excl, m):
        qt = 0.0
        for t in range(w):
            qt += x[t] * x[d + t]
        for i in range(m - d):
            j = i + d
            if i > 0:
                qt += x[i + w - 1] * x[j + w - 1] - x[i - 1] * x[j - 1]
            if sd[i] > 0.0 and sd[j] > 0.0:
                r = (qt / w - mu[i] * mu[j]) / (sd[i] * sd[j])
                dist = 2.0 * w * (1.0 - min(r, 1.0))
            else:
                dist = 2.0 * w
            _insert(best_d, best_j, i, dist, j, k)
            _insert(best_d, best_j, j, dist, i, k)
    return best_j


@nb.njit(cache=True, nogil=True, inline="always")
def _insert(best_d, best_j, i, dist, j, k):
    if dist >= best_d[i, k - 1]:
        return
    p = k - 1
    while p > 0 and best_d[i, p - 1] > dist:
        best_d[i, p] = best_d[i, p - 1]
        best_j[i, p] = best_j[i, p - 1]
        p -= 1
    best_d[i, p] = dist
    best_j[i, p] = j


@nb.njit(cache=True, nogil=True)
def split_profile(vote, lo, hi, w):
    """For each split s in [lo, hi): (windows left of s predicted right, windows right of s predicted right).

    Window i is predicted right of s when vote[i] >= s, except the min(w, s) windows just left of s, which
    overlap the split and are predicted right. Moving s up by one changes the prediction of window s, of
    window s - w (leaves the overlap) and of the windows whose vote is s, so all splits cost O(m)."""
    m = vote.shape[0]
    order = np.argsort(vote, kind="mergesort")
    first = np.searchsorted(vote[order], np.arange(m + 2))  # windows with vote v: order[first[v]:first[v+1]]
    out = np.zeros((hi - lo, 2), np.int64)
    lr = 0  # i < s - w with vote >= s
    rr = 0  # i >= s with vote >= s
    for i in range(m):
        if vote[i] >= lo:
            if i >= lo:
                rr += 1
            elif i < lo - w:
                lr += 1
    for s in range(lo, hi):
        out[s - lo, 0] = lr + min(w, s)
        out[s - lo, 1] = rr
        if vote[s] >= s:
            rr -= 1
        if s - w >= 0 and vote[s - w] >= s + 1:
            lr += 1
        if s <= m:
            for t in range(first[s], first[s + 1]):
                i = order[t]
                if i >= s + 1:
                    rr -= 1
                elif i < s - w:
                    lr -= 1
    return out

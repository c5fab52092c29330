"""Compiled nearest neighbours of z-normalised subsequences (the shape option's only kernel).

``knn(x, w, k, excl)``: for every window x[i:i+w], the k windows (starting >= excl samples away) with the
smallest z-normalised Euclidean distance, by the diagonal recurrence of the sliding dot products (STOMP,
Zhu et al. 2016): O(n^2) multiply-adds, O(n k) memory. Flat windows (sd 0) are at distance sqrt(2 w) from all.
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

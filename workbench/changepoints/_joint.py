"""Compiled exact search for one change-in-mean segmentation shared by d series (summed L2 cost): a pure
kernel on standardised data and a penalty, no policy (see ``search.py`` for the problem).

Why a second pruning rule. Functional pruning (each candidate start keeps the means where it still wins)
works in one dimension, but in d dimensions the region where an old start still wins is an intersection of
balls minus a union of balls, and on quiet data it stays non-empty for a time proportional to the start's
age: on 8 quiet sensors every start stays alive and the search is O(n^2) (0.6 s for 4,000 samples,
minutes for a day at 1 Hz). That is a property of any search that does not look ahead.

This search knows the whole series, and uses a necessary condition of optimality. If start t is the best
last change for the samples [0, s), the solution it continues has its previous change at a = last[t], and
merging [a, t) and [t, s) into one segment must not pay: the merge gain

    G(a, t, s) = C(a, s) - C(a, t) - C(t, s) = w1 w2 / (w1 + w2) |mean[a, t) - mean[t, s)|^2   (w1 = t - a,
    w2 = s - t)

must be at least the penalty (otherwise the candidate a alone costs less: f[a] + C(a, s) = f[t] + C(t, s)
- (penalty - G)). So t takes part in the search only from the first end s with G(a, t, s) >= penalty; on
quiet data that never happens for almost every t, and the search keeps a handful of candidates. The first
such s is found in a min/max tree of the centred cumulative sums: a node of ends [lo, hi] bounds G from
above (|D| <= the extremes of P(s) - P(t) - (s - t) mean[a, t) over the node, the weight at w2 = lo - t),
and only nodes whose bound reaches the penalty are opened, down to single ends where the bound is G.

Everything else is the previous exact search (PELT inequality and a bounding box of the functional
regions), unchanged: a start waiting for its first useful end is simply absent, which changes no minimum
(up to float rounding, covered by a small tolerance that only lets more starts in). Among exactly equal
costs the earliest start wins, as before.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._kernels import _backtrack

NEVER = -1


@nb.njit(cache=True, nogil=True)
def _sums_tree(x):
    """Cumulative sums s1 (n+1, d) and of squares q (n+1); the centred cumulative sums pc (n+1, d); and a
    tree of N >= n + 1 leaves (node i >= 1 covers ends [(i - 2^l) N / 2^l, ...] at level l) holding, per
    internal node (i < N) and series, the lowest and highest deviation of pc from the chord between the
    node's first and last end (single ends, the leaves, have none and are not stored)."""
    n, d = x.shape
    s1 = np.zeros((n + 1, d))
    q = np.zeros(n + 1)
    for i in range(n):
        acc = 0.0
        for k in range(d):
            s1[i + 1, k] = s1[i, k] + x[i, k]
            acc += x[i, k] * x[i, k]
        q[i + 1] = q[i] + acc
    pc = np.zeros((n + 1, d))
    for k in range(d):
        c = s1[n, k] / n
        for i in range(n):
            pc[i + 1, k] = pc[i, k] + (x[i, k] - c)
    big = 1
    while big < n + 1:
        big *= 2
    bmin = np.zeros((big, d))  # internal nodes only: a single end has no deviation
    bmax = np.zeros((big, d))
    size = 2
    while size <= big:
        first_node = big // size
        for node in range(first_node, 2 * first_node):
            left = (node - first_node) * size
            if left > n:
                break
            right = min(left + size - 1, n)
            if right == left:
                continue
            for k in range(d):
                chord = (pc[right, k] - pc[left, k]) / (right - left)
                lo = 0.0
                hi = 0.0
                for e in range(left + 1, right):
                    dev = pc[e, k] - pc[left, k] - (e - left) * chord
                    lo = min(lo, dev)
                    hi = max(hi, dev)
                bmin[node, k] = lo
                bmax[node, k] = hi
        size *= 2
    return s1, q, pc, bmin, bmax, big


@nb.njit(cache=True, nogil=True)
def _first_useful_end(t, a, first, n, pc, bmin, bmax, big, threshold):
    """The first end s in [first, n] where merging [a, t) with [t, s) would cost at least ``threshold``
    (upper bounds of the merge gain over tree nodes, exact at single ends); NEVER if there is none.

    Over a node of ends [l, r], D(s) = pc(s) - pc(t) - (s - t) mean[a, t) is its values at l and r joined
    by a chord, plus the node's deviation from its chord: |D| is bounded per series from those, and the
    weight w1 / (w2 (w1 + w2)) by its value at w2 = l - t."""
    d = pc.shape[1]
    w1 = float(t - a)
    i = big + first
    left = first
    size = 1
    while True:
        if left > n:
            return NEVER
        right = min(left + size - 1, n)
        w2 = float(left - t)
        w2hi = float(right - t)
        acc = 0.0
        for k in range(d):
            base = pc[t, k]
            slope = (base - pc[a, k]) / w1  # centred mean of [a, t)
            e1 = pc[left, k] - base - w2 * slope
            e2 = pc[right, k] - base - w2hi * slope
            dlo = bmin[i, k] if size > 1 else 0.0
            dhi = bmax[i, k] if size > 1 else 0.0
            m = max(max(e1, e2) + dhi, -(min(e1, e2) + dlo))
            acc += m * m
        if acc * w1 / (w2 * (w1 + w2)) >= threshold:
            if size == 1:
                return left
            i = 2 * i
            size //= 2
            continue
        while i & 1:  # climb while on a right child; the next node is the parent's right sibling
            if i == 1:
                return NEVER
            left -= size
            size *= 2
            i >>= 1
        i += 1
        left += size


@nb.njit(cache=True, nogil=True)
def _centred(x):
    """x minus each column's median. The summed L2 cost does not change with a shift per column, but the
    rounding tolerance below grows with the sum of squares: on uncentred data (a level of 1e3 or 1e6 with
    unit noise) it let every start in and the search was O(n^2)."""
    n, d = x.shape
    out = np.empty((n, d))
    for k in range(d):
        col = x[:, k].copy()
        c = np.median(col)
        for i in range(n):
            out[i, k] = x[i, k] - c
    return out


@nb.njit(cache=True, nogil=True)
def joint_search(x, penalty, min_size):
    """(last, work): best previous change per end of the penalised summed-L2 segmentation of x (n, d), and
    the number of candidate costs evaluated (the search's work, for tests of its complexity). Each column
    is centred on its median first (``_centred``: same segmentation, the work stays near-linear at any
    level)."""
    n, d = x.shape
    m = max(int(min_size), 1)
    last = np.zeros(n + 1, np.int64)
    if n < 2 * m:
        return last, 0
    s1, q, pc, bmin, bmax, big = _sums_tree(_centred(x))
    # merge gains within this of the penalty let the start in: float rounding can never drop the optimum
    threshold = penalty * (1.0 - 1e-9) - 1e-9 * q[n]
    f = np.empty(n + 1)
    f[0] = 0.0
    ct = np.empty(n + 2, np.int64)
    lo = np.empty((n + 2, d))  # bounding box of the means where the candidate can still win
    hi = np.empty((n + 2, d))
    wait_head = np.full(n + 2, NEVER, np.int64)  # starts waiting for their first useful end, per end
    wait_next = np.full(n + 2, NEVER, np.int64)
    nc = 0
    work = 0
    for s in range(m, n + 1):
        tn = s - m
        if tn == 0 or tn >= m:
            k = 0
            for j in range(nc):
                t = ct[j]
                a = float(tn - t)
                # candidate beats the newcomer inside the ball |mu - b/a|^2 <= (|b|^2 - a c) / a^2
                b2 = 0.0
                for kk in range(d):
                    b = s1[tn, kk] - s1[t, kk]
                    b2 += b * b
                c = f[t] - f[tn] + q[tn] - q[t]
                r2 = (b2 - a * c) / (a * a)
                if r2 < 0.0:
                    continue
                r = math.sqrt(r2)
                dist2 = 0.0
                empty = False
                for kk in range(d):
                    centre = (s1[tn, kk] - s1[t, kk]) / a
                    l0 = max(lo[j, kk], centre - r)
                    h0 = min(hi[j, kk], centre + r)
                    if l0 > h0:
                        empty = True
                        break
                    lo[j, kk] = l0
                    hi[j, kk] = h0
                    if centre < l0:
                        dist2 += (l0 - centre) ** 2
                    elif centre > h0:
                        dist2 += (centre - h0) ** 2
                if empty or dist2 > r2:
                    continue
                ct[k] = t
                for kk in range(d):
                    lo[k, kk] = lo[j, kk]
                    hi[k, kk] = hi[j, kk]
                k += 1
            nc = k
            due = s if tn == 0 else _first_useful_end(tn, last[tn], s, n, pc, bmin, bmax, big, threshold)
            if due > s:
                wait_next[tn] = wait_head[due]
                wait_head[due] = tn
            elif due == s:
                wait_next[tn] = wait_head[s]
                wait_head[s] = tn
        t = wait_head[s]
        while t != NEVER:  # starts whose merge with their previous segment pays from this end on
            ct[nc] = t
            for kk in range(d):
                lo[nc, kk] = -np.inf
                hi[nc, kk] = np.inf
            nc += 1
            t = wait_next[t]
        best = np.inf
        arg = 0
        for i in range(nc):
            t = ct[i]
            acc = 0.0
            for kk in range(d):
                dd = s1[s, kk] - s1[t, kk]
                acc += dd * dd
            v = f[t] + (q[s] - q[t]) - acc / (s - t)
            if v < best or (v == best and t < arg):
                best = v
                arg = t
        work += nc
        f[s] = best + penalty
        last[s] = arg
    return last, work


@nb.njit(cache=True, nogil=True)
def pelt_l2_joint(x, penalty, min_size):
    """Exact penalised L2 segmentation shared by the columns of a 2-D float64 array (n, d); True at the
    first sample of every segment after the first."""
    n = x.shape[0]
    if n < 2 * max(int(min_size), 1):
        return np.zeros(n, np.bool_)
    return _backtrack(joint_search(x, penalty, min_size)[0], n)

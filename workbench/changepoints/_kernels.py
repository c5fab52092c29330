"""Compiled exact searches for a change in mean (L2 cost): pure kernels on prepared sums, no policy.

See ``search.py`` for the algorithms and their exactness; ``_lanes.py`` runs ``_fpop_sums`` on 4 series in
lockstep. Callers hand in standardised data and a penalty; noise, penalty and model choice are ``policy.py``'s.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


# ---------------------------------------------------------------- exact searches
@nb.njit(cache=True, nogil=True)
def _cumsums(x):
    n = x.shape[0]
    s1 = np.empty(n + 1)
    s2 = np.empty(n + 1)
    s1[0] = 0.0
    s2[0] = 0.0
    for i in range(n):
        s1[i + 1] = s1[i] + x[i]
        s2[i + 1] = s2[i] + x[i] * x[i]
    return s1, s2


@nb.njit(cache=True, nogil=True)
def _backtrack(last, n):
    """True at the first sample of every segment after the first (the start index of each new segment)."""
    out = np.zeros(n, np.bool_)
    s = n
    while s > 0:
        t = last[s]
        if t > 0:
            out[t] = True
        s = t
    return out


@nb.njit(cache=True, nogil=True)
def fpop_l2(x, penalty, min_size):
    """Exact penalised L2 segmentation of a 1-D float64 array; returns a bool array, True at new segments."""
    n = x.shape[0]
    ws = _fpop_workspace(n)
    return _backtrack(_fpop_l2_ws(x, penalty, min_size, ws[0], ws[1], ws[2]), n)


@nb.njit(cache=True, nogil=True)
def _fpop_l2_ws(x, penalty, min_size, acc, cand, ints):
    """FPOP on x in caller-owned buffers (cumulative sums first, then ``_fpop_sums``)."""
    n = x.shape[0]
    s1a = acc[0]
    s2a = acc[1]
    s1a[0] = 0.0
    s2a[0] = 0.0
    a1 = 0.0
    a2 = 0.0
    for i in range(n):
        v = x[i]
        a1 += v
        a2 += v * v
        s1a[i + 1] = a1
        s2a[i + 1] = a2
    return _fpop_sums(n, penalty, min_size, acc, cand, ints)


@nb.njit(cache=True, nogil=True)
def _fpop_workspace(n):
    """Buffers for ``_fpop_l2_ws`` on series of up to n samples: sums, costs and a 1/k table; candidate
    slots; back-pointers and candidate starts. Allocate once per block of series, not per series."""
    acc = np.empty((5, n + 2))
    inv = acc[4]  # 1/k table: multiplications instead of divisions in the hot loop
    inv[0] = 0.0
    for i in range(1, n + 2):
        inv[i] = 1.0 / i
    return acc, np.empty((7, n + 2)), np.zeros((2, n + 2), np.int64)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _fpop_sums(n, penalty, min_size, acc, cand, ints):
    """FPOP (see search.py) on n samples whose cumulative sums of x and x^2 are already in acc[0], acc[1]
    (index 0..n); returns ``last`` (best previous change per end).

    Why it is exact and cheap: the set of segment means where candidate start j beats a later start k
    does not change with time (their cost difference is a constant quadratic in the mean), so j's
    region is (where j beat the starts alive at its birth) & (where j beats each later newcomer). The
    first is stored as the complement of one interval [A, B] that all older candidates won at j's birth
    (their winning intervals that contain the best current mean, a subset of the true union, so the
    stored region is a superset and pruning stays exact), the second is one interval [L, H] that
    shrinks with every newcomer. j is dropped when (-inf, A) u (B, inf) meets [L, H] in no interval of
    positive length. One fused pass per step, no piece lists: ~6 candidates, ~600 instructions a step.
    """
    m = max(int(min_size), 1)
    last = ints[0]
    if n < 2 * m:
        last[: n + 1] = 0
        return last
    s1a = acc[0]
    s2a = acc[1]
    f = acc[2]
    mub = acc[3]  # mean of the best last segment ending at each s: a point every old candidate can win
    inv = acc[4]
    ct = ints[1]  # start t
    cs = cand[1]  # S1 at t
    cg = cand[2]  # F(t) - S2(t)
    cl = cand[3]  # [L, H]: means where it beats every later newcomer
    ch = cand[4]
    ca = cand[5]  # (-inf, A) u (B, inf): superset of the means where it beat its elders at birth
    cb = cand[6]
    f[0] = 0.0
    mub[0] = 0.0
    last[: m] = 0
    nc = 0
    for s in range(m, n + 1):
        tn = s - m
        s1 = s1a[s]
        best = np.inf
        arg = 0
        if tn == 0 or tn >= m:  # a start with min_size samples behind it (0 is always allowed)
            gn = f[tn] - s2a[tn]
            s1n = s1a[tn]
            mu0 = mub[tn]
            A = np.inf
            B = -np.inf
            k = 0
            for j in range(nc):
                t = ct[j]
                sj = cs[j]
                g = cg[j]
                a = tn - t
                b = s1n - sj
                # j beats the newcomer where a*mu^2 - 2*b*mu + (g - gn) <= 0
                disc = b * b - a * (g - gn)
                r = math.sqrt(max(disc, 0.0))
                ia = inv[a]
                lo = (b - r) * ia
                hi = (b + r) * ia
                L = max(cl[j], lo)
                H = min(ch[j], hi)
                Aj = ca[j]
                Bj = cb[j]
                ok = disc >= 0.0
                alive = ok & ((min(H, Aj) > L) | (H > max(L, Bj)))
                join = ok & (lo <= mu0) & (mu0 <= hi)
                A = min(A, lo) if join else A
                B = max(B, hi) if join else B
                d = s1 - sj
                v = g - d * d * inv[s - t]
                better = alive & (v < best)
                best = v if better else best
                arg = t if better else arg
                ct[k] = t
                cs[k] = sj
                cg[k] = g
                cl[k] = L
                ch[k] = H
                ca[k] = Aj
                cb[k] = Bj
                k += alive
            ct[k] = tn
            cs[k] = s1n
            cg[k] = gn
            cl[k] = -np.inf
            ch[k] = np.inf
            ca[k] = A
            cb[k] = B
            nc = k + 1
            d = s1 - s1n
            v = gn - d * d * inv[m]
            if v < best:
                best = v
                arg = tn
        else:
            for i in range(nc):
                d = s1 - cs[i]
                v = cg[i] - d * d * inv[s - ct[i]]
                if v < best:
                    best = v
                    arg = ct[i]
        f[s] = best + s2a[s] + penalty
        last[s] = arg
        mub[s] = (s1 - s1a[arg]) * inv[s - arg]
    return last


@nb.njit(cache=True, nogil=True)
def segment_line_sums(z, flags):
    """(sum of Sxy, sum of Sxx, residual sum of squares about the segment means) of z over the segments
    that start where ``flags`` is True (and at 0), t = sample index: the pooled within-segment slope is
    Sxy / Sxx (``trend.py``)."""
    sxy, sxx, rss, _ = staircase_sums(z, flags, 0.0)
    return sxy, sxx, rss


@nb.njit(cache=True, nogil=True)
def staircase_sums(z, flags, limit):
    """``segment_line_sums`` and, in the same pass, how many changes gain less than ``limit`` in residual
    sum of squares (the drop from splitting their two neighbouring segments there; ``curve.marginal_changes``)."""
    n = z.shape[0]
    sxy = 0.0
    sxx = 0.0
    rss = 0.0
    a = 0
    sz = 0.0
    stz = 0.0
    szz = 0.0
    count = 0
    prev_sum = 0.0
    prev_len = 0
    for i in range(n + 1):
        if i == n or (i > 0 and flags[i]):
            m = float(i - a)
            tbar = (a + i - 1) / 2.0
            sxy += stz - tbar * sz
            sxx += m * (m * m - 1.0) / 12.0
            rss += szz - sz * sz / m
            k = i - a
            if prev_len > 0:
                d = sz / k - prev_sum / prev_len
                count += d * d * (k * prev_len / (k + prev_len)) < limit
            prev_sum = sz
            prev_len = k
            a = i
            sz = 0.0
            stz = 0.0
            szz = 0.0
        if i < n:
            v = z[i]
            sz += v
            stz += i * v
            szz += v * v
    return sxy, sxx, rss, count

"""All compiled (numba) code of the change-point package, in one module on purpose.

numba's on-disk cache (``cache=True``) is invalidated only when the *defining* module's file changes, not
when a compiled function it calls from another module does; keeping every njit function here means an
edit can never leave a stale compiled caller behind.

Sections: robust noise profile and despiking (see ``noise.py`` for the why), exact searches (see
``search.py``), the same FPOP on 4 series in lockstep (AVX, a small LLVM IR kernel; same flags), and the
row drivers that apply the NaN/scale/spike policy (see ``rows.py``).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from llvmlite import binding as _llb
from llvmlite import ir as _llir
from numba.core import cgutils as _cgutils
from numba.core import types as _nbtypes
from numba.extending import intrinsic as _intrinsic

# ---------------------------------------------------------------- noise profile
_MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4)
_MAX_PAIRS = 4096
PHI_MAX = 0.95  # beyond this the series is a random walk for our purposes; cap the inflation (x39)


_TRIM_KEEP = 0.98
_TRIM_VAR = 0.87347  # variance of N(0,1) truncated to its central 98 %


@nb.njit(cache=True, nogil=True)
def _select(b, k):
    """k-th smallest of b; reorders b in place. Branch-free partitions: on noise data the comparisons of a
    classic quickselect are coin flips, and mispredicted branches cost ~3x the whole selection."""
    lo = 0
    hi = b.shape[0]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        x0 = b[lo]
        x1 = b[mid]
        x2 = b[hi - 1]
        piv = max(min(x0, x1), min(max(x0, x1), x2))  # median of three
        store = lo
        for i in range(lo, hi):  # elements < pivot to the left
            v = b[i]
            b[i] = b[store]
            b[store] = v
            store += v < piv
        if k < store:
            hi = store
            continue
        eq = store
        for i in range(store, hi):  # then elements == pivot (quantised data has many)
            v = b[i]
            b[i] = b[eq]
            b[eq] = v
            eq += v == piv
        if k < eq:
            return piv
        lo = eq
    return b[k]


@nb.njit(cache=True, nogil=True)
def _select_bracketed(b, k):
    """k-th smallest of b (same value as ``_select``; reorders b). Ranks an evenly spaced sample of 128 to
    bracket the k-th value, keeps the ~25 % of b inside the bracket in one branch-free pass, and selects
    there; if the bracket missed (rare), falls back to the full selection. ~4x fewer operations on 4,096."""
    n = b.shape[0]
    if n < 1024:
        return _select(b, k)
    step = n // 128
    sample = b[::step].copy()
    ns = sample.shape[0]
    pos = (k * ns) // n
    # two selections instead of sorting the sample: the same two order statistics, ~5x cheaper
    lo_v = _select(sample, max(pos - 16, 0))
    hi_v = _select(sample, min(pos + 16, ns - 1))
    keep = np.empty(n)
    below = 0
    m = 0
    for i in range(n):
        v = b[i]
        below += v < lo_v
        keep[m] = v
        m += (v >= lo_v) & (v <= hi_v)
    if below <= k < below + m:
        return _select(keep[:m], k - below)
    return _select(b, k)


@nb.njit(cache=True, nogil=True)
def _robust_scale(a):
    """MAD scale; for quantised data (>= 10 % exact zeros, where the MAD collapses) a 2 %-trimmed RMS."""
    n = a.shape[0]
    if n == 0:
        return 0.0
    zeros = 0
    for i in range(n):
        if a[i] == 0.0:
            zeros += 1
    buf = a.copy()
    if zeros < 0.1 * n:
        med = _select_bracketed(buf, n // 2)
        for i in range(n):
            buf[i] = abs(a[i] - med)
        return _MAD_TO_SIGMA * _select_bracketed(buf, n // 2)
    for i in range(n):
        buf[i] = abs(a[i])
    cut = _select_bracketed(buf, min(int(_TRIM_KEEP * n), n - 1))
    acc = 0.0
    m = 0
    for i in range(n):
        if abs(a[i]) <= cut:
            acc += a[i] * a[i]
            m += 1
    return math.sqrt(acc / max(m, 1) / _TRIM_VAR)


@nb.njit(cache=True, nogil=True)
def noise_profile(x):
    """(sigma, phi, long_run_sigma, resolution) of a finite 1-D float64 array (see module docstring)."""
    n = x.shape[0]
    if n < 4:
        return 0.0, 0.0, 0.0, 0.0
    step = max(1, (n - 2) // _MAX_PAIRS)
    k = (n - 2 + step - 1) // step
    # rows: first differences d, d_t + d_{t-1}, d_t - d_{t-1}
    pairs = np.empty((3, k))
    for i in range(k):
        t = 2 + i * step
        a = x[t] - x[t - 1]
        b = x[t - 1] - x[t - 2]
        pairs[0, i] = a
        pairs[1, i] = a + b
        pairs[2, i] = a - b
    res = np.inf
    for i in range(1, n):  # branch-free: the comparison is a coin flip on noise
        g = abs(x[i] - x[i - 1])
        res = min(res, g if g > 0.0 else np.inf)
    if not np.isfinite(res):
        res = 0.0
    scales = np.empty(3)
    for r in range(3):  # one call site: numba/LLVM made repeated inlined calls ~6x slower here
        scales[r] = _robust_scale(pairs[r])
    s_d = scales[0]
    su = scales[1]
    sv = scales[2]
    den = su * su + sv * sv
    moving = 0
    for i in range(k):
        if pairs[0, i] != 0.0:
            moving += 1
    phi = 0.0
    # a signal pinned at one code (< 10 % of steps move) has no estimable autocorrelation: keep phi = 0
    if den > 0.0 and moving >= 0.1 * k:
        rho = (su * su - sv * sv) / den
        phi = min(max(1.0 + 2.0 * rho, 0.0), PHI_MAX)
    sigma = s_d / math.sqrt(2.0 * (1.0 - phi))
    floor = res / math.sqrt(12.0)
    if sigma < floor:
        sigma = floor
    long_run = sigma * math.sqrt((1.0 + phi) / (1.0 - phi))
    return sigma, phi, long_run, res


@nb.njit(cache=True, nogil=True)
def despike(x, sigma, width, threshold):
    """Replace samples further than threshold*sigma from the running median of ``width`` (odd) samples."""
    n = x.shape[0]
    out = x.copy()
    h = width // 2
    if h < 1 or n < width or sigma <= 0.0:
        return out
    w = np.empty(width)
    lim = threshold * sigma
    for i in range(h, n - h):
        # cheap necessary condition: a sample > lim off the median of 5 (or 3) is > lim off a neighbour
        if abs(x[i] - x[i - 1]) <= lim and abs(x[i] - x[i + 1]) <= lim:
            continue
        for j in range(width):
            w[j] = x[i - h + j]
        # insertion sort: width is 3 or 5
        for j in range(1, width):
            key = w[j]
            kk = j - 1
            while kk >= 0 and w[kk] > key:
                w[kk + 1] = w[kk]
                kk -= 1
            w[kk + 1] = key
        med = w[h]
        if abs(x[i] - med) > lim:
            out[i] = med
    return out


@nb.njit(cache=True, nogil=True)
def _auto_penalty(n, d, factor):
    if n < 2:
        return 1.0
    x = factor * math.log(n)
    d = max(d, 1)
    return d + 2.0 * math.sqrt(d * x) + 2.0 * x


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
def pelt_l2_joint(x, penalty, min_size):
    """Exact penalised L2 segmentation shared by the columns of a 2-D float64 array (n, d)."""
    n, d = x.shape
    m = max(int(min_size), 1)
    if n < 2 * m:
        return np.zeros(n, np.bool_)
    s1 = np.zeros((n + 1, d))
    q = np.zeros(n + 1)
    for i in range(n):
        acc = 0.0
        for k in range(d):
            s1[i + 1, k] = s1[i, k] + x[i, k]
            acc += x[i, k] * x[i, k]
        q[i + 1] = q[i] + acc
    f = np.empty(n + 1)
    f[0] = 0.0
    last = np.zeros(n + 1, np.int64)
    ct = np.empty(n + 2, np.int64)
    lo = np.empty((n + 2, d))  # bounding box of the means where the candidate can still win
    hi = np.empty((n + 2, d))
    nc = 0
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
            ct[nc] = tn
            for kk in range(d):
                lo[nc, kk] = -np.inf
                hi[nc, kk] = np.inf
            nc += 1
        best = np.inf
        arg = 0
        for i in range(nc):
            t = ct[i]
            acc = 0.0
            for kk in range(d):
                dd = s1[s, kk] - s1[t, kk]
                acc += dd * dd
            v = f[t] + (q[s] - q[t]) - acc / (s - t)
            if v < best:
                best = v
                arg = t
        f[s] = best + penalty
        last[s] = arg
    return _backtrack(last, n)



# ---------------------------------------------------------------- FPOP on 4 series in lockstep (AVX)
# ``_fpop_sums`` is bound by one sqrt and a compare/select chain per candidate, all scalar. Here 4 series
# (lanes) of the same length share one candidate table laid out [row, field, lane], so one <4 x double>
# operation serves the 4 lanes: 1 vsqrtpd + 2 vdivpd per row instead of 4 scalar sqrts. numba's vectorisers
# do not produce this (SLP is off by default; with it on, LLVM picked 2-wide code full of spills), so the
# step loop (a pass over the rows, the newcomer, F/back-pointer/best mean at s) is written in LLVM IR below
# and linked into the caller; numba keeps the first min_size steps and the compaction. Each lane computes the
# scalar expressions of ``_fpop_sums`` in the same order (no fast-math, no FMA contraction; 1/k by IEEE
# division equals the 1/k table), so flags are bit-identical to the scalar kernel (tested).
# Dead candidates are not moved out at once: their region is emptied (L = +inf, H = -inf: never alive,
# never joins, never best) and each lane's rows are compacted every _LANE_COMPACT steps, in order, so
# ties resolve as in the scalar kernel. Fields: 0 S1(t), 1 F(t) - S2(t), 2 L, 3 H, 4 A, 5 B, 6 t.
_LANE_COMPACT = 8
_V4 = "<4 x double>"


def _splat(x):
    return "<" + ", ".join([f"double {x}"] * 4) + ">"


_INF4, _NINF4 = _splat("0x7FF0000000000000"), _splat("0xFFF0000000000000")
_PASS4_IR = """
declare V4 @llvm.sqrt.v4f64(V4)

define internal void @wb_fpop_pass4(ptr noalias %cand, ptr noalias %st, i64 %rows, double %tnf, double %sf) {
entry:
  %p_s1n = getelementptr double, ptr %st, i64 4
  %p_mu0 = getelementptr double, ptr %st, i64 8
  %p_s1 = getelementptr double, ptr %st, i64 12
  %gn = load V4, ptr %st, align 8
  %s1n = load V4, ptr %p_s1n, align 8
  %mu0 = load V4, ptr %p_mu0, align 8
  %s1 = load V4, ptr %p_s1, align 8
  %tn0 = insertelement V4 poison, double %tnf, i64 0
  %tnv = shufflevector V4 %tn0, V4 poison, <4 x i32> zeroinitializer
  %sv0 = insertelement V4 poison, double %sf, i64 0
  %sv = shufflevector V4 %sv0, V4 poison, <4 x i32> zeroinitializer
  %has = icmp sgt i64 %rows, 0
  br i1 %has, label %loop, label %exit
loop:
  %j = phi i64 [0, %entry], [%j1, %loop]
  %best = phi V4 [INF4, %entry], [%best1, %loop]
  %argf = phi V4 [zeroinitializer, %entry], [%argf1, %loop]
  %A = phi V4 [INF4, %entry], [%A1, %loop]
  %B = phi V4 [NINF4, %entry], [%B1, %loop]
  %bj = mul i64 %j, 28
  %q0 = getelementptr double, ptr %cand, i64 %bj
  %q1 = getelementptr double, ptr %q0, i64 4
  %q2 = getelementptr double, ptr %q0, i64 8
  %q3 = getelementptr double, ptr %q0, i64 12
  %q4 = getelementptr double, ptr %q0, i64 16
  %q5 = getelementptr double, ptr %q0, i64 20
  %q6 = getelementptr double, ptr %q0, i64 24
  %sj = load V4, ptr %q0, align 8
  %g = load V4, ptr %q1, align 8
  %L0 = load V4, ptr %q2, align 8
  %H0 = load V4, ptr %q3, align 8
  %Aj = load V4, ptr %q4, align 8
  %Bj = load V4, ptr %q5, align 8
  %t = load V4, ptr %q6, align 8
  %af = fsub V4 %tnv, %t
  %ia = fdiv V4 ONE4, %af
  %wf = fsub V4 %sv, %t
  %iw = fdiv V4 ONE4, %wf
  %b = fsub V4 %s1n, %sj
  %bb = fmul V4 %b, %b
  %ggn = fsub V4 %g, %gn
  %aggn = fmul V4 %af, %ggn
  %disc = fsub V4 %bb, %aggn
  %neg = fcmp olt V4 %disc, zeroinitializer
  %dm = select <4 x i1> %neg, V4 zeroinitializer, V4 %disc
  %r = call V4 @llvm.sqrt.v4f64(V4 %dm)
  %bmr = fsub V4 %b, %r
  %lo = fmul V4 %bmr, %ia
  %bpr = fadd V4 %b, %r
  %hi = fmul V4 %bpr, %ia
  %c1 = fcmp ogt V4 %lo, %L0
  %L = select <4 x i1> %c1, V4 %lo, V4 %L0
  %c2 = fcmp olt V4 %hi, %H0
  %H = select <4 x i1> %c2, V4 %hi, V4 %H0
  %ok = fcmp oge V4 %disc, zeroinitializer
  %c3 = fcmp olt V4 %Aj, %H
  %mHA = select <4 x i1> %c3, V4 %Aj, V4 %H
  %x1 = fcmp ogt V4 %mHA, %L
  %c4 = fcmp ogt V4 %Bj, %L
  %mLB = select <4 x i1> %c4, V4 %Bj, V4 %L
  %x2 = fcmp ogt V4 %H, %mLB
  %x = or <4 x i1> %x1, %x2
  %alive = and <4 x i1> %ok, %x
  %lv = fcmp olt V4 %L0, %H0
  %jl = fcmp ole V4 %lo, %mu0
  %jh = fcmp ole V4 %mu0, %hi
  %jn0 = and <4 x i1> %ok, %lv
  %jn1 = and <4 x i1> %jl, %jh
  %join = and <4 x i1> %jn0, %jn1
  %c5 = fcmp olt V4 %lo, %A
  %Am = select <4 x i1> %c5, V4 %lo, V4 %A
  %A1 = select <4 x i1> %join, V4 %Am, V4 %A
  %c6 = fcmp ogt V4 %hi, %B
  %Bm = select <4 x i1> %c6, V4 %hi, V4 %B
  %B1 = select <4 x i1> %join, V4 %Bm, V4 %B
  %d = fsub V4 %s1, %sj
  %dd = fmul V4 %d, %d
  %ddw = fmul V4 %dd, %iw
  %v = fsub V4 %g, %ddw
  %lt = fcmp olt V4 %v, %best
  %better = and <4 x i1> %alive, %lt
  %best1 = select <4 x i1> %better, V4 %v, V4 %best
  %argf1 = select <4 x i1> %better, V4 %t, V4 %argf
  %Ls = select <4 x i1> %alive, V4 %L, V4 INF4
  %Hs = select <4 x i1> %alive, V4 %H, V4 NINF4
  store V4 %Ls, ptr %q2, align 8
  store V4 %Hs, ptr %q3, align 8
  %j1 = add i64 %j, 1
  %done = icmp eq i64 %j1, %rows
  br i1 %done, label %exit, label %loop
exit:
  %bf = phi V4 [INF4, %entry], [%best1, %loop]
  %gf = phi V4 [zeroinitializer, %entry], [%argf1, %loop]
  %Af = phi V4 [INF4, %entry], [%A1, %loop]
  %Bf = phi V4 [NINF4, %entry], [%B1, %loop]
  %p16 = getelementptr double, ptr %st, i64 16
  %p20 = getelementptr double, ptr %st, i64 20
  %p24 = getelementptr double, ptr %st, i64 24
  %p28 = getelementptr double, ptr %st, i64 28
  store V4 %bf, ptr %p16, align 8
  store V4 %gf, ptr %p20, align 8
  store V4 %Af, ptr %p24, align 8
  store V4 %Bf, ptr %p28, align 8
  ret void
}

define i64 @wb_fpop_steps4(ptr noalias %cand, ptr noalias %acc, ptr noalias %last, ptr noalias %pens,
                           ptr noalias %st, i64 %n2, i64 %m, i64 %s0, i64 %se, i64 %rows0, i64 %cap) {
entry:
  %plane = mul i64 %n2, 4
  %s2a = getelementptr double, ptr %acc, i64 %plane
  %fa = getelementptr double, ptr %s2a, i64 %plane
  %mua = getelementptr double, ptr %fa, i64 %plane
  %pen = load V4, ptr %pens, align 8
  %mf = sitofp i64 %m to double
  %invm = fdiv double 1.0, %mf
  %im0 = insertelement V4 poison, double %invm, i64 0
  %invm4 = shufflevector V4 %im0, V4 poison, <4 x i32> zeroinitializer
  %pst4 = getelementptr double, ptr %st, i64 4
  %pst8 = getelementptr double, ptr %st, i64 8
  %pst12 = getelementptr double, ptr %st, i64 12
  %pst16 = getelementptr double, ptr %st, i64 16
  %pst20 = getelementptr double, ptr %st, i64 20
  %pst24 = getelementptr double, ptr %st, i64 24
  %pst28 = getelementptr double, ptr %st, i64 28
  %pst36 = getelementptr double, ptr %st, i64 36
  %go = icmp slt i64 %s0, %se
  br i1 %go, label %step, label %done
step:
  %s = phi i64 [%s0, %entry], [%sn, %work]
  %rows = phi i64 [%rows0, %entry], [%rowsn, %work]
  %full = icmp sge i64 %rows, %cap
  br i1 %full, label %done, label %work
work:
  %tn = sub i64 %s, %m
  %otn = mul i64 %tn, 4
  %os = mul i64 %s, 4
  %pftn = getelementptr double, ptr %fa, i64 %otn
  %ps2tn = getelementptr double, ptr %s2a, i64 %otn
  %ps1tn = getelementptr double, ptr %acc, i64 %otn
  %pmutn = getelementptr double, ptr %mua, i64 %otn
  %ps1s = getelementptr double, ptr %acc, i64 %os
  %ftn = load V4, ptr %pftn, align 8
  %s2tn = load V4, ptr %ps2tn, align 8
  %s1n = load V4, ptr %ps1tn, align 8
  %mu0 = load V4, ptr %pmutn, align 8
  %s1 = load V4, ptr %ps1s, align 8
  %gn = fsub V4 %ftn, %s2tn
  store V4 %gn, ptr %st, align 8
  store V4 %s1n, ptr %pst4, align 8
  store V4 %mu0, ptr %pst8, align 8
  store V4 %s1, ptr %pst12, align 8
  %tnf = sitofp i64 %tn to double
  %sf = sitofp i64 %s to double
  call void @wb_fpop_pass4(ptr %cand, ptr %st, i64 %rows, double %tnf, double %sf)
  %best = load V4, ptr %pst16, align 8
  %argf = load V4, ptr %pst20, align 8
  %A = load V4, ptr %pst24, align 8
  %B = load V4, ptr %pst28, align 8
  %tv0 = insertelement V4 poison, double %tnf, i64 0
  %tnv = shufflevector V4 %tv0, V4 poison, <4 x i32> zeroinitializer
  %brow = mul i64 %rows, 28
  %r0 = getelementptr double, ptr %cand, i64 %brow
  %r1 = getelementptr double, ptr %r0, i64 4
  %r2 = getelementptr double, ptr %r0, i64 8
  %r3 = getelementptr double, ptr %r0, i64 12
  %r4 = getelementptr double, ptr %r0, i64 16
  %r5 = getelementptr double, ptr %r0, i64 20
  %r6 = getelementptr double, ptr %r0, i64 24
  store V4 %s1n, ptr %r0, align 8
  store V4 %gn, ptr %r1, align 8
  store V4 NINF4, ptr %r2, align 8
  store V4 INF4, ptr %r3, align 8
  store V4 %A, ptr %r4, align 8
  store V4 %B, ptr %r5, align 8
  store V4 %tnv, ptr %r6, align 8
  %d = fsub V4 %s1, %s1n
  %dd = fmul V4 %d, %d
  %ddm = fmul V4 %dd, %invm4
  %v = fsub V4 %gn, %ddm
  %lt = fcmp olt V4 %v, %best
  %best2 = select <4 x i1> %lt, V4 %v, V4 %best
  %argf2 = select <4 x i1> %lt, V4 %tnv, V4 %argf
  %ps2s = getelementptr double, ptr %s2a, i64 %os
  %s2s = load V4, ptr %ps2s, align 8
  %fb = fadd V4 %best2, %s2s
  %fs = fadd V4 %fb, %pen
  %pfs = getelementptr double, ptr %fa, i64 %os
  store V4 %fs, ptr %pfs, align 8
  %argi = fptosi V4 %argf2 to <4 x i64>
  %pls = getelementptr i64, ptr %last, i64 %os
  store <4 x i64> %argi, ptr %pls, align 8
  %ai0 = extractelement <4 x i64> %argi, i64 0
  %ix0a = mul i64 %ai0, 4
  %ix0 = add i64 %ix0a, 0
  %pg0 = getelementptr double, ptr %acc, i64 %ix0
  %e0 = load double, ptr %pg0, align 8
  %g0 = insertelement V4 poison, double %e0, i64 0
  %ai1 = extractelement <4 x i64> %argi, i64 1
  %ix1a = mul i64 %ai1, 4
  %ix1 = add i64 %ix1a, 1
  %pg1 = getelementptr double, ptr %acc, i64 %ix1
  %e1 = load double, ptr %pg1, align 8
  %g1 = insertelement V4 %g0, double %e1, i64 1
  %ai2 = extractelement <4 x i64> %argi, i64 2
  %ix2a = mul i64 %ai2, 4
  %ix2 = add i64 %ix2a, 2
  %pg2 = getelementptr double, ptr %acc, i64 %ix2
  %e2 = load double, ptr %pg2, align 8
  %g2 = insertelement V4 %g1, double %e2, i64 2
  %ai3 = extractelement <4 x i64> %argi, i64 3
  %ix3a = mul i64 %ai3, 4
  %ix3 = add i64 %ix3a, 3
  %pg3 = getelementptr double, ptr %acc, i64 %ix3
  %e3 = load double, ptr %pg3, align 8
  %g3 = insertelement V4 %g2, double %e3, i64 3
  %sv0 = insertelement V4 poison, double %sf, i64 0
  %sv = shufflevector V4 %sv0, V4 poison, <4 x i32> zeroinitializer
  %wv = fsub V4 %sv, %argf2
  %iw = fdiv V4 ONE4, %wv
  %dm = fsub V4 %s1, %g3
  %mb = fmul V4 %dm, %iw
  %pmus = getelementptr double, ptr %mua, i64 %os
  store V4 %mb, ptr %pmus, align 8
  %rowsn = add i64 %rows, 1
  %sn = add i64 %s, 1
  %end = icmp eq i64 %sn, %se
  br i1 %end, label %done, label %step
done:
  %sd = phi i64 [%s0, %entry], [%s, %step], [%sn, %work]
  %rd = phi i64 [%rows0, %entry], [%rows, %step], [%rowsn, %work]
  %rdf = sitofp i64 %rd to double
  store double %rdf, ptr %pst36, align 8
  ret i64 %sd
}
""".replace("NINF4", _NINF4).replace("INF4", _INF4).replace("ONE4", _splat("1.0")).replace("V4", _V4)


def _pass4_library(context):
    codegen = context.codegen()
    lib = codegen.create_library("wb_fpop_pass4")
    mod = _llb.parse_assembly(_PASS4_IR)
    mod.triple = _llb.get_process_triple()
    mod.data_layout = str(codegen.target_data)
    lib.add_llvm_module(mod)
    return lib


@_intrinsic
def _steps4(typingctx, cand, acc4, last, pens, st, m, s0, se, rows):
    """FPOP steps s0 <= s < se (each with tn = s - m == 0 or >= m) for 4 lanes (see the IR): per step one
    pass over ``rows`` candidate rows, the newcomer appended, F, back-pointer and best mean at s stored.
    Stops early when the table (cand.shape[0] rows) is full; returns the next step, row count in st[36]."""
    i64 = _nbtypes.int64
    sig = i64(cand, acc4, last, pens, st, m, s0, se, rows)

    def codegen(context, builder, signature, args):
        context.active_code_library.add_linking_library(_pass4_library(context))
        ptr = _llir.PointerType(_llir.IntType(8))
        li64 = _llir.IntType(64)
        fnty = _llir.FunctionType(li64, [ptr] * 5 + [li64] * 6)
        fn = _cgutils.get_or_insert_function(builder.module, fnty, "wb_fpop_steps4")
        arrs = [context.make_array(signature.args[i])(context, builder, args[i]) for i in range(5)]
        data = [builder.bitcast(a.data, ptr) for a in arrs]
        n2 = builder.extract_value(arrs[1].shape, 1)
        cap = builder.extract_value(arrs[0].shape, 0)
        return builder.call(fn, data + [n2] + [builder.sext(a, li64) if a.type != li64 else a
                                                for a in args[5:]] + [cap])

    return sig, codegen


@nb.njit(cache=True, nogil=True)
def _lanes_workspace(n):
    """Buffers for ``_fpop_sums4`` on 4 series of n samples: [4, n + 2, 4] sums of x, x^2, costs F, best
    last-segment means; candidate table [rows, 7, 4] (~10 rows live; the caller grows it if ever full);
    state (40,); back-pointers [n + 2, 4]."""
    return (np.empty((4, n + 2, 4)), np.empty((min(n + 2, 1024), 7, 4)), np.zeros(40),
            np.zeros((n + 2, 4), np.int64))


@nb.njit(cache=True, nogil=True)
def _compact4(cand, rows):
    """Moves each lane's live candidates (L < H) to the front in order; empties the rest; returns the
    new row count (the largest live count over the lanes). Branch-free: liveness is a coin flip."""
    out = 0
    for lane in range(4):
        w = 0
        for j in range(rows):
            live = cand[j, 2, lane] < cand[j, 3, lane]
            for fi in range(7):
                cand[w, fi, lane] = cand[j, fi, lane]
            w += live
        for j in range(w, rows):
            cand[j, 2, lane] = np.inf
            cand[j, 3, lane] = -np.inf
        out = max(out, w)
    return out


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _fpop_sums4(n, pens, min_size, acc4, cand, st, last):
    """``_fpop_sums`` on 4 series of n samples at once (n >= 2 * min_size): cumulative sums of x and x^2
    in acc4[0], acc4[1] ([index, lane]); fills last[: n + 1, lane] exactly as ``_fpop_sums`` would.
    Returns False (and nothing usable) if more candidates live at once than ``cand`` has rows."""
    m = max(int(min_size), 1)
    s1a = acc4[0]
    s2a = acc4[1]
    f = acc4[2]
    mub = acc4[3]
    for lane in range(4):
        f[0, lane] = 0.0
        mub[0, lane] = 0.0
        for s in range(m):
            last[s, lane] = 0
    rows = 0
    s = m
    while s <= n:
        tn = s - m
        if 0 < tn < m:  # no newcomer yet: the live candidates only compete
            for lane in range(4):
                s1 = s1a[s, lane]
                best = np.inf
                arg = 0
                for j in range(rows):
                    d = s1 - cand[j, 0, lane]
                    v = cand[j, 1, lane] - d * d * (1.0 / (s - cand[j, 6, lane]))
                    if cand[j, 2, lane] < cand[j, 3, lane] and v < best:
                        best = v
                        arg = int(cand[j, 6, lane])
                f[s, lane] = best + s2a[s, lane] + pens[lane]
                last[s, lane] = arg
                mub[s, lane] = (s1 - s1a[arg, lane]) * (1.0 / (s - arg))
            s += 1
            continue
        end = min(s + _LANE_COMPACT, n + 1) if tn > 0 else s + 1
        s_next = _steps4(cand, acc4, last, pens, st, m, s, end, rows)
        rows = _compact4(cand, int(st[36]))
        if s_next < end and rows == cand.shape[0]:
            return False  # full of live candidates: the caller grows the table
        s = s_next
    return True


# ---------------------------------------------------------------- row drivers
@nb.njit(cache=True, nogil=True)
def _spike_width(min_size):
    if min_size >= 5:
        return 5
    if min_size >= 3:
        return 3
    return 0


@nb.njit(cache=True, nogil=True)
def _scale_of(xv, min_size, factor, penalty, spike_threshold, n_series):
    """(centre, 1/scale, despike limit in scaled units, despike half-width, penalty, ok) of one series."""
    sigma, phi, long_run, res = noise_profile(xv)
    n = xv.shape[0]
    acc = 0.0
    for i in range(n):
        acc += xv[i]
    centre = acc / n  # centring only guards the cumulative sums' precision; the L2 cost is shift-free
    scale = 1.0
    ok = True
    if math.isnan(penalty):
        if not long_run > 0.0:
            ok = False  # constant series: nothing can change
        else:
            scale = long_run
        beta = _auto_penalty(n, n_series, factor)
    else:
        beta = penalty
    half = _spike_width(min_size) // 2
    lim = spike_threshold * (sigma / scale)
    if not (spike_threshold > 0.0 and lim > 0.0) or n < 2 * half + 1:
        half = 0
    return centre, 1.0 / scale, lim, half, beta, ok


@nb.njit(cache=True, nogil=True)
def _standardise(xv, centre, inv_scale, lim, half, z, s1a, s2a):
    """One pass: z = (x - centre) / scale with isolated spikes replaced by the running median of 2*half+1
    scaled samples, and the cumulative sums of z and z^2 for the search (``despike``'s rule, fused)."""
    n = xv.shape[0]
    a1 = 0.0
    a2 = 0.0
    s1a[0] = 0.0
    s2a[0] = 0.0
    if n == 0:
        return z
    w = np.empty(5)
    zp = (xv[0] - centre) * inv_scale
    zc = zp
    for i in range(n):
        zn = (xv[i + 1] - centre) * inv_scale if i + 1 < n else zc
        v = zc
        # a sample > lim off the median of 5 (or 3) is > lim off both neighbours: cheap test first
        if half > 0 and half <= i < n - half and (abs(zc - zp) > lim or abs(zc - zn) > lim):
            width = 2 * half + 1
            for j in range(width):
                w[j] = (xv[i - half + j] - centre) * inv_scale
            for j in range(1, width):  # insertion sort of 3 or 5
                key = w[j]
                kk = j - 1
                while kk >= 0 and w[kk] > key:
                    w[kk + 1] = w[kk]
                    kk -= 1
                w[kk + 1] = key
            if abs(zc - w[half]) > lim:
                v = w[half]
        z[i] = v
        a1 += v
        a2 += v * v
        s1a[i + 1] = a1
        s2a[i + 1] = a2
        zp = zc
        zc = zn
    return z


@nb.njit(cache=True, nogil=True)
def prepare(xv, min_size, factor, penalty, spike_threshold, n_series):
    """Centre, scale (auto penalty) and despike one valid-only series; returns (z, penalty, ok)."""
    centre, inv_scale, lim, half, beta, ok = _scale_of(xv, min_size, factor, penalty, spike_threshold, n_series)
    n = xv.shape[0]
    z = np.empty(n)
    if not ok:
        for i in range(n):
            z[i] = xv[i] - centre
        return z, 1.0, False
    sums = np.empty((2, n + 1))
    _standardise(xv, centre, inv_scale, lim, half, z, sums[0], sums[1])
    return z, beta, True


@nb.njit(cache=True, nogil=True)
def _flag_row(out, r, last, lane, nv, dense, valid):
    """Backtrack the back-pointers ``last[:, lane]`` of row r straight into the output row."""
    s = nv
    while s > 0:
        t = last[s, lane]
        if t > 0:
            out[r, t if dense else valid[t]] = True
        s = t


@nb.njit(cache=True, nogil=True)
def detect_rows(x, min_size, factor, penalty, spike_threshold):
    """Flags for each row of a 2-D float64 array (rows = series, columns = samples in order).

    ``penalty`` NaN means automatic (unit-free, scaled by ``factor``); otherwise data-unit^2.
    Gap-free rows are searched 4 at a time (``_fpop_sums4``, same flags); rows with gaps, and the last
    1-3 gap-free rows, one at a time.
    """
    rows, n = x.shape
    out = np.zeros((rows, n), np.bool_)
    acc, cand, ints = _fpop_workspace(n)  # once per block: no per-series allocation in the search
    zbuf = np.empty(n)
    valid = np.empty(0, np.int64)
    m = max(min_size, 1)
    acc4, cand4, st4, last4 = _lanes_workspace(n if rows >= 4 and n >= 2 * m else 0)
    pens = np.empty(4)
    lane_row = np.empty(4, np.int64)
    lanes = 0
    for r in range(rows):
        row = x[r]
        nv = 0
        for i in range(n):  # the common case has no gap: count without allocating a mask
            nv += np.isfinite(row[i])
        dense = nv == n
        if not dense:
            valid = np.flatnonzero(np.isfinite(row))
        if nv < 2 * m:
            continue
        xv = row if dense else row[valid]
        centre, inv_scale, lim, half, beta, ok = _scale_of(xv, min_size, factor, penalty, spike_threshold, 1)
        if not ok:
            continue
        if dense and acc4.shape[1] == n + 2:  # a lane of the next 4-series search
            _standardise(xv, centre, inv_scale, lim, half, zbuf, acc4[0][:, lanes], acc4[1][:, lanes])
            pens[lanes] = beta
            lane_row[lanes] = r
            lanes += 1
            if lanes == 4:
                while not _fpop_sums4(n, pens, min_size, acc4, cand4, st4, last4):
                    cand4 = np.empty((min(2 * cand4.shape[0], n + 2), 7, 4))  # rare: many live at once
                for lane in range(4):
                    _flag_row(out, lane_row[lane], last4, lane, n, True, valid)
                lanes = 0
            continue
        _standardise(xv, centre, inv_scale, lim, half, zbuf, acc[0], acc[1])
        last = _fpop_sums(nv, beta, min_size, acc, cand, ints)
        _flag_row(out, r, last.reshape((last.shape[0], 1)), 0, nv, dense, valid)
    for lane in range(lanes):  # the remainder: one at a time, from the sums already made
        acc[0][: n + 1] = acc4[0][: n + 1, lane]
        acc[1][: n + 1] = acc4[1][: n + 1, lane]
        last = _fpop_sums(n, pens[lane], min_size, acc, cand, ints)
        _flag_row(out, lane_row[lane], last.reshape((last.shape[0], 1)), 0, n, True, valid)
    return out


@nb.njit(cache=True, nogil=True)
def detect_rows_joint(x, min_size, factor, penalty, spike_threshold):
    """One segmentation shared by the d series of each block x[r] (shape rows, d, n); flags per row.

    Samples where any of the d series is NaN are dropped. Each series is scaled by its own long-run
    sigma (auto penalty), so a joint change is the sum of evidence in noise units; constant series are
    ignored.
    """
    rows, d, n = x.shape
    out = np.zeros((rows, n), np.bool_)
    for r in range(rows):
        ok_t = np.ones(n, np.bool_)
        for k in range(d):
            for t in range(n):
                if not np.isfinite(x[r, k, t]):
                    ok_t[t] = False
        valid = np.flatnonzero(ok_t)
        nv = valid.shape[0]
        if nv < 2 * max(min_size, 1):
            continue
        z = np.zeros((nv, d))
        used = 0
        for k in range(d):
            zk, beta_k, ok = prepare(x[r, k][valid], min_size, factor, penalty, spike_threshold, 1)
            if ok:
                z[:, k] = zk
                used += 1
        if used == 0:
            continue
        beta = _auto_penalty(nv, used, factor) if math.isnan(penalty) else penalty
        flags = pelt_l2_joint(z, beta, min_size)
        for i in range(nv):
            if flags[i]:
                out[r, valid[i]] = True
    return out



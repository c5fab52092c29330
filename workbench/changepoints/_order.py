"""Exact order statistics and robust scales of float64 arrays: the k-th smallest value (``_select``,
``_select_bracketed``), the MAD or trimmed-RMS scale (``_scale_in_place``, ``_abs_scale``, ``_centred_scale``)
and Rousseeuw & Croux's Qn (``_qn_scale``). ``_robust`` builds the noise profile on them.

The contract is exactness: every function returns the exact order statistic (or the scale computed from
exact ones), whatever path it takes (tested against NumPy in ``tests/test_changepoints_exact_speedups.py``).
numba's on-disk cache keys a compiled function by its own file, so ``_robust``'s cached functions keep the
code of this module they were compiled with: an edit here that keeps the values exact changes only their
speed until that cache is rebuilt (touch ``_robust.py``, or delete ``workbench/changepoints/__pycache__``).
An index that LLVM cannot prove non-negative (``b[store]``, ``x[i - 1]`` from a variable start) gets numba's
negative-index wraparound test, which stops vectorisation: the loops here use views indexed from 0 and
unsigned indices.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from llvmlite import binding as _llb
from llvmlite import ir as _llir
from numba.core import cgutils as _cgutils
from numba.core import types as _nbtypes
from numba.core.errors import TypingError as _TypingError
from numba.extending import intrinsic as _intrinsic

from ._ir import ir_library

_MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4)
_QN_TO_SIGMA = 2.21914  # Qn's consistency constant at the normal (robustbase::Qn)
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
        store = lo + _to_front(b[lo:hi], piv, False)  # elements < pivot to the left
        if k < store:
            hi = store
            continue
        if k == store:  # [store, hi) holds the pivot and nothing smaller: it is the k-th
            return piv
        if store > lo:  # progress without a second pass (noise data: the pivot is rarely repeated)
            lo = store
            continue
        eq = store + _to_front(b[store:hi], piv, True)  # the pivot is the range's minimum: its copies (quantised
        # data has many) out of the way
        if k < eq:
            return piv
        lo = eq
    return b[k]


@nb.njit(cache=True, nogil=True)
def _to_front(seg, piv, equal):
    """Moves the values of seg below piv (``equal``: equal to piv) to its front, in one branch-free pass;
    returns how many. The moving index is unsigned: numba's negative-index wraparound test on a signed one
    cost ~1/3 of the pass."""
    store = 0
    for i in range(seg.shape[0]):
        v = seg[i]
        at = np.uint64(store)
        seg[i] = seg[at]
        seg[at] = v
        store += (v == piv) if equal else (v < piv)
    return store


# ---------------------------------------------------------------- keeping the values inside a bracket
# The selections' costliest pass copies the values of an array that lie inside [lo, hi] to the front of
# another, in order. With AVX-512 one vcompresspd stores the 8 values of a vector that are inside at once
# (``llvm.masked.compressstore``, a few lines of LLVM IR below): ~5x faster than the branch-free scalar loop,
# which stays for CPUs without it (LLVM would expand the intrinsic into a branch per value there).
_KEEP_IR = """
declare void @llvm.masked.compressstore.v8f64(<8 x double>, ptr, <8 x i1>)
declare i8 @llvm.ctpop.i8(i8)

define i64 @wb_keep_between(ptr noalias %b, i64 %n, double %lo, double %hi, ptr noalias %keep) {
entry:
  %lo0 = insertelement <8 x double> poison, double %lo, i64 0
  %lov = shufflevector <8 x double> %lo0, <8 x double> poison, <8 x i32> zeroinitializer
  %hi0 = insertelement <8 x double> poison, double %hi, i64 0
  %hiv = shufflevector <8 x double> %hi0, <8 x double> poison, <8 x i32> zeroinitializer
  %any = icmp sgt i64 %n, 0
  br i1 %any, label %loop, label %exit
loop:
  %i = phi i64 [0, %entry], [%i1, %loop]
  %m = phi i64 [0, %entry], [%m1, %loop]
  %pb = getelementptr double, ptr %b, i64 %i
  %v = load <8 x double>, ptr %pb, align 8
  %c1 = fcmp oge <8 x double> %v, %lov
  %c2 = fcmp ole <8 x double> %v, %hiv
  %c = and <8 x i1> %c1, %c2
  %pk = getelementptr double, ptr %keep, i64 %m
  call void @llvm.masked.compressstore.v8f64(<8 x double> %v, ptr %pk, <8 x i1> %c)
  %bits = bitcast <8 x i1> %c to i8
  %cnt = call i8 @llvm.ctpop.i8(i8 %bits)
  %cnt64 = zext i8 %cnt to i64
  %m1 = add i64 %m, %cnt64
  %i1 = add i64 %i, 8
  %more = icmp slt i64 %i1, %n
  br i1 %more, label %loop, label %exit
exit:
  %mr = phi i64 [0, %entry], [%m1, %loop]
  ret i64 %mr
}
"""
_COMPRESS = bool(_llb.get_host_cpu_features().get("avx512f", False))  # frozen into the compiled code (numba's
# cache is keyed by the CPU, so a cache made elsewhere is not reused)


@_intrinsic
def _keep_between_avx512(typingctx, b, lo, hi, keep):
    """``_keep_between`` by vcompresspd (the IR above) on a C-contiguous float64 array whose length is a
    multiple of 8."""
    for a in (b, keep):
        if not (isinstance(a, _nbtypes.Array) and a.dtype == _nbtypes.float64 and a.ndim == 1 and a.layout == "C"):
            raise _TypingError(f"_keep_between needs C-contiguous 1-D float64 arrays, got {a}")
    sig = _nbtypes.int64(b, lo, hi, keep)

    def codegen(context, builder, signature, args):
        context.active_code_library.add_linking_library(ir_library(context, "wb_keep_between", _KEEP_IR))
        ptr = _llir.PointerType(_llir.IntType(8))
        li64 = _llir.IntType(64)
        dbl = _llir.DoubleType()
        fnty = _llir.FunctionType(li64, [ptr, li64, dbl, dbl, ptr])
        fn = _cgutils.get_or_insert_function(builder.module, fnty, "wb_keep_between")
        ab = context.make_array(signature.args[0])(context, builder, args[0])
        ak = context.make_array(signature.args[3])(context, builder, args[3])
        n = builder.extract_value(ab.shape, 0)
        lo_d = context.cast(builder, args[1], signature.args[1], _nbtypes.float64)
        hi_d = context.cast(builder, args[2], signature.args[2], _nbtypes.float64)
        return builder.call(fn, [builder.bitcast(ab.data, ptr), n, lo_d, hi_d, builder.bitcast(ak.data, ptr)])

    return sig, codegen


@nb.njit(cache=True, nogil=True)
def _keep_between(b, lo, hi, keep):
    """Copies the values v of b with lo <= v <= hi to the front of keep (len(keep) >= len(b)), in order;
    returns how many. keep's other slots up to len(b) may be overwritten."""
    if not _COMPRESS:
        return _keep_between_loop(b, lo, hi, keep)
    n8 = b.shape[0] - b.shape[0] % 8  # whole vectors by compress, the rest by the loop
    m = _keep_between_avx512(b[:n8], lo, hi, keep)
    return m + _keep_between_loop(b[n8:], lo, hi, keep[m:])


@nb.njit(cache=True, nogil=True)
def _keep_between_loop(b, lo, hi, keep):
    """``_keep_between`` in one branch-free scalar pass (CPUs without AVX-512)."""
    m = 0
    for i in range(b.shape[0]):
        v = b[i]
        keep[np.uint64(m)] = v  # unsigned: no wraparound test
        m += np.int64(v >= lo) & np.int64(v <= hi)
    return m


@nb.njit(cache=True, nogil=True)
def _select_bracketed(b, k):
    """k-th smallest of b (same value as ``_select``; may reorder b). Ranks an evenly spaced sample of ~128 to
    bracket the k-th value, keeps the ~25 % of b inside the bracket in one branch-free pass, and repeats on
    what it kept down to < 1024 values, then selects there; if a bracket missed (rare), falls back to the
    full selection of what is left. A pass costs ~1/4 of a partition step: ~6x fewer operations on 4,096."""
    n = b.shape[0]
    while n >= 1024:
        step = n // 128
        sample = b[::step].copy()
        ns = sample.shape[0]
        pos = (k * ns) // n
        # two selections instead of sorting the sample: the same two order statistics, ~5x cheaper
        lo_v = _select(sample, max(pos - 16, 0))
        hi_v = _select(sample, min(pos + 16, ns - 1))
        below = 0
        for i in range(n):  # a loop of its own with int counts: LLVM vectorises it (~2x the fused loop)
            below += np.int64(b[i] < lo_v)
        keep = np.empty(n)
        m = _keep_between(b[:n], lo_v, hi_v, keep)
        if not below <= k < below + m:
            return _select(b, k)
        if 2 * m > n:  # the bracket did not narrow (many equal values: quantised data): select there
            return _select(keep[:m], k - below)
        b = keep[:m]
        k -= below
        n = m
    return _select(b, k)


@nb.njit(cache=True, nogil=True)
def _scale_in_place(b, centred=False):
    """Robust scale of b: the MAD scale; for quantised data (>= 10 % exact zeros, where the MAD collapses) a
    2 %-trimmed RMS. b itself is the work buffer (reordered and overwritten): for arrays the caller made to be
    measured. ``centred``: b's median is known to be 0 (skips one selection)."""
    n = b.shape[0]
    if n == 0:
        return 0.0
    zeros = 0
    for i in range(n):
        zeros += np.int64(b[i] == 0.0)
    med = 0.0
    if not centred and zeros < 0.1 * n:
        med = _select_bracketed(b, n // 2)
    for i in range(n):
        b[i] = abs(b[i] - med)
    return _abs_scale(b, zeros)


@nb.njit(cache=True, nogil=True)
def _abs_scale(b, zeros):
    """``_scale_in_place``'s scale from b = |a - median| (|a| when there are >= 10 % exact zeros, ``zeros`` of them in
    a): the MAD scale, or the 2 %-trimmed RMS of a for quantised data. Reorders b."""
    n = b.shape[0]
    if zeros < 0.1 * n:
        return _MAD_TO_SIGMA * _select_bracketed(b, n // 2)
    keep = b.copy()  # the sum below runs in the samples' order (the same rounding as ever)
    cut = _select_bracketed(b, min(int(_TRIM_KEEP * n), n - 1))
    acc = 0.0
    m = 0
    for i in range(n):
        if keep[i] <= cut:
            acc += keep[i] * keep[i]
            m += 1
    return math.sqrt(acc / max(m, 1) / _TRIM_VAR)


@nb.njit(cache=True, nogil=True)
def _qn_scale(a):
    """Rousseeuw & Croux's Qn scale of a (>= 10 values): the first quartile of the pairwise distances
    |a_i - a_j| (the C(h, 2)-th, h = n // 2 + 1) x 2.21914, with the small-sample factor n / (n + 1.4) (odd n)
    or n / (n + 3.8) (even n) of Croux & Rousseeuw (1992). Breakdown 50 % like the MAD, but 82 % efficient
    at the normal instead of 37 %: on short series the MAD's own scatter, not the noise, decided the phi
    estimate (a white series of 20 samples read phi > 0.9 one time in 8). O(n^2): short series only."""
    n = a.shape[0]
    d = np.empty(n * (n - 1) // 2)
    m = 0
    for i in range(n):
        for j in range(i + 1, n):
            d[m] = abs(a[i] - a[j])
            m += 1
    h = n // 2 + 1
    q = _select(d, h * (h - 1) // 2 - 1)
    return _QN_TO_SIGMA * q * (n / (n + 1.4) if n % 2 else n / (n + 3.8))


@nb.njit(cache=True, nogil=True)
def _centred_scale(d):
    """Robust scale of d around its median (the median removes a linear trend from block differences)."""
    k = d.shape[0]
    buf = d.copy()
    med = _select_bracketed(buf, k // 2)
    zeros = 0
    for i in range(k):  # |d - median|: its own median is 0 exactly, so no second centring
        c = d[i] - med
        buf[i] = abs(c)
        zeros += np.int64(c == 0.0)
    return _abs_scale(buf, zeros), med

"""FPOP on 4 series in lockstep (AVX, a small LLVM IR kernel): the same flags as ``_kernels._fpop_sums``.

Kept because it earns its place: ``benchmarks/changepoints.py`` measures ``detect`` with the scalar kernel
instead 1.38-1.46x slower end to end (more than the issue's 20 %; README's change-point section).
Self-contained on purpose (numba's cache only notices edits to the defining file); only the step that turns
the IR text into a library numba links is shared (``_ir.py``).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir as _llir
from numba.core import cgutils as _cgutils
from numba.core import types as _nbtypes
from numba.extending import intrinsic as _intrinsic

from ._ir import ir_library

# ---------------------------------------------------------------- FPOP on 4 series in lockstep (AVX)
# ``_fpop_sums`` is bound by one sqrt and a compare/select chain per candidate, all scalar. Here 4 series
# (lanes) of the same length share one candidate table laid out [row, field, lane], so one <4 x double>
# operation serves the 4 lanes: 1 vsqrtpd per row instead of 4 scalar sqrts, and 1/(tn - t), 1/(s - t)
# gathered from a 1/k table (acc4[4], flat) as the scalar kernel reads them (two vdivpd per row cost more
# than the gathers: the divider is shared with the sqrt). numba's vectorisers
# do not produce this (SLP is off by default; with it on, LLVM picked 2-wide code full of spills), so the
# step loop (a pass over the rows, the newcomer, F/back-pointer/best mean at s) is written in LLVM IR below
# and linked into the caller; numba keeps the first min_size steps and the compaction. Each lane computes the
# scalar expressions of ``_fpop_sums`` in the same order (no fast-math, no FMA contraction; the same 1/k
# table; the one division per step, for the best mean, equals it by IEEE), so flags are bit-identical to the
# scalar kernel (tested).
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
declare V4 @llvm.masked.gather.v4f64.v4p0(<4 x ptr>, i32, <4 x i1>, V4)

define internal void @wb_fpop_pass4(ptr noalias %cand, ptr noalias %st, ptr noalias %inv, i64 %rows, double %tnf,
                                    double %sf, i64 %m) {
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
  %mv0 = insertelement <4 x i64> poison, i64 %m, i64 0
  %mv = shufflevector <4 x i64> %mv0, <4 x i64> poison, <4 x i32> zeroinitializer
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
  %ai = fptosi V4 %af to <4 x i64>
  %pa = getelementptr double, ptr %inv, <4 x i64> %ai
  %ia = call V4 @llvm.masked.gather.v4f64.v4p0(<4 x ptr> %pa, i32 8, <4 x i1> TRUE4, V4 poison)
  %wi = add <4 x i64> %ai, %mv
  %pw = getelementptr double, ptr %inv, <4 x i64> %wi
  %iw = call V4 @llvm.masked.gather.v4f64.v4p0(<4 x ptr> %pw, i32 8, <4 x i1> TRUE4, V4 poison)
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
  %inva = getelementptr double, ptr %mua, i64 %plane
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
  call void @wb_fpop_pass4(ptr %cand, ptr %st, ptr %inva, i64 %rows, double %tnf, double %sf, i64 %m)
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
""".replace("TRUE4", "<i1 true, i1 true, i1 true, i1 true>").replace("NINF4", _NINF4).replace("INF4", _INF4).replace("ONE4", _splat("1.0")).replace("V4", _V4)


@_intrinsic
def _steps4(typingctx, cand, acc4, last, pens, st, m, s0, se, rows):
    """FPOP steps s0 <= s < se (each with tn = s - m == 0 or >= m) for 4 lanes (see the IR): per step one
    pass over ``rows`` candidate rows, the newcomer appended, F, back-pointer and best mean at s stored.
    Stops early when the table (cand.shape[0] rows) is full; returns the next step, row count in st[36]."""
    i64 = _nbtypes.int64
    sig = i64(cand, acc4, last, pens, st, m, s0, se, rows)

    def codegen(context, builder, signature, args):
        context.active_code_library.add_linking_library(ir_library(context, "wb_fpop_pass4", _PASS4_IR))
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
    acc4 = np.empty((5, n + 2, 4))
    inv = acc4[4].reshape(-1)  # 1/k table (k <= n + 1), flat, as acc[4] of ``_kernels._fpop_workspace``
    inv[0] = 0.0
    for k in range(1, n + 2):
        inv[k] = 1.0 / k
    return acc4, np.empty((min(n + 2, 1024), 7, 4)), np.zeros(40), np.zeros((n + 2, 4), np.int64)


@nb.njit(cache=True, nogil=True)
def _compact4(cand, rows):
    """Moves each lane's live candidates (L < H) to the front in order; empties the rest; returns the
    new row count (the largest live count over the lanes). Branch-free: liveness is a coin flip."""
    out = 0
    for lane in range(4):
        w = 0
        while w < rows and cand[w, 2, lane] < cand[w, 3, lane]:  # the live rows before the first dead one
            w += 1  # stay where they are (candidates mostly die young, near the end of the table)
        for j in range(w, rows):
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



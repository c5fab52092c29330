"""FPOP on 4 or 8 series in lockstep (AVX2 / AVX-512, a small LLVM IR kernel): the same flags as
``_kernels._fpop_sums``.

Kept because it earns its place: ``benchmarks/changepoints.py`` measures ``detect`` with the scalar kernel
instead ~1.6x slower end to end (more than the issue's 20 %; README's change-point section), and 8 lanes
~1.35x faster than 4 where the CPU has AVX-512 (one IR text for both widths: no code of its own).
Self-contained on purpose (numba's cache only notices edits to the defining file); only the step that turns
the IR text into a library numba links is shared (``_ir.py``).
"""

from __future__ import annotations

import re

import numba as nb
import numpy as np
from llvmlite import binding as _llb
from llvmlite import ir as _llir
from numba.core import cgutils as _cgutils
from numba.core import types as _nbtypes
from numba.extending import intrinsic as _intrinsic

from ._ir import ir_library

LANES = 8 if _llb.get_host_cpu_features().get("avx512f", False) else 4  # series searched at once by default:
# 8 where <8 x double> is one AVX-512 register, else 4 (AVX2; 8 there would be two registers per operation)

# ---------------------------------------------------------------- FPOP on w series in lockstep
# ``_fpop_sums`` is bound by one sqrt and a compare/select chain per candidate, all scalar. Here w = 4 or 8
# series (lanes) of the same length share one candidate table laid out [row, field, lane], so one
# <w x double> operation serves the w lanes: 1 vsqrtpd per row instead of w scalar sqrts, and 1/(tn - t),
# 1/(s - t) by two vdivpd (the scalar kernel reads them from a table of 1/k, the same values by IEEE; gathers
# from that table were 1.2-1.35x slower than the divisions on this AMD EPYC, with 4 and 8 lanes alike).
# numba's vectorisers do not produce this (SLP is off by default; with it on, LLVM picked 2-wide code full
# of spills), so the step loop (a pass over the rows, the newcomer, F/back-pointer/best mean at s) is
# written in LLVM IR below and linked into the caller; numba keeps the first min_size steps and the
# compaction. Each lane computes the scalar expressions of ``_fpop_sums`` in the same order (no fast-math, no
# FMA contraction; 1/k correctly rounded as the table's; the one division per step, for the best mean,
# equals it by IEEE), so flags are bit-identical to the scalar kernel (tested at both widths).
# Dead candidates are not moved out at once: their region is emptied (L = +inf, H = -inf: never alive,
# never joins, never best) and each lane's rows are compacted every _LANE_COMPACT steps, in order, so
# ties resolve as in the scalar kernel. Fields: 0 S1(t), 1 F(t) - S2(t), 2 L, 3 H, 4 A, 5 B, 6 t.
_LANE_COMPACT = 8
_LANE_IR = """
declare VW @llvm.sqrt.vWf64(VW)
declare VW @llvm.masked.gather.vWf64.vWp0(VPTR, i32, VI1, VW)

define internal void @wb_fpop_passW(ptr noalias %cand, ptr noalias %st, i64 %rows, double %tnf, double %sf) {
entry:
  %p_s1n = getelementptr double, ptr %st, i64 #1
  %p_mu0 = getelementptr double, ptr %st, i64 #2
  %p_s1 = getelementptr double, ptr %st, i64 #3
  %gn = load VW, ptr %st, align 8
  %s1n = load VW, ptr %p_s1n, align 8
  %mu0 = load VW, ptr %p_mu0, align 8
  %s1 = load VW, ptr %p_s1, align 8
  %tn0 = insertelement VW poison, double %tnf, i64 0
  %tnv = shufflevector VW %tn0, VW poison, SPLAT0
  %sv0 = insertelement VW poison, double %sf, i64 0
  %sv = shufflevector VW %sv0, VW poison, SPLAT0
  %has = icmp sgt i64 %rows, 0
  br i1 %has, label %loop, label %exit
loop:
  %j = phi i64 [0, %entry], [%j1, %loop]
  %best = phi VW [INFW, %entry], [%best1, %loop]
  %argf = phi VW [zeroinitializer, %entry], [%argf1, %loop]
  %A = phi VW [INFW, %entry], [%A1, %loop]
  %B = phi VW [NINFW, %entry], [%B1, %loop]
  %bj = mul i64 %j, #7
  %q0 = getelementptr double, ptr %cand, i64 %bj
  %q1 = getelementptr double, ptr %q0, i64 #1
  %q2 = getelementptr double, ptr %q0, i64 #2
  %q3 = getelementptr double, ptr %q0, i64 #3
  %q4 = getelementptr double, ptr %q0, i64 #4
  %q5 = getelementptr double, ptr %q0, i64 #5
  %q6 = getelementptr double, ptr %q0, i64 #6
  %sj = load VW, ptr %q0, align 8
  %g = load VW, ptr %q1, align 8
  %L0 = load VW, ptr %q2, align 8
  %H0 = load VW, ptr %q3, align 8
  %Aj = load VW, ptr %q4, align 8
  %Bj = load VW, ptr %q5, align 8
  %t = load VW, ptr %q6, align 8
  %af = fsub VW %tnv, %t
  %ia = fdiv VW ONEW, %af
  %swt = fsub VW %sv, %t
  %iw = fdiv VW ONEW, %swt
  %b = fsub VW %s1n, %sj
  %bb = fmul VW %b, %b
  %ggn = fsub VW %g, %gn
  %aggn = fmul VW %af, %ggn
  %disc = fsub VW %bb, %aggn
  %neg = fcmp olt VW %disc, zeroinitializer
  %dm = select VI1 %neg, VW zeroinitializer, VW %disc
  %r = call VW @llvm.sqrt.vWf64(VW %dm)
  %bmr = fsub VW %b, %r
  %lo = fmul VW %bmr, %ia
  %bpr = fadd VW %b, %r
  %hi = fmul VW %bpr, %ia
  %c1 = fcmp ogt VW %lo, %L0
  %L = select VI1 %c1, VW %lo, VW %L0
  %c2 = fcmp olt VW %hi, %H0
  %H = select VI1 %c2, VW %hi, VW %H0
  %ok = fcmp oge VW %disc, zeroinitializer
  %c3 = fcmp olt VW %Aj, %H
  %mHA = select VI1 %c3, VW %Aj, VW %H
  %x1 = fcmp ogt VW %mHA, %L
  %c4 = fcmp ogt VW %Bj, %L
  %mLB = select VI1 %c4, VW %Bj, VW %L
  %x2 = fcmp ogt VW %H, %mLB
  %x = or VI1 %x1, %x2
  %alive = and VI1 %ok, %x
  %lv = fcmp olt VW %L0, %H0
  %jl = fcmp ole VW %lo, %mu0
  %jh = fcmp ole VW %mu0, %hi
  %jn0 = and VI1 %ok, %lv
  %jn1 = and VI1 %jl, %jh
  %join = and VI1 %jn0, %jn1
  %c5 = fcmp olt VW %lo, %A
  %Am = select VI1 %c5, VW %lo, VW %A
  %A1 = select VI1 %join, VW %Am, VW %A
  %c6 = fcmp ogt VW %hi, %B
  %Bm = select VI1 %c6, VW %hi, VW %B
  %B1 = select VI1 %join, VW %Bm, VW %B
  %d = fsub VW %s1, %sj
  %dd = fmul VW %d, %d
  %ddw = fmul VW %dd, %iw
  %v = fsub VW %g, %ddw
  %lt = fcmp olt VW %v, %best
  %better = and VI1 %alive, %lt
  %best1 = select VI1 %better, VW %v, VW %best
  %argf1 = select VI1 %better, VW %t, VW %argf
  %Ls = select VI1 %alive, VW %L, VW INFW
  %Hs = select VI1 %alive, VW %H, VW NINFW
  store VW %Ls, ptr %q2, align 8
  store VW %Hs, ptr %q3, align 8
  %j1 = add i64 %j, 1
  %done = icmp eq i64 %j1, %rows
  br i1 %done, label %exit, label %loop
exit:
  %bf = phi VW [INFW, %entry], [%best1, %loop]
  %gf = phi VW [zeroinitializer, %entry], [%argf1, %loop]
  %Af = phi VW [INFW, %entry], [%A1, %loop]
  %Bf = phi VW [NINFW, %entry], [%B1, %loop]
  %p_best = getelementptr double, ptr %st, i64 #4
  %p_arg = getelementptr double, ptr %st, i64 #5
  %p_A = getelementptr double, ptr %st, i64 #6
  %p_B = getelementptr double, ptr %st, i64 #7
  store VW %bf, ptr %p_best, align 8
  store VW %gf, ptr %p_arg, align 8
  store VW %Af, ptr %p_A, align 8
  store VW %Bf, ptr %p_B, align 8
  ret void
}

define i64 @wb_fpop_stepsW(ptr noalias %cand, ptr noalias %acc, ptr noalias %last, ptr noalias %pens,
                           ptr noalias %st, i64 %n2, i64 %m, i64 %s0, i64 %se, i64 %rows0, i64 %cap) {
entry:
  %plane = mul i64 %n2, #1
  %s2a = getelementptr double, ptr %acc, i64 %plane
  %fa = getelementptr double, ptr %s2a, i64 %plane
  %mua = getelementptr double, ptr %fa, i64 %plane
  %pen = load VW, ptr %pens, align 8
  %mf = sitofp i64 %m to double
  %invm = fdiv double 1.0, %mf
  %im0 = insertelement VW poison, double %invm, i64 0
  %invmw = shufflevector VW %im0, VW poison, SPLAT0
  %st_s1n = getelementptr double, ptr %st, i64 #1
  %st_mu0 = getelementptr double, ptr %st, i64 #2
  %st_s1 = getelementptr double, ptr %st, i64 #3
  %st_best = getelementptr double, ptr %st, i64 #4
  %st_arg = getelementptr double, ptr %st, i64 #5
  %st_A = getelementptr double, ptr %st, i64 #6
  %st_B = getelementptr double, ptr %st, i64 #7
  %st_rows = getelementptr double, ptr %st, i64 #9
  %go = icmp slt i64 %s0, %se
  br i1 %go, label %step, label %done
step:
  %s = phi i64 [%s0, %entry], [%sn, %work]
  %rows = phi i64 [%rows0, %entry], [%rowsn, %work]
  %full = icmp sge i64 %rows, %cap
  br i1 %full, label %done, label %work
work:
  %tn = sub i64 %s, %m
  %otn = mul i64 %tn, #1
  %os = mul i64 %s, #1
  %pftn = getelementptr double, ptr %fa, i64 %otn
  %ps2tn = getelementptr double, ptr %s2a, i64 %otn
  %ps1tn = getelementptr double, ptr %acc, i64 %otn
  %pmutn = getelementptr double, ptr %mua, i64 %otn
  %ps1s = getelementptr double, ptr %acc, i64 %os
  %ftn = load VW, ptr %pftn, align 8
  %s2tn = load VW, ptr %ps2tn, align 8
  %s1n = load VW, ptr %ps1tn, align 8
  %mu0 = load VW, ptr %pmutn, align 8
  %s1 = load VW, ptr %ps1s, align 8
  %gn = fsub VW %ftn, %s2tn
  store VW %gn, ptr %st, align 8
  store VW %s1n, ptr %st_s1n, align 8
  store VW %mu0, ptr %st_mu0, align 8
  store VW %s1, ptr %st_s1, align 8
  %tnf = sitofp i64 %tn to double
  %sf = sitofp i64 %s to double
  call void @wb_fpop_passW(ptr %cand, ptr %st, i64 %rows, double %tnf, double %sf)
  %best = load VW, ptr %st_best, align 8
  %argf = load VW, ptr %st_arg, align 8
  %A = load VW, ptr %st_A, align 8
  %B = load VW, ptr %st_B, align 8
  %tv0 = insertelement VW poison, double %tnf, i64 0
  %tnv = shufflevector VW %tv0, VW poison, SPLAT0
  %brow = mul i64 %rows, #7
  %r0 = getelementptr double, ptr %cand, i64 %brow
  %r1 = getelementptr double, ptr %r0, i64 #1
  %r2 = getelementptr double, ptr %r0, i64 #2
  %r3 = getelementptr double, ptr %r0, i64 #3
  %r4 = getelementptr double, ptr %r0, i64 #4
  %r5 = getelementptr double, ptr %r0, i64 #5
  %r6 = getelementptr double, ptr %r0, i64 #6
  store VW %s1n, ptr %r0, align 8
  store VW %gn, ptr %r1, align 8
  store VW NINFW, ptr %r2, align 8
  store VW INFW, ptr %r3, align 8
  store VW %A, ptr %r4, align 8
  store VW %B, ptr %r5, align 8
  store VW %tnv, ptr %r6, align 8
  %d = fsub VW %s1, %s1n
  %dd = fmul VW %d, %d
  %ddm = fmul VW %dd, %invmw
  %v = fsub VW %gn, %ddm
  %lt = fcmp olt VW %v, %best
  %best2 = select VI1 %lt, VW %v, VW %best
  %argf2 = select VI1 %lt, VW %tnv, VW %argf
  %ps2s = getelementptr double, ptr %s2a, i64 %os
  %s2s = load VW, ptr %ps2s, align 8
  %fb = fadd VW %best2, %s2s
  %fs = fadd VW %fb, %pen
  %pfs = getelementptr double, ptr %fa, i64 %os
  store VW %fs, ptr %pfs, align 8
  %argi = fptosi VW %argf2 to VI64
  %pls = getelementptr i64, ptr %last, i64 %os
  store VI64 %argi, ptr %pls, align 8
  %ixa = mul VI64 %argi, WSPLAT
  %ix = add VI64 %ixa, IOTA
  %pg = getelementptr double, ptr %acc, VI64 %ix
  %g3 = call VW @llvm.masked.gather.vWf64.vWp0(VPTR %pg, i32 8, VI1 TRUEW, VW poison)
  %sv0 = insertelement VW poison, double %sf, i64 0
  %sv = shufflevector VW %sv0, VW poison, SPLAT0
  %wv = fsub VW %sv, %argf2
  %iw = fdiv VW ONEW, %wv
  %dm = fsub VW %s1, %g3
  %mb = fmul VW %dm, %iw
  %pmus = getelementptr double, ptr %mua, i64 %os
  store VW %mb, ptr %pmus, align 8
  %rowsn = add i64 %rows, 1
  %sn = add i64 %s, 1
  %end = icmp eq i64 %sn, %se
  br i1 %end, label %done, label %step
done:
  %sd = phi i64 [%s0, %entry], [%s, %step], [%sn, %work]
  %rd = phi i64 [%rows0, %entry], [%rows, %step], [%rowsn, %work]
  %rdf = sitofp i64 %rd to double
  store double %rdf, ptr %st_rows, align 8
  ret i64 %sd
}
"""


def _lane_ir(w: int) -> str:
    """The IR above for w lanes: VW = <w x double>, #k = k * w (a field's offset in a row, a row's 7 fields,
    an index's w lanes), IOTA = the lane numbers, W = w in the function names."""
    def vec(t, x):
        return "<" + ", ".join([f"{t} {x}"] * w) + ">"

    text = re.sub(r"#(\d+)", lambda k: str(int(k.group(1)) * w), _LANE_IR)
    for token, value in (("TRUEW", vec("i1", "true")), ("NINFW", vec("double", "0xFFF0000000000000")),
                         ("INFW", vec("double", "0x7FF0000000000000")), ("ONEW", vec("double", "1.0")),
                         ("WSPLAT", vec("i64", w)), ("IOTA", "<" + ", ".join(f"i64 {i}" for i in range(w)) + ">"),
                         ("SPLAT0", f"<{w} x i32> zeroinitializer"), ("VI64", f"<{w} x i64>"), ("VI1", f"<{w} x i1>"),
                         ("VPTR", f"<{w} x ptr>"), ("vWf64", f"v{w}f64"), ("vWp0", f"v{w}p0"), ("VW", f"<{w} x double>"),
                         ("passW", f"pass{w}"), ("stepsW", f"steps{w}")):
        text = text.replace(token, value)
    return text


def _steps_intrinsic(w: int):
    """The numba intrinsic calling the IR's step loop for w lanes (``_steps4``, ``_steps8``)."""

    @_intrinsic
    def steps(typingctx, cand, acc, last, pens, st, m, s0, se, rows):
        i64 = _nbtypes.int64
        sig = i64(cand, acc, last, pens, st, m, s0, se, rows)

        def codegen(context, builder, signature, args):
            context.active_code_library.add_linking_library(ir_library(context, f"wb_fpop_pass{w}", _lane_ir(w)))
            ptr = _llir.PointerType(_llir.IntType(8))
            li64 = _llir.IntType(64)
            fnty = _llir.FunctionType(li64, [ptr] * 5 + [li64] * 6)
            fn = _cgutils.get_or_insert_function(builder.module, fnty, f"wb_fpop_steps{w}")
            arrs = [context.make_array(signature.args[i])(context, builder, args[i]) for i in range(5)]
            data = [builder.bitcast(a.data, ptr) for a in arrs]
            n2 = builder.extract_value(arrs[1].shape, 1)
            cap = builder.extract_value(arrs[0].shape, 0)
            return builder.call(fn, data + [n2] + [builder.sext(a, li64) if a.type != li64 else a
                                                    for a in args[5:]] + [cap])

        return sig, codegen

    steps.__doc__ = (f"FPOP steps s0 <= s < se (each with tn = s - m == 0 or >= m) for {w} lanes (the IR): per "
                     "step one pass over ``rows`` candidate rows, the newcomer appended, F, back-pointer and best "
                     "mean at s stored. Stops early when the table (cand.shape[0] rows) is full; returns the next "
                     f"step, the row count in st[{9 * w}].")
    return steps


_steps4 = _steps_intrinsic(4)
_steps8 = _steps_intrinsic(8)


@nb.njit(cache=True, nogil=True)
def _lanes_workspace(n, w=LANES):
    """Buffers for ``_fpop_lanes`` on w (4 or 8) series of n samples: [4, n + 2, w] sums of x, x^2, costs F,
    best last-segment means; candidate table [rows, 7, w] (~10 rows live; the caller grows it if ever full);
    state (10 w,); back-pointers [n + 2, w]."""
    return (np.empty((4, n + 2, w)), np.empty((min(n + 2, 1024), 7, w)), np.zeros(10 * w),
            np.zeros((n + 2, w), np.int64))


@nb.njit(cache=True, nogil=True)
def _compact(cand, rows):
    """Moves each lane's live candidates (L < H) to the front in order; empties the rest; returns the
    new row count (the largest live count over the lanes). Branch-free: liveness is a coin flip."""
    out = 0
    for lane in range(cand.shape[2]):
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
def _fpop_lanes(n, pens, min_size, acc, cand, st, last):
    """``_fpop_sums`` on w = len(pens) (4 or 8) series of n samples at once (n >= 2 * min_size), buffers from
    ``_lanes_workspace(n, w)``: cumulative sums of x and x^2 in acc[0], acc[1] ([index, lane]); fills
    last[: n + 1, lane] exactly as ``_fpop_sums`` would.
    Returns False (and nothing usable) if more candidates live at once than ``cand`` has rows."""
    w = pens.shape[0]
    m = max(int(min_size), 1)
    s1a = acc[0]
    s2a = acc[1]
    f = acc[2]
    mub = acc[3]
    for lane in range(w):
        f[0, lane] = 0.0
        mub[0, lane] = 0.0
        for s in range(m):
            last[s, lane] = 0
    rows = 0
    s = m
    while s <= n:
        tn = s - m
        if 0 < tn < m:  # no newcomer yet: the live candidates only compete
            for lane in range(w):
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
        if w == 8:
            s_next = _steps8(cand, acc, last, pens, st, m, s, end, rows)
        else:
            s_next = _steps4(cand, acc, last, pens, st, m, s, end, rows)
        rows = _compact(cand, int(st[9 * w]))
        if s_next < end and rows == cand.shape[0]:
            return False  # full of live candidates: the caller grows the table
        s = s_next
    return True

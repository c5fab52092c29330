"""Detection on plain arrays: rows of series (..., n) -> bool flags. The xarray layer calls these per block.

Per row: absurd values become gaps (``_robust.mask_gaps``), NaN/inf samples are dropped and detection runs
on the valid samples in order (flags go to the first valid sample of each new segment; fewer than
2 * min_size valid samples: no change), ``policy.plan`` picks the scale, penalty and model, then a pure
compiled kernel searches: FPOP (``_kernels``; 8 or 4 gap-free rows at a time in ``_lanes``), the joint search, or
the cycle model (``cycles.py``). Spikes and pulses shorter than a segment (a sample more than
``spike_threshold`` short-term sigmas off its running median over min(min_size - 1, 4) samples each side: a
dropout of a few scans) are replaced by that median first (min_size < 3: none).
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ._joint import pelt_l2_joint
from ._kernels import (
    _backtrack,
    _fpop_sums,
    _fpop_workspace,
    segment_line_sums,
    staircase_sums,
)
from ._lanes import LANES, _fpop_lanes, _lanes_workspace
from ._robust import mask_gaps, standardise
from .curve import (
    MARGINAL,
    choose_curve,
    choose_curve_joint,
    curve_baseline,
    curve_cost,
    curve_gate,
    is_short,
)
from .cycles import cycle_changes
from .policy import Plan, auto_penalty, plan
from .practical import merge_small_shifts
from .shape import shape_changes
from .trend import choose_trend, choose_trend_joint, pooled_slope, sloped

__all__ = ["LANES", "RowInfo", "detect_rows", "detect_rows_joint", "detect_rows_ruptures", "detect_rows_shape",
           "drift_choice", "prepare", "drift_beats_step"]


class RowInfo:
    """What the policy did over a block of rows: models chosen (with reasons) and absurd values masked."""

    def __init__(self):
        self.models: Counter = Counter()
        self.reasons: dict = {}
        self.masked = 0
        self.merged = 0  # changes merged away as smaller than min_shift (practical.py)

    def add(self, p: Plan | str, masked: int = 0):
        model = p if isinstance(p, str) else p.model
        self.models[model] += 1
        if not isinstance(p, str):
            self.reasons.setdefault(model, p.reason)
        self.masked += int(masked)

    def merge(self, other: RowInfo):
        self.models.update(other.models)
        for k, v in other.reasons.items():
            self.reasons.setdefault(k, v)
        self.masked += other.masked
        self.merged += other.merged


def _spike_half(min_size: int, spike_threshold: float, p: Plan, n: int) -> tuple[float, int]:
    width = 2 * min(min_size - 1, 4) + 1 if min_size >= 3 else 0
    lim = spike_threshold * p.sigma / p.scale if p.scale > 0 else 0.0
    if not (spike_threshold > 0 and lim > 0) or n < width:
        return 0.0, 0
    return lim, width // 2


def _clean(row: np.ndarray):
    """(masked row, valid indices or None if gap-free, number masked)."""
    clean, masked, gaps = mask_gaps(np.ascontiguousarray(row, dtype=np.float64))
    return clean, (None if gaps == 0 else np.flatnonzero(np.isfinite(clean))), masked


def prepare(xv: np.ndarray, min_size: int, factor: float, penalty: float, spike_threshold: float,
            allow_cycle: bool = False, at: np.ndarray | None = None) -> tuple[np.ndarray, Plan, np.ndarray]:
    """Standardise one finite series by its plan: (z, plan, cumulative sums [2, n + 1]); ``at``: its samples'
    positions in the row (gaps taken out; None: none)."""
    p = plan(xv, min_size=min_size, factor=factor, penalty=penalty, allow_cycle=allow_cycle, at=at)
    xv = xv if p.season is None else xv - p.season
    n = xv.shape[0]
    z = np.empty(n)
    sums = np.empty((2, n + 1))
    lim, half = _spike_half(min_size, spike_threshold, p, n)
    standardise(xv, p.centre, p.slope, 1.0 / p.scale if p.scale > 0 else 1.0, lim, half, z, sums[0], sums[1])
    return z, p, sums


def detect_rows(x, min_size, factor, penalty, spike_threshold, info: RowInfo | None = None, min_shift=0.0):
    """Flags for each row of a 2-D float64 array (rows = series, columns = samples in order).

    ``penalty`` NaN means automatic (unit-free, scaled by ``factor``); otherwise data-unit^2.
    Gap-free mean-shift/trend rows are searched ``LANES`` at a time (``_lanes``: 8 where the CPU has AVX-512,
    else 4; 4 when fewer rows than that; same flags as one at a time); of the rows left over, 4 in lockstep
    and the rest one at a time.
    ``min_shift`` > 0: each row's changes smaller than that are merged away as soon as its model is chosen
    (``practical.merge_small_shifts``, against the drift and season the model removed; cycle rows left alone).
    """
    x = np.asarray(x, dtype=np.float64)
    rows, n = x.shape
    info = info if info is not None else RowInfo()
    out = np.zeros((rows, n), bool)
    m = max(int(min_size), 1)
    acc, cand, ints = _fpop_workspace(n)
    w = LANES if rows >= LANES else 4  # lanes searched at once (fewer rows: 4, the rest one at a time)
    accw, candw, stw, lastw = _lanes_workspace(n if rows >= 4 and n >= 2 * m else 0, w)
    zbuf = np.empty((w + 1, n))  # the standardised series of each lane (0 to w - 1) and of a row searched alone
    pens = np.empty(w)
    lane_row = np.empty(w, np.int64)
    lane_plan: list = [None] * w
    lane_raw: list = [None] * w  # each lane's samples in data units, for the min_shift merge
    lanes = 0
    auto = math.isnan(penalty)  # mean-shift rows under the auto penalty are checked for a drift at once

    def finish(lane, flags):  # a lane's flags into its row, then the drift check and the min_shift merge
        rl, pl = lane_row[lane], lane_plan[lane]
        out[rl] = flags
        drift = _trend_or_steps(zbuf[lane], None, out, rl, pl, m, info) if auto else None
        if min_shift > 0:
            _merge_small(lane_raw[lane], None, out, rl, pl, drift, m, min_shift, info)
    for r in range(rows):
        clean, valid, masked = _clean(x[r])
        xv = clean if valid is None else np.ascontiguousarray(clean[valid])
        nv = xv.shape[0]
        if nv < 2 * m:
            info.add("too short", masked)
            continue
        p = plan(xv, min_size=m, factor=factor, penalty=penalty, at=valid)
        info.add(p, masked)
        if p.model == "constant":
            continue
        if p.model == "cycle":
            starts = cycle_changes(xv, p, min_size=m, factor=factor)
            out[r, starts if valid is None else valid[starts]] = True
            continue
        raw = xv
        if p.season is not None:
            xv = xv - p.season
        lim, half = _spike_half(m, spike_threshold, p, nv)
        if valid is None and accw.shape[1] == n + 2:  # a lane of the next w-series search
            standardise(xv, p.centre, p.slope, 1.0 / p.scale, lim, half, zbuf[lanes], accw[0][:, lanes],
                        accw[1][:, lanes])
            pens[lanes] = p.beta
            lane_row[lanes] = r
            lane_plan[lanes] = p
            lane_raw[lanes] = raw
            lanes += 1
            if lanes == w:
                candw = _search_lanes(n, pens, m, accw, candw, stw, lastw)
                for lane in range(w):
                    finish(lane, _backtrack(lastw[:, lane], n))  # a strided view: no copy of n back-pointers
                lanes = 0
            continue
        z = standardise(xv, p.centre, p.slope, 1.0 / p.scale, lim, half, zbuf[w, :nv], acc[0], acc[1])
        flags = _backtrack(_fpop_sums(nv, p.beta, m, acc, cand, ints), nv)
        out[r, np.flatnonzero(flags) if valid is None else valid[flags]] = True
        drift = _trend_or_steps(z, valid, out, r, p, m, info) if auto else None
        if min_shift > 0:
            _merge_small(raw, valid, out, r, p, drift, m, min_shift, info)
    done = 0
    if lanes >= 4 and w > 4:  # 4 of the rows left over in lockstep as well, from the sums already made
        acc4, cand4, st4, last4 = _lanes_workspace(n, 4)
        acc4[:2] = accw[:2, :, :4]
        _search_lanes(n, pens[:4].copy(), m, acc4, cand4, st4, last4)
        for lane in range(4):
            finish(lane, _backtrack(last4[:, lane], n))
        done = 4
    for lane in range(done, lanes):  # the rest: one at a time, from the sums already made
        acc[0][: n + 1] = accw[0][: n + 1, lane]
        acc[1][: n + 1] = accw[1][: n + 1, lane]
        finish(lane, _backtrack(_fpop_sums(n, pens[lane], m, acc, cand, ints), n))
    return out


def _search_lanes(n, pens, m, acc, cand, st, last):
    """``_fpop_lanes`` with the candidate table grown until it fits (rare: many live at once); the table."""
    while not _fpop_lanes(n, pens, m, acc, cand, st, last):
        cand = np.empty((min(2 * cand.shape[0], n + 2), 7, cand.shape[2]))
    return cand


def _merge_small(raw, valid, out, r, p: Plan, drift, m, min_shift, info: RowInfo):
    """``practical.merge_small_shifts`` on row r just detected, on its valid samples ``raw`` (data units, at
    ``valid``, None: all), against what its model removed: the season and ``drift`` (z units, from
    ``drift_choice``; None: none)."""
    own = out[r] if valid is None else out[r, valid]
    if not own.any():
        return
    removed = p.season
    if drift is not None:
        season = 0.0 if p.season is None else p.season
        removed = lambda starts: drift(starts) * p.scale + season  # noqa: E731
    new, merged = merge_small_shifts(raw, own, min_shift, m, removed)
    if merged or not np.array_equal(new, own):
        out[r] = False
        out[r, np.flatnonzero(new) if valid is None else valid[new]] = True
    info.merged += merged


def _trend_or_steps(z, valid, out, r, p: Plan, m, info: RowInfo):
    """``drift_choice`` on one row just searched as mean-shift, from the standardised valid samples ``z``
    the search used (at ``valid``, None: all); rewrites its flags if the drift or the smooth-baseline
    model wins. Returns that model's ``drift(starts)`` (z units; it reads z) or None."""
    own = out[r] if valid is None else out[r, valid]
    flags, model, reason, drift = drift_choice(z, own, p, m)
    if not model:
        return None
    out[r] = False
    out[r, np.flatnonzero(flags) if valid is None else valid[flags]] = True
    name = model if p.season is None else f"seasonal {model}"
    info.models[p.model] -= 1
    info.models[name] += 1
    info.reasons.setdefault(name, ("" if p.season is None else f"{p.reason}; ") + reason)
    return drift


def drift_choice(z, own, p: Plan, m):
    """(flags, model, reason, drift) of ``trend.choose_trend`` then ``curve.choose_curve`` given the
    mean-shift flags ``own`` of standardised z: model "" (and drift None) when the staircase stands, else
    "trend" or "curve" and ``drift(starts)``: the drift in z's unit fitted within the segments that begin
    at ``starts`` (change indices; the line's slope, or the curve's baseline with the knots chosen). Rows
    without a change are not checked; the trend model needs two (a drift is cut into a staircase of
    several) or one that a line through the row explains better, the curve model its gate
    (``curve.curve_gate``) or one that a cubic explains better (``drift_beats_step``)."""
    changes = int(np.count_nonzero(own))
    if not changes:
        return own, "", "", None
    short = is_short(z.shape[0], m)
    # a drift cut in two (or, on a short row, into a staircase whose few samples a segment give weak slopes)?
    line, bent = drift_beats_step(z, own, p.beta) if (changes == 1 or short) and z.ndim == 1 else (False, False)
    if z.ndim == 1 and not short:  # a long row: both models' gates in one pass first
        if changes < 2 and not bent:
            return own, "", "", None
        sxy, sxx, _, marginal = staircase_sums(z, np.ascontiguousarray(own, dtype=np.bool_), MARGINAL * p.beta)
        if marginal < 2 and not sloped(sxy, sxx) and not bent:  # flat segments, no marginal steps: staircase
            return own, "", "", None
        gate = marginal >= 2 or bent  # curve_gate's test on a long row
    else:  # flat segments, steps that pay many times over: no curve to try; nor on short seasonal rows (the
        # curve took a level shift under a season there: not yet resolved)
        gate = (p.season is None or not short) and (bent or curve_gate(z, own, p.beta, m))
    flags, slope = choose_trend(z, own, p.beta, m, force=line) if changes >= 2 or line else (own, 0.0)
    smooth, knots = own, None
    if gate:
        cost = staircase_cost(z if slope == 0.0 else z - slope * np.arange(z.shape[0]), flags, p.beta) + (
            p.beta if slope != 0.0 else 0.0)
        smooth, knots = choose_curve(z, own, p.beta, m, cost)
    if knots is not None:
        return smooth, "curve", CURVE_REASON, lambda starts: curve_baseline(z, knots, starts)
    if slope != 0.0:
        return flags, "trend", TREND_REASON, lambda starts: pooled_slope(z, starts[starts > 0])[0] * np.arange(
            z.shape[0], dtype=np.float64)
    return own, "", "", None


def drift_beats_step(z: np.ndarray, flags: np.ndarray, beta: float = 0.0) -> tuple[bool, bool]:
    """(line, cubic): whether one line, or one cubic, through standardised z (n,) leaves a smaller residual
    sum of squares than the step of ``flags``, or, for k > 1 steps, than the staircase with (k - 1) x ``beta``
    for the changes it has more. Then the step may be a drift cut in two, and the trend model (line) or the
    curve model (cubic) is tried whatever the slope within its halves: that z-score is weak when the halves
    are short or the noise autocorrelated (AR(1) phi 0.5 under a drift of 3 sd over 400 samples kept a step in
    half of the series; a drift of 5 sd under a removed season on 300 samples was cut into 3-4 segments with
    slope z-scores of 0.6-2.8). Only a gate: each model still has to pay its penalties. A real step of d
    long-run sigmas leaves a line about n d^2 / 16 and a cubic about n d^2 / 28 unexplained (a step in the
    middle: the best odd cubic of sign(x) misses 14 % of its energy): it stays a step."""
    zc = np.ascontiguousarray(z, dtype=np.float64)
    f = np.ascontiguousarray(flags, dtype=np.bool_)
    _, _, rss_step = segment_line_sums(zc, f)
    rss_step += beta * (np.count_nonzero(f) - 1)
    fit = _cubic_basis(zc.shape[0]).T @ zc  # coefficients on orthonormal polynomials of degree 0-3
    rss_line = float(zc @ zc) - float(fit[0] ** 2 + fit[1] ** 2)
    rss_cubic = rss_line - float(fit[2] ** 2 + fit[3] ** 2)
    return rss_line < rss_step, rss_cubic < rss_step


@lru_cache(maxsize=8)
def _cubic_basis(n: int) -> np.ndarray:
    """(n, 4) orthonormal columns spanning 1, t, t^2, t^3 on n equally spaced samples, nested (the first two
    span the lines): a fit's residual sum of squares is |z|^2 minus its squared coefficients."""
    u = np.linspace(-1.0, 1.0, n)
    q, _ = np.linalg.qr(np.stack([np.ones(n), u, u * u, u * u * u], axis=1))
    q.flags.writeable = False
    return q


TREND_REASON = ("the segments of a mean-shift fit all sloped one way: drift removed (lower penalised cost with one "
                "penalty for the slope)")
CURVE_REASON = ("the mean-shift fit was a staircase of marginal steps that a smooth curve follows: a smooth baseline "
                "(cubic spline) removed (lower penalised cost with one penalty per coefficient)")


def staircase_cost(z, flags, beta) -> float:
    """Residual sum of squares of z (n,) or (n, d) about the segment means of ``flags`` + beta per change."""
    f = np.ascontiguousarray(flags, dtype=np.bool_)
    zz = z.reshape(z.shape[0], -1)
    rss = sum(segment_line_sums(np.ascontiguousarray(zz[:, k]), f)[2] for k in range(zz.shape[1]))
    return float(rss) + beta * int(np.count_nonzero(f))


JOINT_DRIFT_REASON = ("the segments of the joint mean-shift fit sloped one way in some series: a drift per series "
                      "removed (lower penalised cost with one joint penalty for the slopes), as the trend model does")


JOINT_CURVE_REASON = ("the joint mean-shift fit was a staircase of marginal steps: a smooth baseline (cubic spline) per "
                      "series removed (lower penalised cost with one joint penalty per coefficient), as the curve "
                      "model does")


def detect_rows_joint(x, min_size, factor, penalty, spike_threshold, info: RowInfo | None = None, min_shift=0.0):
    """One segmentation shared by the d series of each block x[r] (shape rows, d, n); flags per row.

    Absurd values are masked per series, then samples where any series is NaN are dropped. Each series is
    standardised by its own plan (no cycle model); a joint change is the sum of evidence in noise units, and
    the penalty is the chi-square bound for d series: eight quiet sensors do not add up eight sets of false
    alarms. Under the auto penalty the trend model is chosen as for one series, on the joint fit
    (``trend.choose_trend_joint``, counted in the attrs): a trending rig is not cut into a staircase.
    Constant series are ignored. ``min_shift`` > 0: a change stays if its step reaches it in any one series
    (``practical.merge_small_shifts`` on the rig's samples, the joint model's drift taken off first).
    """
    x = np.asarray(x, dtype=np.float64)
    rows, d, n = x.shape
    info = info if info is not None else RowInfo()
    out = np.zeros((rows, n), bool)
    m = max(int(min_size), 1)
    for r in range(rows):
        rig = joint_rig(x[r], m, factor, penalty, spike_threshold)
        info.masked += rig.masked
        if rig.z2 is None:
            info.add("too short")
            continue
        info.add(f"joint over {len(rig.used)} series")
        if not rig.used:
            continue
        flags = pelt_l2_joint(rig.z2, rig.beta, m)
        drift = None
        if math.isnan(penalty) and np.count_nonzero(flags) >= 2:  # trend and curve models, on the joint fit
            flags, model, drift = joint_drift(rig.z2, flags, rig.beta, m, auto_penalty(rig.valid.size, factor=factor))
            if model:
                info.models[model] += 1
                info.reasons.setdefault(model, JOINT_DRIFT_REASON if model == "joint: drift removed"
                                        else JOINT_CURVE_REASON)
        if min_shift > 0 and flags.any():
            flags, merged = merge_small_shifts(rig.values, flags, min_shift, m, _in_data_units(rig, drift))
            info.merged += merged
        out[r, rig.valid[flags]] = True
    return out


def _in_data_units(rig: JointRig, drift):
    """``drift(starts)`` (valid, d) in data units of the z-unit drift of the rig's used columns (0 for a
    constant series), or None."""
    if drift is None:
        return None

    def removed(starts):
        full = np.zeros(rig.values.shape)
        full[:, rig.used] = drift(starts) * rig.scales
        return full

    return removed


class JointRig(NamedTuple):
    """What the joint search works on for one rig: ``valid`` sample indices (finite in every series), their
    ``values`` (valid, d; data units, absurd values masked), the ``used`` series (not constant), their
    standardised columns ``z2`` (valid, used; None when too short), their ``scales`` (data units per z
    unit), the penalty ``beta`` and the count of ``masked`` values."""
    valid: np.ndarray
    values: np.ndarray
    used: list
    z2: np.ndarray | None
    scales: np.ndarray
    beta: float
    masked: int


def joint_rig(xr_: np.ndarray, m: int, factor: float, penalty: float, spike_threshold: float) -> JointRig:
    """:class:`JointRig` of one rig (d, n): absurd values masked per series, samples where any series is
    NaN dropped, each series standardised by its own plan (no cycle model), constant series left out."""
    d, n = xr_.shape
    cleaned = [_clean(xr_[k]) for k in range(d)]
    ok = np.ones(n, bool)
    for clean, _, _ in cleaned:
        ok &= np.isfinite(clean)
    masked = sum(int(c[2]) for c in cleaned)
    valid = np.flatnonzero(ok)
    values = np.stack([clean[valid] for clean, _, _ in cleaned], axis=1)
    if valid.size < 2 * m:
        return JointRig(valid, values, [], None, np.empty(0), math.nan, masked)
    used, cols, scales = [], [], []
    for k in range(d):
        z, p, _ = prepare(np.ascontiguousarray(values[:, k]), m, factor, penalty, spike_threshold, at=valid)
        if p.model != "constant":
            used.append(k)
            cols.append(z)
            scales.append(p.scale)
    z2 = np.ascontiguousarray(np.stack(cols, axis=1)) if cols else np.empty((valid.size, 0))
    beta = auto_penalty(valid.size, len(cols), factor=factor) if math.isnan(penalty) else penalty
    return JointRig(valid, values, used, z2, np.asarray(scales, dtype=np.float64), beta, masked)


def joint_drift(z2, own, beta, m, beta_one):
    """(flags, model or "", drift or None) of the joint fit's drift choice; ``drift(starts)``: the drift of
    every column of z2 (n, d) fitted within the segments that begin at ``starts`` (a line per column, or
    its curve baseline). The curve model first (against the staircase): when it wins, a straight drift per
    series within its segments (no search) is kept if that costs less (lines are curves with fewer
    coefficients); otherwise the trend model's own refits (``trend.choose_trend_joint``, slow on a curved
    residual, so only when no curve fits)."""
    smooth, knots = choose_curve_joint(z2, own, beta, m, staircase_cost(z2, own, beta))
    if knots is not None:
        starts = np.flatnonzero(smooth)
        sxy, sxx, _ = np.array([_line_sums(z2[:, k], smooth) for k in range(z2.shape[1])]).T
        slopes = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
        line = staircase_cost(z2 - np.arange(z2.shape[0])[:, None] * slopes, smooth, beta) + beta
        curve = curve_cost(z2, starts, beta, knots)
        if line <= curve:
            return smooth, "joint: drift removed", lambda at: _joint_lines(z2, at)
        return smooth, "joint: curve removed", lambda at: curve_baseline(z2, knots, at)
    flags, slopes = choose_trend_joint(z2, own, beta, beta, m, beta_one)
    if np.any(slopes != 0.0):
        return flags, "joint: drift removed", lambda at: _joint_lines(z2, at)
    return flags, "", None


def _joint_lines(z2, starts):
    """A straight drift per column of z2 (n, d), each slope pooled within the segments starting at ``starts``."""
    t = np.arange(z2.shape[0], dtype=np.float64)
    starts = np.asarray(starts)
    return np.stack([pooled_slope(z2[:, k], starts[starts > 0])[0] * t for k in range(z2.shape[1])], axis=1)


def _line_sums(z, flags):
    return segment_line_sums(np.ascontiguousarray(z), np.ascontiguousarray(flags, dtype=np.bool_))


def detect_rows_shape(x, min_size, info: RowInfo | None = None):
    """``method="shape"``: changes in pattern (``shape.py``) on the valid samples of each row."""
    x = np.asarray(x, dtype=np.float64)
    info = info if info is not None else RowInfo()
    out = np.zeros(x.shape, bool)
    for r in range(x.shape[0]):
        clean, valid, masked = _clean(x[r])
        xv = clean if valid is None else np.ascontiguousarray(clean[valid])
        info.add(Plan("shape", "changes in pattern (ClaSP): neighbouring windows told apart at a split beyond "
                               "chance"), masked)
        starts = shape_changes(xv, min_size=max(int(min_size), 1))
        out[r, starts if valid is None else valid[starts]] = True
    return out


def detect_rows_ruptures(x, *, min_size, factor, penalty, spike_threshold, method, cost, n_bkps):
    """The same policy (mean-shift/trend scaling) with a ruptures search (slow pure-Python costs)."""
    import ruptures as rpt

    rows, n = x.shape
    out = np.zeros((rows, n), bool)
    for r in range(rows):
        clean, valid, _ = _clean(x[r])
        valid = np.arange(n) if valid is None else valid
        if valid.size < 2 * max(min_size, 1):
            continue
        z, p, _ = prepare(np.ascontiguousarray(clean[valid]), min_size, factor, penalty, spike_threshold, at=valid)
        if p.model == "constant":
            continue
        algo = _ruptures_algo(rpt, method, cost, min_size).fit(z)
        try:
            ends = algo.predict(n_bkps=n_bkps) if n_bkps is not None else algo.predict(pen=p.beta)
        except rpt.exceptions.BadSegmentationParameters:
            continue  # too few samples for that many changes: report none rather than guess
        for e in ends[:-1]:
            out[r, valid[e]] = True
    return out


def _ruptures_algo(rpt, method, cost, min_size):
    if method == "kernelcpd":
        return rpt.KernelCPD(kernel="linear" if cost == "l2" else cost, min_size=min_size, jump=1)
    cls = {"pelt": rpt.Pelt, "binseg": rpt.Binseg, "bottomup": rpt.BottomUp, "dynp": rpt.Dynp}[method]
    return cls(model=cost, min_size=min_size, jump=1)

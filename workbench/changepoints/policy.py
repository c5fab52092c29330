"""The default's policy, in one place: how noisy a series is, what a change must beat, which model fits.

Everything ``detect(penalty="auto")`` decides per series, before the compiled search (a pure kernel) runs:

1. **Absurd values** (``_robust.mask_absurd``): PLC bad-value codes (|x| >= 1e30: 3.4e38, -9.9e37, ...) and
   values more than 20 robust ranges (q99 - q01) outside the series' 1-99 % range become gaps (NaN), counted
   in the result's attrs; a gap can neither create nor hide a change.
2. **Long-run noise sigma** (the yardstick of a change in mean): the larger of
   - the AR(1) estimate from differences (``noise.py``: MAD of differences, robust lag-1 correlation,
     inflation sqrt((1 + phi) / (1 - phi)), floored at resolution / sqrt(12) for coarse quantisation),
   - the block estimate (``_robust.block_profile``): differences of adjacent block means, b = 2, 4, 8 ...
     samples per block with >= 128 blocks, spikes removed first, scale x sqrt(b / 2), the largest over b. It needs no noise model,
     so AR + quantisation together, slow wander and periodic components cannot make it too small, and
   - for a series read through coarse steps (resolution >= 0.1 sigma and fewer than half of its first
     differences move: a slow signal on an ADC of a few counts), the semivariogram estimate
     (``_robust.variogram_profile``: an AR(1) fitted to the robust scales of the differences at lags h and
     2h, h the first lag at which half of them move). There the differences alternate +-1 count around a
     code boundary and read a short memory, and on ~1,000 samples the block estimate has too few blocks to
     reach the long memory: AR(1) phi 0.9 rounded to 1 sd read a long-run sigma of a quarter of the truth.
     With only three codes (rounded to 2-3 sd) no lag moves half the time; there the block estimate down to
     32 blocks with its 1/b bias extrapolated away (``_robust.block_extrapolated``, Richardson's step
     2 V(2b) - V(b)) is added: false changes on 1,000 quiet samples 73-100 % -> 7-8 %; not to a two-valued
     series (a state: on/off, open/closed), whose flips are level changes. It is added as well
     when phi >= LONG_MEMORY_PHI (slow wander: the AR(1) inflation is capped at phi 0.95, and 128 blocks
     are shorter than a memory of phi 0.98-0.99 on a few thousand samples: 35-44 % -> 15-21 % false at 3,000).
   **Set levels** (``held_levels``: a setpoint, recipe or mode tag exported with the sensors) are the
   exception: most samples equal the one before, at most 5 distinct values that come back, most moves jump
   two resolutions or more, holds of all lengths (not a value sampled slower and held). Every estimate
   above reads their moves as noise (random 3-5 level staircases: F1 0.03-0.05); their yardstick is the
   AR(1) one, floored at resolution / sqrt(12).
   Level shifts and spikes touch few differences and are ignored by the robust scales. Noise that grows
   along the series (``spread_ratio``): the sigma is multiplied by the noisiest 1/16's spread of differences
   over the median 1/16's when that ratio is beyond sampling error (4 standard errors of a MAD), so the
   noisy end does not cry wolf; steady noise keeps ratio 1 and loses no power.
3. **Penalty** per change: the chi-square tail bound 1 + 2 sqrt(log n) + 2 log n in units of that long-run
   variance (``auto_penalty``), so autocorrelation enters through the yardstick, not through tuning.
4. **Model** per series, with the reason kept (``Plan.reason``; counted in the result's attrs):
   - ``cycle``: a smooth or structured series (phi >= 0.5, or block sigma > 2 x the AR(1) one) with a dominant
     period P (first autocorrelation peak after its first zero, >= 0.3, at least 10 cycles): the series is
     cut into cycles of P samples and a change is a change in the cycles' level, spread, roughness or
     envelope (``cycles.py``); a traverse or a regeneration cycle is never cut inside, and a segment lasts
     at least 5 cycles.
   - ``trend``: after the search, the segments found all slope the same way (pooled within-segment slope,
     z > 3) and removing that drift gives a lower penalised cost, one penalty more for the slope
     (``trend.py``): a drift cut into a staircase is one drift.
   - ``curve``: the staircase found has two or more marginal steps (each pays its penalty less than 10
     times over: the stairs of a drift gain about 3 penalties each, real steps many) or segments that still
     slope (``curve.curve_gate``: the one or two stairs of a drift on a short series), and a smooth baseline
     (cubic B-spline, K = 0, 1, 3, 7 or 15 uniform knots at least ``curve_spacing`` samples apart: never so
     close that it could bend through a step of STEP_OF_INTEREST long-run sigmas for less than the step's
     penalty, which sets the spacing from the penalty alone, 57 samples at n = 450; series of 500 samples or more keep 1-15 knots >= 250 samples apart), fitted
     within the segments and refitted with the search until the change points stop moving, gives a lower
     penalised cost than the mean-shift and trend models, its K + 3 coefficients paying the chi-square
     bound for that many degrees of freedom (``curve.py``): an exponential warm-up or a filter loading is
     one curve, and steps riding on it are still steps (a spline cannot make a step).
   - ``seasonal``: a series that is not a cycle (nor set levels, nor a two-valued state) whose semivariogram
     dips at a period P and again at 2P (a season riding on a trend or level shifts, ``seasons.py``; on a
     series that is not smooth only seasons longer than n / 64, which the block estimate cannot see, are
     looked for, on 256 block means: ~8 us a 10,000-sample series): the seasonal profile (phase medians
     around a moving average, each sample's phase from its position, so a gap does not shift it) is
     removed, and a second, longer season looked for in what is left (weekends under days), then as
     ``mean-shift`` (and ``trend``, ``curve``) on what is left.
   - ``mean-shift``: otherwise; changes in mean under the long-run noise.
5. **Joint** (``detect(joint=...)``, ``rows.detect_rows_joint``): each series standardised by its own plan
   (no cycle model), the penalty for d series, and the trend choice made on the joint fit
   (``trend.choose_trend_joint``: a drift per series when the slopes within the joint segments beat the
   joint penalty (chi-square of their z-scores) and removing them costs less, one joint penalty more), so a drifting rig is not cut into
   a staircase (a drift too weak to cut one series still cuts the sum of eight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._robust import (
    PHI_MAX,
    _auto_penalty,
    block_extrapolated,
    block_profile,
    noise_profile,
    spread_profile,
    two_valued,
    variogram_profile,
)
from .seasons import SCAN_POINTS, SLOW_POINTS, find_season, seasonal_profile

MIN_BLOCKS = 128  # blocks per scale in the block estimate (a MAD of 127 values: ~14 % relative error;
# 9 steps in 127 differences inflate it by < 10 %)
SPIKE_SIGMAS = 5.0  # isolated samples this far off their running median are ignored by the estimates
STRUCTURE_RATIO = 2.0  # block / AR(1) long-run sigma above which we look for a period
SMOOTH_PHI = 0.5  # ... or lag-1 correlation of the noise at least this (smooth signals; white noise: 0)
PERIOD_ACF = 0.3  # autocorrelation at the period needed to call a series periodic
MIN_CYCLES = 10  # cycles needed to consider the cycle model (two segments of 5 cycles)
CYCLES_PER_SEGMENT = 5
FUNDAMENTAL = 0.8  # the first autocorrelation peak at least this share of the highest is the period
CURVE_KNOTS = (0, 1, 3, 7, 15)  # interior knots tried for the smooth baseline (nested: each halves the
# spacing; 0: one cubic through the series)
STEP_OF_INTEREST = 3.0  # long-run sigmas: the smallest step a smooth baseline must never absorb (the Shewhart
# 3-sigma shift; the step the defaults are held to find)
STEP_ABSORBED = 0.085  # a cubic spline with knots h samples apart leaves >= this x h x step^2 of a step's
# squares unexplained (least squares, unit step anywhere between knots: 0.085 - 0.12 x h)
STEP_POWER_Z = 2.326  # ... with this many standard errors to spare (a step of interest kept 99 % of the time)
CURVE_MIN_SEGMENTS = 4  # knot spacing at least this many x min_size: no bend of the baseline (a B-spline spans
# 4 spacings) is shorter than 16 of the shortest segments
SPREAD_BLOCKS = 16  # pieces whose noise spread is compared (heteroscedastic noise)
SPREAD_MIN = 64  # differences per piece at least (shorter series: no comparison)
SPREAD_SE = 1.17  # relative standard error of a MAD scale x sqrt(differences)
SPREAD_Z = 4.0  # largest / median piece spread beyond 1 + SPREAD_Z standard errors: the noise grows
LEVEL_BLOCKS = 32  # pieces whose medians are removed before looking for a period behind level shifts
COARSE_STEP = 0.1  # resolution (smallest step) at least this x sigma: the series may be read through coarse
MIN_MOVING = 0.5  # steps; if fewer than this share of its first differences move, the semivariogram estimate
# (from the first lag at which this share moves) and the extrapolated block estimate are added
COARSE_BLOCKS = 32  # blocks at the coarsest scale of the extrapolated block estimate (a MAD of 31 differences)
MAX_SET_LEVELS = 5  # distinct values at most in held levels
MIN_REVISITS = 0.5  # share of moves landing on a value held before, at least, in held levels
MIN_HOLDS = 4  # holds between moves needed to read set levels at all (fewer: the estimates as for other series)
SAMPLED_HOLD = 0.5  # the shortest tenth of holds at least this x the median: a value sampled slower and held
HELD_REASON = ("level changes of set levels (a setpoint, recipe or mode tag: most samples equal to the one before, "
               "a few values far apart, moved at irregular times): every move judged against the resolution")
MAX_SEASONS = 2  # seasons removed one after the other (a day, then a week)
LONG_MEMORY_PHI = 0.9  # lag-1 correlation from which the extrapolated block estimate is added as well (the AR(1)
# inflation is capped at PHI_MAX, and 128 blocks of a few thousand samples are shorter than the memory)

__all__ = ["Plan", "plan", "auto_penalty", "curve_spacing", "long_run", "dominant_period", "PHI_MAX"]


@dataclass(frozen=True)
class Plan:
    """What the default does with one series: model (and why), and the numbers the search needs."""

    model: str  # "mean-shift", "trend", "cycle", "constant"
    reason: str
    centre: float = 0.0
    slope: float = 0.0  # per sample, removed before the search (trend model)
    scale: float = 1.0  # data units per unit of the search (the long-run sigma for penalty="auto")
    sigma: float = 0.0  # short-term noise sigma, for the spike rule
    beta: float = 1.0  # penalty per change, in search units
    period: int = 0  # samples per cycle (cycle model) or per season (seasonal model)
    season: np.ndarray | None = None  # the seasonal component, removed before the search (seasonal model)


def auto_penalty(n: int, n_series: int = 1, *, factor: float = 1.0) -> float:
    """Penalty per change in units of the long-run noise variance (chi-square tail bound, see module doc).

    >>> round(auto_penalty(10_000), 1)
    25.5
    """
    return _auto_penalty(int(n), int(n_series), float(factor))


def curve_spacing(beta: float, min_size: int) -> float:
    """Fewest samples between the knots of the curve model's smooth baseline, from what it must not do: absorb
    a step of STEP_OF_INTEREST long-run sigmas. A spline with knots h apart bends through a step d with a
    residual sum of squares >= STEP_ABSORBED x h x d^2 (noise units), and the step is kept as a change when
    that pays its penalty ``beta`` with STEP_POWER_Z standard errors to spare:
    h >= (sqrt(beta) + z)^2 / (STEP_ABSORBED x d^2); and CURVE_MIN_SEGMENTS x ``min_size``.

    >>> round(curve_spacing(auto_penalty(100), 5)), round(curve_spacing(auto_penalty(10_000), 5))
    (49, 71)
    """
    step = (math.sqrt(beta) + STEP_POWER_Z) ** 2 / (STEP_ABSORBED * STEP_OF_INTEREST ** 2)
    return max(step, CURVE_MIN_SEGMENTS * float(min_size))


def long_run(xv: np.ndarray, min_blocks: int = MIN_BLOCKS, efficient: bool = True) -> dict:
    """Noise profile of a finite 1-D float64 array: sigma, phi, AR(1), block and (coarse steps or long
    memory only) semivariogram / extrapolated block long-run sigma ("levels"), trend. ``efficient=False``:
    the MAD even on short series (``noise.py``)."""
    sigma, phi, lr_ar, res = noise_profile(xv, efficient)
    lr_block, slope, z = block_profile(xv, min_blocks, sigma, 5, SPIKE_SIGMAS)  # spikes removed first
    lr_levels = 0.0
    lag = 1
    if res > 0.0 and res >= COARSE_STEP * sigma:  # read through coarse steps: differences hide the memory
        lr_levels, _, lag = variogram_profile(xv, MIN_MOVING)
    still = lag != 1  # most first differences 0
    if still and held_levels(xv, res):  # set levels, no noise between their moves: the estimates from lags and
        # blocks read the moves as noise; the yardstick is the AR(1) one, floored at the quantisation res / sqrt(12)
        return dict(sigma=sigma, phi=phi, long_run_ar=lr_ar, long_run_block=lr_block, long_run_levels=0.0,
                    long_run_sigma=lr_ar, resolution=res, slope=slope, trend_z=z, held=True)
    # a slow signal read through a few codes (not a two-valued state: its flips are level changes), or a
    # memory the 128 blocks cannot reach
    if (still and not two_valued(xv)) or phi >= LONG_MEMORY_PHI:
        lr_levels = max(lr_levels, block_extrapolated(xv, COARSE_BLOCKS))
    return dict(sigma=sigma, phi=phi, long_run_ar=lr_ar, long_run_block=lr_block, long_run_levels=lr_levels,
                long_run_sigma=max(lr_ar, lr_block, lr_levels), resolution=res, slope=slope, trend_z=z, held=False)


def held_levels(xv: np.ndarray, res: float) -> bool:
    """Whether a series whose first differences are mostly 0 holds set levels (a setpoint, a recipe or mode
    tag) rather than a slow signal read through a few codes or a noisy value sampled slower and held in
    between (a lab result, a slow scan). Set levels are the only reading under which every move is a change,
    so all of these must hold (each rule measured on generators of the other kinds:
    ``tests/test_changepoints_set_levels.py``):
    - at most MAX_SET_LEVELS distinct values, which come back (at least MIN_REVISITS of the moves land on a
      value held before), and at least half of the moves jump two resolutions or more: set values are few
      and far apart, while noise read on a grid moves mostly between neighbouring codes (normal noise with
      <= 5 distinct codes: 0.12-0.20 of its moves jump; a slow signal or a ramp through codes: few or none);
    - its holds come in all lengths (MIN_HOLDS or more; the shortest tenth shorter than SAMPLED_HOLD x the
      median): a value sampled every P samples has a shortest hold near P (p10 / median 0.56-0.92 with jitter
      up to +-40 %; random setpoint staircases 0.11-0.5)."""
    at = np.flatnonzero(xv[1:] != xv[:-1]) + 1  # where each move lands
    moves = at.size
    if moves <= MIN_HOLDS or 2 * np.count_nonzero(np.abs(xv[at] - xv[at - 1]) >= 2.0 * res) < moves:
        return False
    levels = np.unique(xv[np.r_[0, at]]).size
    if levels > MAX_SET_LEVELS or moves + 1 - levels < MIN_REVISITS * moves:
        return False
    holds = np.diff(at)  # the holds between moves
    return bool(np.percentile(holds, 10) < SAMPLED_HOLD * np.median(holds))


def spread_ratio(xv: np.ndarray) -> float:
    """How much noisier the noisiest 1/16 of the series is than the median one (robust scale of first
    differences per piece), when beyond sampling error (SPREAD_Z standard errors); else 1.0. The long-run
    sigma is multiplied by it, so noise whose sd grows along the series is judged by its noisiest part,
    not its median level (homoscedastic noise: 1.0, no power lost)."""
    per = (xv.shape[0] - 1) // SPREAD_BLOCKS
    if per < SPREAD_MIN:
        return 1.0
    big, med = spread_profile(xv, SPREAD_BLOCKS)
    if not med > 0.0:
        return 1.0
    ratio = big / med
    return float(ratio) if ratio > 1.0 + SPREAD_Z * SPREAD_SE / math.sqrt(min(per, 256)) else 1.0


def dominant_period(xv: np.ndarray) -> tuple[int, float]:
    """(P, autocorrelation at P): after the autocorrelation's first zero crossing, the first peak at least
    0.8 x the highest one (the highest can be a multiple of the period); (0, 0) if none.

    Level shifts hide a period (their long excursions dominate the autocorrelation), so the peak is first
    looked for after removing the median of each 1/32 of the series (which keeps periods up to half that
    piece); only if there is none there, in the whole series.

    >>> t = np.arange(2000)
    >>> dominant_period(np.sin(2 * np.pi * t / 50))[0]
    50
    """
    n = xv.shape[0]
    blocks = n // LEVEL_BLOCKS
    if blocks >= 8:
        k = n // blocks
        levels = np.median(xv[: k * blocks].reshape(k, blocks), axis=1)
        local = _acf_peak(xv - np.r_[np.repeat(levels, blocks), np.full(n - k * blocks, levels[-1])], blocks // 2)
        if local[1] >= PERIOD_ACF:
            return local
    return _acf_peak(xv - np.median(xv), n // MIN_CYCLES)


def _season(xv: np.ndarray, beta: float, long_run_sigma: float, points: int, at: np.ndarray | None) -> Plan | None:
    """The seasonal model (``seasons.py``; scanned on at most ``points`` block means, phases from ``at``):
    the plan of the series minus its seasonal profile, or None when it has no season or removing it leaves
    no less noise than the series' own ``long_run_sigma``. A longer season left in what remains (a week
    under a day: weekends) is removed as well, up to MAX_SEASONS; each must lower the long-run sigma."""
    season, periods, y, p = None, [], xv, None
    while len(periods) < MAX_SEASONS:
        period, dip = find_season(y, points, at, periods[-1][0] if periods else 0)
        if not period or (periods and period <= periods[-1][0]):
            break
        profile = seasonal_profile(y, period, at)
        q = long_run(y - profile)
        if not 0.0 < q["long_run_sigma"] < (long_run_sigma if p is None else p["long_run_sigma"]):
            break
        y, p = y - profile, q
        season = profile if season is None else season + profile
        periods.append((period, dip))
    if season is None:
        return None
    named = " and ".join(f"{period} samples (the variogram dips {dip:.0%} there)" for period, dip in periods)
    return Plan("seasonal", f"a season of {named} removed, then level changes under long-run noise",
                float(np.add.reduce(y) / y.shape[0]), 0.0, p["long_run_sigma"] * spread_ratio(y), p["sigma"], beta,
                periods[0][0], season)


def _acf_peak(x: np.ndarray, max_lag: int) -> tuple[int, float]:
    n = x.shape[0]
    if max_lag < 4:
        return 0, 0.0
    f = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[: max_lag + 1]
    if not ac[0] > 0:
        return 0, 0.0
    ac = ac / ac[0]
    neg = np.flatnonzero(ac < 0)
    if neg.size == 0:
        return 0, 0.0
    tail = ac[neg[0]:]
    peaks = np.flatnonzero((tail[1:-1] >= tail[:-2]) & (tail[1:-1] >= tail[2:])) + 1
    if peaks.size == 0:
        return 0, 0.0
    top = tail[peaks].max()
    p = int(neg[0] + peaks[np.argmax(tail[peaks] >= FUNDAMENTAL * top)])  # multiples of P peak about as high
    return p, float(ac[p])


def plan(xv: np.ndarray, *, min_size: int, factor: float = 1.0, penalty: float = math.nan,
         allow_cycle: bool = True, n_series: int = 1, at: np.ndarray | None = None) -> Plan:
    """The policy for one finite series (see module doc). ``penalty`` NaN means automatic; a number is
    used as given in the data's unit squared (ruptures' convention: no scaling, no model choice). ``at``: the
    samples' positions along the row when its gaps were taken out (None: none), for a season's phase."""
    n = xv.shape[0]
    # the mean guards the cumulative sums' precision (the L2 cost is shift-free); np.mean's own pairwise sum
    # and division without its Python wrapper (~15 us a series)
    centre = float(np.add.reduce(xv) / n)
    p = long_run(xv)
    if not math.isnan(penalty):
        return Plan("mean-shift", "numeric penalty: data units, no model choice", centre, 0.0, 1.0,
                    p["sigma"], float(penalty))
    lr = p["long_run_sigma"] * spread_ratio(xv)
    if not lr > 0.0:
        return Plan("constant", "no variation: nothing can change", centre)
    beta = auto_penalty(n, n_series, factor=factor)
    smooth = p["phi"] >= SMOOTH_PHI or p["long_run_block"] > STRUCTURE_RATIO * p["long_run_ar"]
    if allow_cycle and smooth:
        period, acf = dominant_period(xv)
        if period >= 2 and acf >= PERIOD_ACF and n >= MIN_CYCLES * period:
            return Plan("cycle", f"periodic: {period} samples per cycle (autocorrelation {acf:.2f})", centre,
                        0.0, lr, p["sigma"], beta, period)
    # a season is looked for in every series but set levels and states (their moves and flips are changes);
    # where the series is not smooth, only seasons too slow for the block estimate to see (> n / 64 samples)
    season = None if p["held"] else _season(xv, beta, p["long_run_sigma"], SCAN_POINTS if smooth else SLOW_POINTS, at)
    if season is not None and not two_valued(xv):  # (a state checked only when a season was found: rare)
        return season
    reason = HELD_REASON if p["held"] else "level changes under long-run noise"
    return Plan("mean-shift", reason, centre, 0.0, lr, p["sigma"], beta)

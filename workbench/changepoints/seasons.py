"""Seasons: a periodic component riding on a trend and level shifts, removed before the search for steps.

A monthly or weekly economic series, a shift pattern or a dry room's daily cycle is a *season* on top of a
drift and of the level shifts we look for. The cycle model (``cycles.py``) only sees a period that dominates
the raw series' autocorrelation; a trend or a shift hides it there, and the season's swing then reads as
strong autocorrelation (phi near 1), so a long-run sigma many times the noise hid every real step; or, where
the season is slow against the sampling (52 samples a year), the noise estimates never see it and its swing
is cut into "level shifts" (90 % of 520-sample weekly series with a yearly season of 3 noise sds).

The period is looked for in the series' **semivariogram** v(h) = mean of (x[t + h] - x[t])^2 / 2 over t
(all lags by one FFT, or direct sums on short series): noise gives a plateau, a drift and level shifts a
smooth rise (a drift adds (slope h)^2 / 2, a step d adds about d^2 h / 2n), and a season of amplitude A a
swing of A^2 that returns to the noise at every multiple of its period P, however slow it is. The period
is the first local minimum P at most (1 - DIP) times the mean of the values half a period either side (a
dip the rising background cancels from), moved to the lowest value of its basin, and confirmed at 2P with
the same half-period (a season repeats; a wander's one bump does not); P at most n / MIN_SEASONS, and with
fewer than FEW_SEASONS repeats both dips must reach DIP_FEW. The variogram's dip is broad (a period of 52
reads 50-54), so P is then the integer near it (within a quarter) whose phase means explain most of the
detrended series, one noise variance paid per phase. Long series are scanned as block means of at most
SCAN_POINTS points (seasons of fewer than 4 blocks are the block estimate's and the cycle model's) and the
period refined on the samples.

The seasonal profile is then the classical decomposition's (e.g. Brockwell & Davis, *Introduction to Time
Series and Forecasting* 1.5): a centred moving average over one season takes out trend and level, and the
profile at each phase is the **median** of what is left at that phase (a step smeared by the moving average
disturbs one season of the >= 4, which the median ignores), centred on zero. The search then runs on the
series minus that profile, with the usual noise estimate, penalty and trend choice.
"""

from __future__ import annotations

import numba as nb
import numpy as np

MIN_SEASONS = 4  # seasons needed to estimate a profile by phase medians
DIP = 0.4  # the variogram at P (and 2P) at most this share below its mean half a period either side: a sine
# season of amplitude A over noise sd s dips A^2 / (s^2 + A^2), 0.4 from A = 0.82 s; AR(1) 0.7-0.99, random walks,
# steps and drifts: <= 3 % of series (``tests/test_changepoints_seasons.py``)
FEW_SEASONS = 8  # fewer repeats than this in the series (P > n / 8): the variogram at 2P rests on fewer than
DIP_FEW = 0.5  # 3/4 of the pairs and wanders more, so both dips must reach this (AR(1) 0.9 on 1,000
# samples read "seasons" of 233-258 samples dipping 0.40-0.47 on 1.3 % of series)
SCAN_POINTS = 2048  # longest series scanned sample by sample (longer: block means)
SLOW_POINTS = 256  # ... where only seasons slower than the block estimate can see are looked for (policy)
DIRECT_POINTS = 512  # series up to this long: the variogram by direct sums (FFT overhead dominates there)
FIRST_LAG = 3  # shortest period looked for

__all__ = ["MIN_SEASONS", "SCAN_POINTS", "SLOW_POINTS", "find_season", "seasonal_profile", "variogram"]


def variogram(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Semivariogram v[h] = mean over t of (x[t + h] - x[t])^2 / 2, h = 0 .. max_lag (< len(x)): by direct
    sums up to DIRECT_POINTS samples, else by one FFT (same values to rounding).

    >>> np.round(variogram(np.array([0.0, 1.0, 0.0, 1.0, 0.0]), 2), 6).tolist()
    [0.0, 0.5, 0.0]
    """
    n = x.shape[0]
    if n <= DIRECT_POINTS:
        return _variogram_direct(np.ascontiguousarray(x, dtype=np.float64), max_lag)
    x = x - np.add.reduce(x) / n
    f = np.fft.rfft(x, 2 * n)
    cross = np.fft.irfft(f * np.conj(f), 2 * n)[: max_lag + 1]  # sum of x[t] x[t + h]
    sq = np.cumsum(x * x)
    h = np.arange(max_lag + 1)
    late = sq[-1] - np.r_[0.0, sq[:max_lag]]  # sum of x[t]^2 over t >= h
    early = sq[n - 1 - h]  # ... over t < n - h
    return np.maximum(late + early - 2.0 * cross, 0.0) / (2.0 * (n - h))


@nb.njit(cache=True, nogil=True, fastmath=True)  # fastmath: the sums of squares vectorised (reassociated)
def _variogram_direct(x, max_lag):
    n = x.shape[0]
    v = np.zeros(max_lag + 1)
    for h in range(1, max_lag + 1):
        s = 0.0
        for t in range(n - h):
            d = x[t + h] - x[t]
            s += d * d
        v[h] = s / (2.0 * (n - h))
    return v


@nb.njit(cache=True, nogil=True, fastmath=True)
def _block_means(x, block):
    k = x.shape[0] // block
    out = np.empty(k)
    for i in range(k):
        s = 0.0
        for j in range(i * block, (i + 1) * block):
            s += x[j]
        out[i] = s / block
    return out


@nb.njit(cache=True, nogil=True)
def _dip(v, h, half):
    """1 - v[h] / mean(v[h - half], v[h + half]): how far v dips at h below the values half a period away."""
    around = 0.5 * (v[h - half] + v[h + half])
    return 1.0 - v[h] / around if around > 0.0 else 0.0


@nb.njit(cache=True, nogil=True)
def _first_dip(v, first, top):
    """(P, dip) of the shortest local minimum of v in first .. top dipping >= DIP, moved to the lowest value
    within a quarter period after it (a broad dip has noisy local minima on its way down), confirmed at the
    lowest value within an eighth of a period of 2P; or (0, 0.0). v must reach lag 2.625 top + 2."""
    for h in range(first, top + 1):
        if v[h] <= v[h - 1] and v[h] <= v[h + 1] and _dip(v, h, h // 2) >= DIP:
            p = _lowest(v, h, min(top, h + h // 4))
            q = _lowest(v, 2 * p - max(1, p // 8), 2 * p + max(1, p // 8))
            need = DIP if p * FEW_SEASONS <= top * MIN_SEASONS else DIP_FEW
            d = _dip(v, p, p // 2)
            return (p, d) if d >= need and _dip(v, q, p // 2) >= need else (0, 0.0)
    return 0, 0.0


@nb.njit(cache=True, nogil=True)
def _lowest(v, lo, hi):
    best = lo
    for j in range(lo + 1, hi + 1):
        if v[j] < v[best]:
            best = j
    return best


def _scan(x: np.ndarray, first: int) -> tuple[int, float]:
    """(first period from lag ``first`` on with a confirmed dip, its dip) in the variogram of x, or (0, 0.0)."""
    top = x.shape[0] // MIN_SEASONS
    if top < first:
        return 0, 0.0
    p, d = _first_dip(variogram(x, 2 * top + top // 2 + top // 8 + 2), first, top)
    return int(p), float(d)


def _phase_fit(xv: np.ndarray, around: int, spread: int, at: np.ndarray | None) -> int:
    """The period within ``around`` +- ``spread`` whose phase means explain most of xv minus its centred
    moving average over one season, one noise variance (the best fit's residual) paid per phase. Searched
    in strides narrower than the fit's tolerance (a period off by P / seasons / 4 shifts the last season by a
    quarter of its length), then sample by sample around the best, detrended over that best one's season."""
    n = xv.shape[0]
    stride = max(1, min(spread // 16, around * around // (4 * n)))
    lo = max(FIRST_LAG, around - spread)
    best = _best_period(xv, around, np.arange(lo, around + spread + 1, stride), at)
    if stride == 1:
        return best
    return _best_period(xv, best, np.arange(max(lo, best - stride), best + stride + 1), at)


def _best_period(xv: np.ndarray, around: int, cands: np.ndarray, at: np.ndarray | None) -> int:
    d, t = _detrended(xv, around, at)
    total = float(d @ d)
    rss = np.empty(cands.shape[0])
    for i, per in enumerate(cands):
        ph = t % per
        s = np.bincount(ph, weights=d, minlength=per)
        c = np.bincount(ph, minlength=per)
        rss[i] = total - float(np.sum(s * s / np.maximum(c, 1)))
    return int(cands[np.argmin(rss + cands * (rss.min() / d.shape[0]))])


def find_season(xv: np.ndarray, points: int = SCAN_POINTS, at: np.ndarray | None = None,
                longer: int = 0) -> tuple[int, float]:
    """(period P, the variogram's dip at P) of a finite series, or (0, 0.0) if it has no season; scanned on
    at most ``points`` block means (periods shorter than 4 blocks are not looked for). ``at``: the samples'
    positions along the series (a series with gaps; None: 0 .. n - 1), for the phase of each. ``longer``:
    only periods longer than this (a second season, after a shorter one was removed).

    >>> t = np.arange(520.0)
    >>> rng = np.random.default_rng(0)
    >>> x = 3 * np.sin(2 * np.pi * t / 52) + 0.01 * t + np.r_[np.zeros(300), np.full(220, 3.0)]
    >>> find_season(x + rng.standard_normal(520))[0]
    52
    """
    n = xv.shape[0]
    block = -(-n // points)
    if block == 1:
        p, d = _scan(xv, max(FIRST_LAG, longer + 1))
        return (_phase_fit(xv, p, p // 4, at), d) if p else (0, 0.0)
    means = _block_means(np.ascontiguousarray(xv, dtype=np.float64), block)
    p, d = _scan(means, max(FIRST_LAG, longer // block + 1))
    return (_phase_fit(xv, p * block, p * block // 4, at), d) if p >= FIRST_LAG + 1 else (0, 0.0)


def seasonal_profile(xv: np.ndarray, period: int, at: np.ndarray | None = None) -> np.ndarray:
    """The seasonal component of ``xv`` (same length): per phase the median of the series minus its centred
    moving average over one season (2 x P for even P), centred on zero. ``at``: the samples' positions (a
    series with its gaps taken out; None: 0 .. n - 1): the phase of each sample is its position's, so a gap
    does not shift the season after it.

    >>> t = np.arange(120.0)
    >>> s = seasonal_profile(2.0 * t + np.tile([1.0, -1.0, 3.0, -3.0], 30), 4)
    >>> np.round(s[:4], 6).tolist()
    [1.0, -1.0, 3.0, -3.0]
    """
    n = xv.shape[0]
    detrended, t = _detrended(xv, period, at)
    phase = t % period
    prof = np.array([np.median(detrended[phase == j]) for j in range(period)])
    prof -= prof.mean()
    return prof[(np.arange(n) if at is None else at) % period]


def _detrended(xv: np.ndarray, period: int, at: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(xv minus its centred moving average over one season (2 x P for even P), those samples' positions
    (``at``, or their indices)): the ends, half a season each, have no centred average and are left out."""
    if period % 2:
        w = np.full(period, 1.0 / period)
    else:  # the centred 2 x P moving average: half weight at both ends
        w = np.r_[0.5, np.ones(period - 1), 0.5] / period
    h = w.shape[0] // 2
    level = np.convolve(xv, w, mode="valid")  # level[i] is centred on sample i + h
    kept = slice(h, h + level.shape[0])
    return xv[kept] - level, (np.arange(kept.start, kept.stop) if at is None else at[kept])

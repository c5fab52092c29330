"""Seasons: a periodic component riding on a trend and level shifts, removed before the search for steps.

A monthly economic series, a shift pattern or a dry room's daily cycle is a *season* on top of a drift and
of the level shifts we look for. The cycle model (``cycles.py``) only sees a period that dominates the raw
series' autocorrelation; a trend or a shift hides it there, and the season's swing then reads as strong
autocorrelation (phi near 1), so a long-run sigma many times the noise hid every real step.

The period is looked for in the **first differences** instead, where a drift is a constant and a level
shift one outlying value, but a season stays periodic (``policy._acf_peak``): a peak >= ``PERIOD_ACF`` at
P with at least ``MIN_SEASONS`` seasons in the series, confirmed by the autocorrelation at 2P (a true season
repeats; a smooth random wander does not). The seasonal profile is then the classical decomposition's
(e.g. Brockwell & Davis, *Introduction to Time Series and Forecasting* 1.5): a centred moving average over
one season takes out trend and level, and the profile at each phase is the **median** of what is left at
that phase (a step smeared by the moving average disturbs one season of the >= 4, which the median ignores),
centred on zero. The search then runs on the series minus that profile, with the usual noise estimate,
penalty and trend choice.
"""

from __future__ import annotations

import numpy as np

MIN_SEASONS = 4  # seasons needed to estimate a profile by phase medians
PERIOD_ACF = 0.3  # autocorrelation of the differences at the period (as policy.PERIOD_ACF)
REPEAT_ACF = 0.15  # ... and at twice the period: a season repeats, a wander's one bump does not

__all__ = ["MIN_SEASONS", "find_season", "seasonal_profile"]


def find_season(xv: np.ndarray, acf_peak) -> tuple[int, float]:
    """(period P, autocorrelation of the differences at P) of a finite series, or (0, 0.0) if none.

    ``acf_peak(x, max_lag) -> (lag, acf)`` is ``policy._acf_peak`` (first peak after the first zero).

    >>> from workbench.changepoints.policy import _acf_peak
    >>> t = np.arange(240.0)
    >>> x = 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + np.r_[np.zeros(150), np.full(90, 30.0)]
    >>> find_season(x, _acf_peak)[0]
    12
    """
    d = np.diff(xv)
    n = d.shape[0]
    if n < 2 * MIN_SEASONS:
        return 0, 0.0
    d = d - np.median(d)
    period, r = acf_peak(d, n // MIN_SEASONS)
    if period < 2 or r < PERIOD_ACF or 2 * period >= n:
        return 0, 0.0
    f = np.fft.rfft(d, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[: 2 * period + 1]
    if not ac[0] > 0 or ac[2 * period] / ac[0] < REPEAT_ACF:
        return 0, 0.0
    return int(period), float(r)


def seasonal_profile(xv: np.ndarray, period: int) -> np.ndarray:
    """The seasonal component of ``xv`` (same length): per phase the median of the series minus its centred
    moving average over one season (2 x P for even P), centred on zero.

    >>> t = np.arange(120.0)
    >>> s = seasonal_profile(2.0 * t + np.tile([1.0, -1.0, 3.0, -3.0], 30), 4)
    >>> np.round(s[:4], 6).tolist()
    [1.0, -1.0, 3.0, -3.0]
    """
    n = xv.shape[0]
    if period % 2:
        w = np.full(period, 1.0 / period)
    else:  # the centred 2 x P moving average: half weight at both ends
        w = np.r_[0.5, np.ones(period - 1), 0.5] / period
    h = w.shape[0] // 2
    level = np.convolve(xv, w, mode="valid")  # level[i] is centred on sample i + h
    detrended = xv[h: h + level.shape[0]] - level
    phase = (np.arange(h, h + level.shape[0])) % period
    prof = np.array([np.median(detrended[phase == j]) for j in range(period)])
    prof -= prof.mean()
    return prof[np.arange(n) % period]

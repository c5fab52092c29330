"""Short series (tens to a few hundred samples): the noise yardstick must not be decided by its own scatter.

On a short series the MAD of the differences (37 % efficient at the normal) made the AR(1) phi estimate so
noisy that a white series of 20 samples read phi >= 0.9 one time in ten: its long-run sigma then swelled
x6 and a plain 5 sigma step was missed, while a low phi on an AR(1) series gave false changes. Short,
unquantised series are now scaled with Rousseeuw & Croux's Qn (82 % efficient, same 50 % breakdown).
Each bound below sits between the former figure and the present one (fixed seeds, 1000 series a case;
binomial sd <= 1 %), so these tests fail on the MAD estimator.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from workbench.changepoints import detect
from workbench.changepoints._order import _qn_scale
from workbench.changepoints.policy import long_run

SEED = 20261203


def ar1(rng, phi: float, shape) -> np.ndarray:
    """Stationary AR(1) rows with unit marginal sd."""
    e = rng.standard_normal(shape)
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for i in range(1, shape[1]):
        x[:, i] = phi * x[:, i - 1] + e[:, i]
    return x * np.sqrt(1 - phi**2)


def found_near(flags: np.ndarray, at: int, margin: int = 2) -> float:
    return float(np.mean([np.any(np.abs(np.flatnonzero(r) - at) <= margin) for r in flags]))


@pytest.mark.parametrize("n", [10, 11, 20, 51, 200, 512])
def test_qn_is_a_consistent_sigma_at_every_short_length(n):
    rng = np.random.default_rng(n)
    got = np.mean([_qn_scale(rng.standard_normal(n) * 3.0) for _ in range(3000)])
    assert got == pytest.approx(3.0, rel=0.03)


def test_a_short_white_series_with_a_step_is_not_read_as_a_random_walk():
    x = np.random.default_rng(SEED).standard_normal((2000, 20))
    x[:, 10:] += 5.0
    high = np.mean([long_run(r)["phi"] >= 0.9 for r in x])
    assert high < 0.085, high  # MAD: 0.107; Qn: 0.063


def test_short_ar1_series_without_change_stay_quiet():
    rng = np.random.default_rng(SEED)
    flags = detect(xr.DataArray(ar1(rng, 0.5, (1000, 100)), dims=("s", "time"))).values
    assert flags.any(1).mean() <= 0.065  # MAD: 0.099; Qn: 0.044


@pytest.mark.parametrize(("phi", "n", "step", "bound"), [(0.0, 50, 3.0, 0.95), (0.5, 100, 5.0, 0.92)])
def test_a_step_in_a_short_series_is_found(phi, n, step, bound):
    rng = np.random.default_rng(SEED)
    x = ar1(rng, phi, (1000, n))
    x[:, n // 2:] += step
    hit = found_near(detect(xr.DataArray(x, dims=("s", "time"))).values, n // 2)
    assert hit >= bound, hit  # MAD: 0.915 and 0.875; Qn: 0.976 and 0.956

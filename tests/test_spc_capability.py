"""Capability indices against hand-computed cases, CIs, the stability gate and bad input."""

import math

import numpy as np
import pytest
import xarray as xr

from workbench.spc import ProcessNotStableError, SPCInputError, capability, fit
from workbench.units import ureg

X = [10.0, 12.0, 11.0, 13.0, 12.0]
SIGMA_W = 1.5 / (2 / math.sqrt(math.pi))  # moving ranges 2, 1, 2, 1 over d2(2) = 2/sqrt(pi)
SIGMA_O = math.sqrt(5.2 / 4)  # squared deviations from 11.6 sum to 5.2


def test_hand_computed_two_sided():
    r = capability(xr.DataArray(X, dims="time", attrs={"units": "uohm"}), lsl=6.0, usl=18.0)
    assert r.mean == pytest.approx(11.6) and r.n == 5
    assert r.sigma_within == pytest.approx(SIGMA_W) and r.sigma_overall == pytest.approx(SIGMA_O)
    assert r.cp == pytest.approx(12 / (6 * SIGMA_W))  # 1.5045
    assert r.cpk == pytest.approx(5.6 / (3 * SIGMA_W))  # 1.4042, the lower side is closer
    assert r.pp == pytest.approx(12 / (6 * SIGMA_O))  # 1.7541
    assert r.ppk == pytest.approx(5.6 / (3 * SIGMA_O))  # 1.6372
    assert r.sigma_within_method == "average moving range / d2(2)"
    assert r.sigma_overall_method == "sample standard deviation (n-1)"
    assert r.stable and r.units == "uohm"


def test_bissell_and_chi_square_intervals_by_hand():
    r = capability(np.array(X), lsl=6.0, usl=18.0, confidence=0.95)
    half = 1.959964 * math.sqrt(1 / (9 * 5) + r.cpk**2 / (2 * 4))
    assert r.cpk_ci == pytest.approx((r.cpk - half, r.cpk + half), rel=1e-6)
    # chi-square(4) quantiles 0.484419 and 11.143287
    assert r.cp_ci == pytest.approx((r.cp * math.sqrt(0.484419 / 4), r.cp * math.sqrt(11.143287 / 4)),
                                    rel=1e-5)
    wider = capability(np.array(X), lsl=6.0, usl=18.0, confidence=0.99)
    assert wider.cpk_ci[0] < r.cpk_ci[0] and wider.cpk_ci[1] > r.cpk_ci[1]


def test_one_sided_spec_gives_cpu_only():
    r = capability(np.array(X), usl=18.0)
    assert math.isnan(r.cp) and math.isnan(r.pp)
    assert r.cpk == pytest.approx(6.4 / (3 * SIGMA_W))


def test_ppm_matches_the_domain_rule_of_thumb():
    # a centred process at Cpk 1.33 is ~64 ppm out of spec, at 1.67 ~0.6 ppm
    x = np.tile([-0.5, 0.5], 50) * (2 / math.sqrt(math.pi))  # MR = 2/sqrt(pi) -> sigma_within 1
    r133 = capability(x, lsl=-4.0, usl=4.0, on_unstable="report")
    r167 = capability(x, lsl=-5.0, usl=5.0, on_unstable="report")
    assert r133.cpk == pytest.approx(4 / 3) and r133.ppm_within == pytest.approx(63.3, abs=0.5)
    assert r167.ppm_within == pytest.approx(0.57, abs=0.02)


def test_phase_one_limits_supply_sigma_within():
    rng = np.random.default_rng(7)
    base = xr.DataArray(rng.normal(45.0, 1.0, 200), dims="time")
    lim = fit(base, chart="imr")
    new = xr.DataArray(rng.normal(45.0, 1.0, 100), dims="time")
    # 100 in-control values breach 3 sigma once in ~4 tries; this test is about the sigma source
    r = capability(new, lsl=40.0, usl=50.0, limits=lim, on_unstable="report")
    assert r.sigma_within == lim.sigma_within
    assert r.cp == pytest.approx(10 / (6 * lim.sigma_within))


def test_unstable_process_is_refused_or_flagged():
    x = np.r_[np.tile([10.0, 10.4], 15), [14.0], np.tile([10.0, 10.4], 5)]
    with pytest.raises(ProcessNotStableError, match="nelson1_beyond_3sigma at sample 30"):
        capability(x, lsl=8.0, usl=13.0)
    r = capability(x, lsl=8.0, usl=13.0, on_unstable="report")
    assert not r.stable and ("nelson1_beyond_3sigma", 30) in r.violations
    shifted = np.r_[np.tile([10.0, 10.4], 10), np.tile([11.0, 11.4], 6)]
    with pytest.raises(ProcessNotStableError, match="nelson2_9_same_side"):
        capability(shifted, lsl=8.0, usl=13.0)


def test_missing_values_are_dropped_and_counted_and_units_converted():
    x = xr.DataArray(X[:2] + [np.nan] + X[2:], dims="time", attrs={"units": "mg/cm^2"})
    r = capability(x, lsl=ureg.Quantity(60.0, "g/m^2"), usl=ureg.Quantity(180.0, "g/m^2"))
    assert r.missing == 1 and r.n == 5 and (r.lsl, r.usl) == (6.0, 18.0)
    assert r.cp == pytest.approx(12 / (6 * SIGMA_W))


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "at least one spec limit"),
    (dict(lsl=18.0, usl=6.0), "lsl < usl"),
    (dict(lsl=6.0, on_unstable="ignore"), "on_unstable"),
    (dict(lsl=6.0, confidence=95), "confidence"),
])
def test_bad_requests_are_named(kwargs, match):
    with pytest.raises(SPCInputError, match=match):
        capability(np.array(X), **kwargs)


def test_needs_one_series_with_enough_values():
    with pytest.raises(SPCInputError, match="needs one series"):
        capability(xr.DataArray(np.zeros((5, 2)), dims=("time", "lane")), lsl=0.0)
    with pytest.raises(SPCInputError, match="2 valid values"):
        capability(np.array([1.0, np.nan, 2.0]), lsl=0.0)

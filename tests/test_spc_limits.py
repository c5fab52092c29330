"""Phase I fit and Phase II apply for I-MR, X-bar-R and X-bar-S against hand-computed limits."""

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.spc import SPCInputError, apply, fit

D2_2 = 2 / math.sqrt(math.pi)  # mean range of 2 normals
D4_2 = 1 + 3 * math.sqrt(2 - 4 / math.pi) / D2_2
C4_3 = math.sqrt(math.pi) / 2  # c4(3) = sqrt(2/2) Gamma(3/2)/Gamma(1)

SUBGROUPS = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 3.0, 3.0], [0.0, 2.0, 1.0]]


def _subgroups(values, units="mg/cm^2"):
    return xr.DataArray(values, dims=("time", "sample"), attrs={"units": units})


def test_imr_by_hand():
    base = xr.DataArray([10.0, 12.0, 11.0, 13.0, 12.0], dims="time", attrs={"units": "uohm"})
    lim = fit(base, chart="imr")
    sigma = 1.5 / D2_2  # moving ranges 2, 1, 2, 1
    assert lim.center == pytest.approx(11.6)
    assert lim.sigma_within == pytest.approx(sigma, rel=1e-9)
    assert (lim.lcl, lim.ucl) == pytest.approx((11.6 - 3 * sigma, 11.6 + 3 * sigma), rel=1e-9)
    assert lim.dispersion_ucl == pytest.approx(D4_2 * 1.5, rel=1e-7) and lim.dispersion_lcl == 0
    assert lim.sigma_method == "average moving range / d2(2)" and lim.units == "uohm"
    assert lim.baseline["samples"] == 5


def test_imr_sigma_uses_moving_range_not_overall_sd():
    # a slow drift inflates the overall sd but hardly the moving range
    x = xr.DataArray(np.linspace(0, 10, 101) + np.tile([0.1, -0.1], 51)[:101], dims="time")
    lim = fit(x, chart="imr")
    # steps of 0.1 plus alternating +-0.1: moving ranges alternate 0.1, 0.3 -> MR-bar 0.2
    assert lim.sigma_within == pytest.approx(0.2 / D2_2, rel=1e-9)
    assert float(x.std()) > 10 * lim.sigma_within


def test_xbar_r_by_hand():
    lim = fit(_subgroups(SUBGROUPS), chart="xbar_r", subgroup_dim="sample")
    # means 2, 4, 3, 1 -> 2.5 ; ranges 2, 4, 0, 2 -> 2
    assert lim.center == 2.5 and lim.dispersion_center == 2.0
    assert lim.ucl == pytest.approx(2.5 + 1.023 * 2, abs=2e-3)  # A2(3) = 1.023 (published)
    assert lim.dispersion_ucl == pytest.approx(2.574 * 2, abs=3e-3) and lim.dispersion_lcl == 0
    assert lim.sigma_within == pytest.approx(2 / 1.693, rel=1e-3) and lim.subgroup_size == 3
    assert lim.sigma_plotted == pytest.approx(lim.sigma_within / math.sqrt(3))


def test_xbar_s_by_hand():
    lim = fit(_subgroups(SUBGROUPS), chart="xbar_s", subgroup_dim="sample")
    # standard deviations 1, 2, 0, 1 -> S-bar 1 ; c4(3) = sqrt(pi)/2 exactly
    assert lim.dispersion_center == pytest.approx(1.0)
    assert lim.sigma_within == pytest.approx(1 / C4_3, rel=1e-12)
    a3 = 3 / (C4_3 * math.sqrt(3))
    assert (lim.lcl, lim.ucl) == pytest.approx((2.5 - a3, 2.5 + a3), rel=1e-12)
    assert lim.dispersion_ucl == pytest.approx(1 + 3 * math.sqrt(1 - C4_3**2) / C4_3, rel=1e-12)
    assert lim.sigma_method == "average standard deviation / c4(n)"


def test_phase_two_apply_flags_location_dispersion_and_rules():
    lim = fit(_subgroups(SUBGROUPS * 5), chart="xbar_r", subgroup_dim="sample")
    new = _subgroups([[2.0, 3.0, 3.0], [9.0, 9.5, 9.0], [0.0, 9.0, 3.0], [2.0, np.nan, 3.0]])
    ds = apply(lim, new, rules=["we1_beyond_3sigma"])
    assert ds.alarm_location.values.tolist() == [False, True, False, False]
    assert ds.alarm_dispersion.values.tolist() == [False, False, True, False]
    assert ds.we1_beyond_3sigma.values.tolist() == [False, True, False, False]
    assert ds.missing.values.tolist() == [False, False, False, True]  # incomplete subgroup skipped
    assert ds.range.attrs["units"] == "mg/cm^2" and ds.attrs["detector"] == "xbar_r"


def test_apply_converts_units_and_checks_subgroup_size():
    lim = fit(_subgroups(SUBGROUPS), chart="xbar_s", subgroup_dim="sample")
    in_gsm = _subgroups(np.array(SUBGROUPS) * 10.0, units="g/m^2")
    np.testing.assert_allclose(apply(lim, in_gsm).value.values, [2.0, 4.0, 3.0, 1.0])
    with pytest.raises(SPCInputError, match="subgroups of 2"):
        apply(lim, _subgroups([[1.0, 2.0]]))


def test_baseline_window_is_stated_and_used():
    times = pd.date_range("2026-01-05", periods=40, freq="h")
    x = xr.DataArray(np.r_[np.tile([1.0, 2.0], 10), np.full(20, 50.0)], dims="time",
                     coords={"time": times})
    lim = fit(x, chart="imr", start=times[0], end=times[19])
    assert lim.center == 1.5 and lim.baseline["samples"] == 20
    assert lim.baseline["start"] == times[0] and lim.baseline["end"] == times[19]
    assert apply(lim, x).alarm_location.values[20:].all()


def test_per_lane_limits():
    rng = np.random.default_rng(0)
    x = xr.DataArray(rng.normal([20.0, 21.0], [0.1, 0.3], (200, 2)), dims=("time", "lane"),
                     coords={"lane": [1, 2]})
    lim = fit(x, chart="imr")
    assert lim.center.dims == ("lane",)
    assert lim.sigma_within.values == pytest.approx([0.1, 0.3], rel=0.15)
    ds = apply(lim, x + xr.DataArray([0.0, 2.0], dims="lane", coords={"lane": [1, 2]}))
    assert ds.alarm_location.sel(lane=2).mean() > 0.9 and ds.alarm_location.sel(lane=1).mean() < 0.05


@pytest.mark.parametrize("call, match", [
    (lambda: fit(xr.DataArray([1.0, 2.0], dims="time")), "only 2 valid samples"),
    (lambda: fit(xr.DataArray([1.0, 2.0, 3.0], dims="time"), chart="p"), "chart='p'"),
    (lambda: fit(_subgroups(SUBGROUPS), chart="xbar_r"), "needs subgroup_dim"),
    (lambda: fit(xr.DataArray([1.0, 2.0, 3.0], dims="time"), subgroup_dim="sample"), "no subgroups"),
    (lambda: fit(_subgroups(np.zeros((3, 26))), chart="xbar_s", subgroup_dim="sample"), "subgroup size"),
])
def test_bad_baselines_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_apply_needs_fitted_limits():
    with pytest.raises(TypeError, match="workbench.spc.fit"):
        apply({"center": 1.0}, xr.DataArray([1.0], dims="time"))


def test_baseline_reports_overall_sd_and_autocorrelation():
    rng = np.random.default_rng(1)
    white = xr.DataArray(rng.normal(0.0, 1.0, 2000), dims="time")
    wander = xr.DataArray(np.cumsum(rng.normal(0.0, 0.2, 2000)) * 0.1 + rng.normal(0.0, 0.05, 2000),
                          dims="time")
    w, a = fit(white).baseline, fit(wander).baseline
    assert abs(w["lag1_autocorrelation"]) < 0.1 and w["overall_sd"] == pytest.approx(1.0, rel=0.05)
    assert a["lag1_autocorrelation"] > 0.8
    assert a["overall_sd"] > 3 * fit(wander).sigma_within  # MR-bar/d2 misses the wander


def test_fit_and_apply_accept_dask_chunked_along_time():
    data = np.tile([10.0, 12.0, 11.0, 13.0, 12.0], 4)
    lazy = xr.DataArray(data, dims="time").chunk({"time": 5})
    lim = fit(lazy)
    assert lim.center == pytest.approx(11.6) and lim.baseline["samples"] == 20
    ds = apply(lim, lazy)
    eager = apply(lim, xr.DataArray(data, dims="time"))
    np.testing.assert_array_equal(ds.moving_range.values, eager.moving_range.values)

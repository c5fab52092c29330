"""Phase I on baselines a plant will hand it: empty, too short, or without any variation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from workbench import spc


def welds(values, **attrs) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="time", attrs={"units": "uohm", **attrs})


def test_an_empty_baseline_is_a_clear_error():
    with pytest.raises(spc.SPCInputError, match=r"baseline is empty: 0 samples along 'time'.*at least 20"):
        spc.fit(welds([]))
    with pytest.raises(spc.SPCInputError, match=r"0 samples along 'time' \(window 5 \.\. 9\)"):
        spc.fit(welds(np.arange(4.0)), start=5, end=9)  # a window that misses the data


def test_a_short_baseline_warns_naming_the_minimum_and_why():
    with pytest.warns(spc.ShortBaselineWarning, match=r"5 samples is short: Phase I wants at least 20 .*"
                                                      r"uncertain by about \+-45%"):
        spc.fit(welds([45.0, 45.3, 44.9, 45.2, 45.1]))
    rng = np.random.default_rng(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 20 samples: no warning
        spc.fit(welds(rng.normal(45, 1, spc.MIN_BASELINE)))


def test_the_quoted_uncertainty_matches_a_simulation():
    from workbench.spc.limits import _sigma_cv

    rng = np.random.default_rng(7)
    for used in (5, 20):
        x = rng.normal(0, 1, (20000, used))
        sig = np.abs(np.diff(x, axis=1)).mean(axis=1) / 1.128379
        assert _sigma_cv("imr", 1, used) == pytest.approx(sig.std() / sig.mean(), rel=0.1)


def test_constant_data_is_refused_without_a_resolution():
    with pytest.raises(spc.SPCInputError, match=r"no variation.*sigma_within would be 0.*resolution="):
        spc.fit(welds([45.0] * 30))


def test_constant_quantised_data_is_floored_at_the_resolution_and_says_so():
    with pytest.warns(spc.SigmaFlooredWarning, match=r"below the resolution 0.1 uohm.*floored at 0.1 uohm"):
        lim = spc.fit(welds([45.0] * 30, resolution=0.1))  # the history reader sets attrs["resolution"]
    assert lim.sigma_within == pytest.approx(0.1)
    wiggle = spc.apply(lim, welds([45.0, 45.1, 44.9, 45.2, 45.0]))  # one- and two-step flicker
    assert not wiggle.alarm.any()
    assert bool(spc.apply(lim, welds([45.0, 45.4])).alarm[1])  # four steps: a real move alarms


def test_a_varying_baseline_is_not_floored():
    rng = np.random.default_rng(3)
    base = welds(np.round(rng.normal(45, 1, 100), 1), resolution=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lim = spc.fit(base)
    assert 0.8 < lim.sigma_within < 1.2


def test_per_lane_limits_floor_only_the_constant_lane():
    rng = np.random.default_rng(4)
    data = np.stack([rng.normal(17.2, 0.05, 50), np.full(50, 17.2)])
    lanes = xr.DataArray(data, dims=("lane", "time"), attrs={"units": "mg/cm^2"})
    with pytest.warns(spc.SigmaFlooredWarning, match="for 1 series"):
        lim = spc.fit(lanes, resolution=0.01)
    assert lim.sigma_within[1] == pytest.approx(0.01) and lim.sigma_within[0] > 0.03

"""Vectorised detectors: hand-computed values, the NaN / irregular-sampling policy, units, dask."""

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.spc import SPCInputError, check_rules, cusum, ewma, focus, shewhart
from workbench.units import ureg

DETECTORS = {
    "cusum": lambda x, **kw: cusum(x, target=0.0, sigma=1.0, k=0.5, h=4.0, **kw),
    "ewma": lambda x, **kw: ewma(x, target=0.0, sigma=1.0, lam=0.3, L=2.7, limits="exact", **kw),
    "focus": lambda x, **kw: focus(x, target=0.0, sigma=1.0, threshold=5.0, **kw),
}
STATS = {"cusum": ["upper", "lower"], "ewma": ["ewma", "ucl"], "focus": ["statistic", "mean_shift", "since"]}


def _series(values, times=None, units="mg/cm^2"):
    times = pd.date_range("2026-01-05 06:00", periods=len(values), freq="1min") if times is None else times
    return xr.DataArray(np.asarray(values, float), dims="time", coords={"time": times},
                        attrs={"units": units})


def test_cusum_by_hand():
    ds = cusum(_series([10.0, 14.0, 14.0, 4.0, 4.0, 4.0]), target=10.0, sigma=2.0, k=0.5, h=4.0)
    # K = 1, H = 8: C+ = 0, 3, 6, 0, 0, 0 ; C- = 0, 0, 0, 5, 10, 15
    assert ds.upper.values.tolist() == [0, 3, 6, 0, 0, 0]
    assert ds.lower.values.tolist() == [0, 0, 0, 5, 10, 15]
    assert ds.alarm.values.tolist() == [False] * 4 + [True, True]
    assert ds.alarm_lower.values.tolist() == ds.alarm.values.tolist() and not ds.alarm_upper.any()
    assert float(ds.decision_interval) == 8.0 and float(ds.reference_value) == 1.0
    assert ds.upper.attrs["units"] == "mg/cm^2" and ds.attrs["detector"] == "cusum"


def test_ewma_by_hand_exact_and_asymptotic_limits():
    x = _series([1.0, 1.0, 1.0])
    ex = ewma(x, target=0.0, sigma=1.0, lam=0.5, L=3.0, limits="exact")
    assert ex.ewma.values.tolist() == [0.5, 0.75, 0.875]
    # L sigma sqrt(lam/(2-lam) (1-(1-lam)^(2i))): i=1: 3 sqrt(1/3 * 3/4) = 1.5
    assert ex.ucl.values[0] == pytest.approx(1.5)
    assert ex.ucl.values[1] == pytest.approx(3 * np.sqrt(1 / 3 * (1 - 1 / 16)))
    asym = ewma(x, target=0.0, sigma=1.0, lam=0.5, L=3.0)
    assert float(asym.ucl) == pytest.approx(3 / np.sqrt(3)) and float(asym.lcl) == pytest.approx(-np.sqrt(3))
    tight = ewma(x, target=0.0, sigma=1.0, lam=0.5, L=1.0, limits="exact")
    assert tight.alarm.values.tolist() == [False, True, True]  # 0.75 > sqrt(1/3*15/16)=0.559


def test_shewhart_by_hand():
    ds = shewhart(_series([0.0, 3.1, -3.0, -3.2]), target=0.0, sigma=1.0)
    assert ds.alarm.values.tolist() == [False, True, False, True]
    assert ds.alarm_upper.values.tolist() == [False, True, False, False]
    assert float(ds.ucl) == 3.0 and float(ds.lcl) == -3.0


@pytest.mark.parametrize("name", DETECTORS)
def test_missing_sample_is_skipped_statistic_held_no_alarm_flagged(name):
    rng = np.random.default_rng(1)
    values = rng.normal(0.8, 1.0, 60)
    holes = [0, 7, 8, 30, 59]
    values[holes] = [np.nan, np.nan, np.inf, np.nan, -np.inf]
    full = DETECTORS[name](_series(values))
    keep = np.setdiff1d(np.arange(60), holes)
    dropped = DETECTORS[name](_series(values[keep]))
    assert full.missing.values[holes].all() and not full.missing.values[keep].any()
    assert not full.alarm.values[holes].any()
    for var in STATS[name]:
        a = full[var].broadcast_like(full.alarm).values
        # a skipped sample changes nothing: same as deleting it
        np.testing.assert_array_equal(a[keep], dropped[var].broadcast_like(dropped.alarm).values)
        # held: the value at a hole repeats the last valid one (zero state before the first)
        assert a[8] == a[6] and a[30] == a[29]
    np.testing.assert_array_equal(full.alarm.values[keep], dropped.alarm.values)


@pytest.mark.parametrize("name", DETECTORS)
def test_irregular_sampling_counts_samples_not_seconds(name):
    rng = np.random.default_rng(2)
    values = rng.normal(0.5, 1.0, 80)
    gaps = np.cumsum(rng.integers(1, 600, 80)).astype("timedelta64[s]")
    irregular = np.datetime64("2026-01-05T06:00:00") + gaps
    a = DETECTORS[name](_series(values, irregular))
    b = DETECTORS[name](_series(values))
    for var in STATS[name] + ["alarm"]:
        np.testing.assert_array_equal(a[var].values, b[var].values)


@pytest.mark.parametrize("name", DETECTORS)
def test_max_gap_restarts_from_zero_state(name):
    rng = np.random.default_rng(3)
    values = rng.normal(1.0, 1.0, 50)
    values[20] = np.nan  # a missing sample in the gap does not count as "heard from"
    times = pd.date_range("2026-01-05", periods=50, freq="1min").values.copy()
    times[21:] += np.timedelta64(2, "h")
    ds = DETECTORS[name](_series(values, times), max_gap="30min")
    assert ds.restart.values.tolist() == [i == 21 for i in range(50)]
    fresh = DETECTORS[name](_series(values[21:], times[21:]))
    for var in STATS[name]:
        np.testing.assert_array_equal(ds[var].broadcast_like(ds.alarm).values[21:],
                                      fresh[var].broadcast_like(fresh.alarm).values)
    no_gap = DETECTORS[name](_series(values, times))
    assert not no_gap.restart.any()


def test_reset_on_alarm_restarts_the_sum():
    ds = cusum(_series([5.0, 5.0, 5.0, 0.0]), target=0.0, sigma=1.0, k=0.5, h=4.0, reset_on_alarm=True)
    # 4.5 > 4 alarms and restarts: the next sample starts again from 0
    assert ds.upper.values.tolist() == [4.5, 4.5, 4.5, 0.0]
    assert ds.alarm.values.tolist() == [True, True, True, False]
    runs_on = cusum(_series([5.0, 5.0, 5.0, 0.0]), target=0.0, sigma=1.0, k=0.5, h=4.0)
    assert runs_on.upper.values.tolist() == [4.5, 9.0, 13.5, 13.0]


def test_per_lane_target_and_sigma_match_lane_by_lane():
    rng = np.random.default_rng(4)
    x = xr.DataArray(rng.normal(20.0, 0.2, (100, 3)) + [0.0, 0.1, -0.3], dims=("time", "lane"),
                     coords={"lane": [1, 2, 3]}, attrs={"units": "mg/cm^2"})
    target = xr.DataArray([20.0, 20.1, 19.6], dims="lane", coords={"lane": [1, 2, 3]})
    sigma = xr.DataArray([0.2, 0.25, 0.2], dims="lane", coords={"lane": [1, 2, 3]})
    ds = cusum(x, target=target, sigma=sigma)
    assert ds.upper.dims == ("time", "lane")
    for i, lane in enumerate([1, 2, 3]):
        one = cusum(x.sel(lane=lane), target=float(target[i]), sigma=float(sigma[i]))
        np.testing.assert_array_equal(ds.upper.sel(lane=lane).values, one.upper.values)
    # lane 3 sits 0.5 sigma off its target
    assert int(ds.alarm.sel(lane=3).sum()) > 20 and int(ds.alarm.sel(lane=1).sum()) < 10


def test_parameters_with_units_are_converted_to_the_data_units():
    x = _series([20.0, 20.5, 21.0])  # mg/cm^2
    a = cusum(x, target=ureg.Quantity(200.0, "g/m^2"), sigma=ureg.Quantity(5.0, "g/m^2"))
    b = cusum(x, target=20.0, sigma=0.5)
    np.testing.assert_array_equal(a.upper.values, b.upper.values)
    t = _series([-40.0, -39.0], units="degC")
    c = ewma(t, target=ureg.Quantity(233.15, "K"), sigma=ureg.Quantity(0.5, "K"))
    d = ewma(t, target=-40.0, sigma=0.5)  # a sigma in K is a temperature difference: 0.5 delta_degC
    np.testing.assert_allclose(c.ewma.values, d.ewma.values)
    assert float(c.ucl) == pytest.approx(float(d.ucl))
    # a spread labelled in an offset unit (as t.std() keeps attrs) is a difference: 0.9 F = 0.5 K
    for spread in (ureg.Quantity(0.9, "degF"), ureg.Quantity(0.5, "degC"),
                   xr.DataArray(0.5, attrs={"units": "degC"})):
        assert float(ewma(t, target=-40.0, sigma=spread).ucl) == pytest.approx(float(d.ucl))
    with pytest.raises(SPCInputError, match="sigma"):
        cusum(x, target=20.0, sigma=ureg.Quantity(1.0, "degC"))
    quantified = x.pint.quantify()
    np.testing.assert_array_equal(cusum(quantified, target=20.0, sigma=0.5).upper.values, b.upper.values)


def _raise_if_computed(dsk, keys, **kwargs):
    raise AssertionError("dask computed eagerly")


@pytest.mark.parametrize("func", [
    lambda x: cusum(x, target=0, sigma=1), lambda x: ewma(x, target=0, sigma=1, limits="exact"),
    lambda x: shewhart(x, target=0, sigma=1), lambda x: focus(x, target=0, sigma=1),
    lambda x: check_rules(x, center=0, sigma=1),
])
def test_dask_input_stays_lazy_and_gives_the_numpy_answer(func):
    rng = np.random.default_rng(5)
    data = rng.normal(0.3, 1.0, (4, 200))
    data[1, 50] = np.nan
    eager = xr.DataArray(data, dims=("lane", "time"))
    lazy = xr.DataArray(dsa.from_array(data, chunks=(1, 50)), dims=("lane", "time"))
    with dask.config.set(scheduler=_raise_if_computed):
        out = func(lazy)
        assert out.alarm.chunks is not None
    expected = func(eager)
    for var in out.data_vars:
        np.testing.assert_array_equal(out[var].values, expected[var].values)


@pytest.mark.parametrize("call, match", [
    (lambda x: cusum(x, target=0, sigma=0.0), "sigma must be finite and > 0"),
    (lambda x: cusum(x, target=0, sigma=1, k=-1), "k >= 0"),
    (lambda x: cusum(x, target=np.nan, sigma=1), "target must be finite"),
    (lambda x: ewma(x, target=0, sigma=1, lam=1.5), "0 < lam <= 1"),
    (lambda x: ewma(x, target=0, sigma=1, limits="steady"), "limits='steady'"),
    (lambda x: shewhart(x, target=0, sigma=1, L=0), "L must be > 0"),
    (lambda x: focus(x, target=0, sigma=1, threshold=-1), "threshold must be > 0"),
    (lambda x: cusum(x, target=0, sigma=1, dim="lane"), "not 'lane'"),
    (lambda x: cusum(x, target=0, sigma=1, max_gap="-5min"), "positive duration"),
    (lambda x: cusum(x.sortby("time", ascending=False), target=0, sigma=1), "goes backwards"),
    (lambda x: cusum(x.drop_vars("time"), target=0, sigma=1, max_gap="1h"), "needs a datetime64"),
    (lambda x: cusum(np.zeros((3, 3)), target=0, sigma=1), "2-D array"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(SPCInputError, match=match):
        call(_series([0.0, 1.0, 2.0]))


def test_plain_arrays_are_accepted():
    ds = shewhart([0.0, 5.0], target=0.0, sigma=1.0)
    assert ds.alarm.values.tolist() == [False, True] and "units" not in ds.value.attrs


def test_accessor_delegates_to_the_functions():
    x = _series([0.0, 0.0, 3.0, 3.0, 3.0])
    np.testing.assert_array_equal(x.spc.cusum(target=0.0, sigma=1.0, h=4.0).upper.values,
                                  cusum(x, target=0.0, sigma=1.0, h=4.0).upper.values)
    lim = x.spc.fit(chart="imr")
    assert x.spc.apply(lim).attrs["detector"] == "imr"
    assert x.spc.rules(center=0.0, sigma=1.0, rules="we1_beyond_3sigma").alarm.sum() == 0
    assert x.spc.capability(usl=10.0, on_unstable="report").n == 5

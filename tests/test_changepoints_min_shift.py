"""The minimum shift of practical interest: detect(min_shift=...), its default from the spec, the config key,
and the coating lanes of the virtual line (real events kept, lane wander merged away)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.changepoints import detect
from workbench.changepoints.detect import ChangepointInputError
from workbench.changepoints.practical import merge_small_shifts
from workbench.config import (
    ConfigError,
    SpecLimits,
    default_config_path,
    load_line_config,
    parse_line_config,
)
from workbench.spc.design import min_shift_of
from workbench.units import ureg


def ar1(n, phi, rng):
    e = rng.standard_normal(n) * np.sqrt(1 - phi * phi)
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def wander(n, period, amplitude, rng):
    """A smooth random level: a few sinusoids of about ``period`` samples, sd ~ amplitude."""
    t = np.arange(n)
    out = sum(np.sin(2 * np.pi * t / (period * f) + rng.uniform(0, 2 * np.pi)) for f in (0.7, 1.0, 1.6))
    return amplitude * out / np.sqrt(1.5)


def series(x):
    return xr.DataArray(x, dims="time", attrs={"units": "mg/cm^2"})


def test_wander_below_min_shift_gives_no_change_but_a_practical_step_is_kept_where_it_is():
    rng = np.random.default_rng(3)
    n, quiet, kept = 4000, 0, 0
    for _ in range(20):
        base = 0.3 * ar1(n, 0.6, rng) + wander(n, 400, 0.4, rng)  # wander ~ the noise's long-run sd
        without = detect(series(base), min_size=20)
        with_ = detect(series(base), min_size=20, min_shift=2.0)
        quiet += not with_.any()
        assert with_.attrs["merged_small_shifts"] == int(without.sum() - with_.sum())
        step = base.copy()
        step[2500:] += 2.5
        found = np.flatnonzero(detect(series(step), min_size=20, min_shift=2.0).values)
        kept += found.size == 1 and abs(found[0] - 2500) <= 10
    assert quiet >= 19  # wander of 0.4 sd cannot add up to a 2-unit step
    assert kept >= 19
    # the search alone does see the wander (so the test fails without min_shift)
    assert detect(series(base), min_size=20).sum() >= 2


def test_a_staircase_of_small_steps_keeps_its_large_total_shift_not_none():
    """Filtering the list would drop every 0.3 step; merging re-fits and keeps the 0.9 rise as >= 1 change."""
    x = np.repeat([0.0, 0.3, 0.6, 0.9], 300) + 0.02 * np.random.default_rng(1).standard_normal(1200)
    flags = detect(series(x), min_size=10)
    assert flags.sum() == 3
    merged = detect(series(x), min_size=10, min_shift=0.5)
    cps = np.flatnonzero(merged.values)
    assert 1 <= cps.size <= 2
    edges = np.r_[0, cps, x.size]
    levels = [x[a:b].mean() for a, b in zip(edges[:-1], edges[1:])]
    assert np.all(np.abs(np.diff(levels)) >= 0.5)  # every remaining step is of practical size
    assert merged.attrs["min_shift"] == 0.5 and "merged" in merged.attrs["min_shift_reason"]


def test_neighbouring_change_is_relocated_after_a_merge():
    # a short intermediate level: the search splits the 1.0 rise at 400 and 440; merging the small first
    # step must move the remaining change to where the whole rise is best placed, not keep 440
    x = np.r_[np.zeros(400), np.full(40, 0.2), np.ones(400)]
    flags = np.zeros(x.size, bool)
    flags[[400, 440]] = True
    out, merged = merge_small_shifts(x, flags, 0.5, min_size=5)
    assert merged == 1 and np.flatnonzero(out).tolist() == [440]
    y = np.r_[np.zeros(400), np.full(40, 0.8), np.ones(400)]
    flags[:] = False
    flags[[400, 440]] = True
    out, _ = merge_small_shifts(y, flags, 0.5, min_size=5)
    assert np.flatnonzero(out).tolist() == [400]  # the 0.2 step at 440 merged, the 0.8 one stays


def test_min_shift_units_and_bad_values_are_named():
    x = series(np.r_[np.zeros(200), np.ones(200)] + 0.05 * np.random.default_rng(0).standard_normal(400))
    assert detect(x, min_shift=ureg.Quantity(500, "ug/cm^2")).attrs["min_shift"] == pytest.approx(0.5)
    with pytest.raises(ChangepointInputError, match="min_shift=-1"):
        detect(x, min_shift=-1)
    with pytest.raises(ChangepointInputError, match="min_shift 1 °C cannot be converted"):
        detect(x, min_shift=ureg.Quantity(1, "degC"))
    with pytest.raises(ChangepointInputError, match="min_shift 0.5 g/m² has a unit but 'x' has none"):
        detect(x.rename("x").assign_attrs(units=None), min_shift=ureg.Quantity(0.5, "g/m^2"))


def test_default_min_shift_is_a_quarter_of_the_half_width_and_the_config_overrides_it():
    line = load_line_config(default_config_path())
    assert min_shift_of(line.tag("plant1/electrode/coat1/gauge/areal_mass_lane07")) == pytest.approx(0.085)
    weld = line.tag("plant1/assembly/weld1/welder/weld_resistance")  # usl 60 only
    assert min_shift_of(weld) is None
    assert min_shift_of(weld, centre=45.0) == pytest.approx(3.75)
    assert min_shift_of(SpecLimits(lsl=1, usl=3, min_shift=0.1)) == 0.1


def _config_with_spec(spec: dict) -> dict:
    return {"name": "l", "site": "plant1", "stations": [{"name": "coating", "kind": "coating", "title": "c",
            "adapter": {"kind": "sim", "seed": 0},
            "tags": [{"path": "plant1/electrode/coat1/gauge/areal_mass_lane01", "units": "mg/cm^2",
                      "spec": spec}]}]}


def test_config_check_names_a_bad_min_shift():
    ok = parse_line_config(_config_with_spec({"lsl": 16.86, "usl": 17.54, "min_shift": 0.1}), source="l.yaml")
    assert min_shift_of(ok.tag("plant1/electrode/coat1/gauge/areal_mass_lane01")) == 0.1
    with pytest.raises(ConfigError, match=r"l.yaml: .*spec.min_shift: .*greater than 0"):
        parse_line_config(_config_with_spec({"lsl": 16.86, "usl": 17.54, "min_shift": -0.1}), source="l.yaml")
    with pytest.raises(ConfigError, match=r"l.yaml: .*spec: min_shift 1.0 is not below the tolerance"):
        parse_line_config(_config_with_spec({"lsl": 16.86, "usl": 17.54, "min_shift": 1.0}), source="l.yaml")


@pytest.fixture(scope="module")
def eventful():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate_history(seed=0, events="default")


def simulate_history(seed, events):
    from workbench import simulate

    h = simulate.virtual_line(seed=seed, events=events).history(hours=8)
    da = h.coating.areal_mass.transpose("time", "lane").compute()
    da.attrs["units"] = "mg/cm^2"
    return h, da


def test_virtual_line_lanes_keep_the_injected_events_and_lose_the_wander(eventful):
    from workbench.models.coating_shifts import lane_shifts

    h, da = eventful
    line = load_line_config(default_config_path())
    ms = min_shift_of(line.tag("plant1/electrode/coat1/gauge/areal_mass_lane01"))
    before, after = lane_shifts(da), lane_shifts(da, min_shift=ms)
    assert after.attrs["merged_small_shifts"] >= 50 and len(after) < len(before)
    assert after["shift"].abs().min() >= ms - 1e-9  # every listed shift is of practical size
    near = pd.Timedelta("2min")
    truth = h.truth.set_index("kind")
    lot = truth.loc["slurry_lot_step"]
    for edge in (lot.observed_start, lot.observed_end):
        assert after[(after.time - edge).abs() <= near].lane.nunique() == da.sizes["lane"]
    streak = truth.loc["die_lip_streak"]
    lanes = set(after[(after.time - streak.observed_start).abs() <= near].lane)
    assert int(streak.lane) in lanes and lanes <= {int(streak.lane) - 1, int(streak.lane), int(streak.lane) + 1}


def test_quiet_virtual_line_lanes_list_few_shifts():
    from workbench.models.coating_shifts import lane_shifts

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, da = simulate_history(seed=0, events=None)
    before, after = lane_shifts(da), lane_shifts(da, min_shift=0.085)
    assert len(before) >= 40 and len(after) <= 5  # 78 wander moves -> 0 when measured


@pytest.mark.parametrize("drift", ["trend", "curve"])
def test_min_shift_measures_a_step_against_the_drift_not_with_it(drift):
    # on a rise of 8 sds over 2,000 samples the segment means on either side of a step differ by the drift
    # too (~4 sds between their centres): a 3 sd step down was merged as "1 up", a 1 sd step up kept as "5".
    # The drift the model removed (line or curve) is now taken off before the steps are measured. 8 series
    # per case; on main 0 of 8 keep the step down and 8 of 8 keep the step up.
    from workbench.changepoints.synthetic import curved_drift

    rng = np.random.default_rng(51)
    n = 2000
    if drift == "trend":
        x = rng.normal(size=(8, n)) + 8.0 * np.arange(n) / n
    else:
        x = curved_drift("saturating", "white", (8, n), rng)
    down, up = x.copy(), x.copy()
    down[:, 1200:] -= 3.0
    up[:, 1200:] += 1.0
    kept = detect(xr.DataArray(down, dims=("series", "time")), min_shift=2.0)
    assert drift in kept.attrs["model"]
    found = [np.flatnonzero(f) for f in kept.values]
    assert all(f.size == 1 and abs(f[0] - 1200) <= 5 for f in found), found
    merged = detect(xr.DataArray(up, dims=("series", "time")), min_shift=2.0)
    assert not merged.values.any()


def test_joint_min_shift_keeps_a_change_that_matters_in_any_sensor_and_merges_the_rest():
    """Eight sensors segmented together (joint="lane"), noise sd 0.05: a 2.0 step in all of them at 300, a
    statistically certain 0.3 step in all at 600, a 2.0 step in sensor 5 alone at 900. min_shift 1.0: the
    joint segmentation keeps 300 (all sensors) and 900 (one sensor matters) and merges 600; the segment
    means and re-locations use every sensor. Without min_shift all three are found."""
    rng = np.random.default_rng(3)
    n = 1200
    base = np.r_[np.zeros(300), np.full(300, 2.0), np.full(600, 2.3)]
    rig = np.tile(base, (8, 1)) + 0.05 * rng.standard_normal((8, n))
    rig[5, 900:] += 2.0
    da = xr.DataArray(rig, dims=("lane", "time"),
                      coords={"lane": np.arange(1, 9),
                              "time": pd.date_range("2026-01-05", periods=n, freq="15s")},
                      attrs={"units": "mg/cm^2"})
    every = detect(da, joint="lane")
    assert np.flatnonzero(every.isel(lane=0).values).tolist() == [300, 600, 900]
    merged = detect(da, joint="lane", min_shift=1.0)
    assert np.flatnonzero(merged.isel(lane=0).values).tolist() == [300, 900]
    assert (merged == merged.isel(lane=0)).all()  # one segmentation for the rig
    assert merged.attrs["merged_small_shifts"] == 1 and merged.attrs["min_shift"] == pytest.approx(1.0)


@pytest.mark.parametrize("drift", ["trend", "curve"])
def test_joint_min_shift_measures_steps_against_each_sensors_drift(drift):
    """The joint analogue of the test above: rigs of 8 sensors, each its own share (0.5-1.5x) of a rise of
    8 sds over 2,000 samples, and a step at 1200 in half of them. The joint model removed the drift; its
    line or curve per sensor is now taken off before the steps are measured: a 3 sd step down is kept, a
    1 sd step up is merged. Before (steps measured on segment means that include the drift) every rig put
    the step down 350-950 samples early or missed it (trend, curve), and kept the step up in 4 of 4."""
    from workbench.changepoints.synthetic import drift_shape

    rng = np.random.default_rng(61)
    rigs, d, n = 4, 8, 2000
    shape = np.arange(n) / n if drift == "trend" else drift_shape("saturating", n)
    x = rng.normal(size=(rigs, d, n)) + 8.0 * shape * rng.uniform(0.5, 1.5, (rigs, d, 1))
    down, up = x.copy(), x.copy()
    down[:, : d // 2, 1200:] -= 3.0
    up[:, : d // 2, 1200:] += 1.0
    dims = ("rig", "sensor", "time")
    kept = detect(xr.DataArray(down, dims=dims), joint="sensor", min_shift=2.0)
    assert "joint" in kept.attrs["model"], kept.attrs["model"]
    found = [np.flatnonzero(f) for f in kept.values[:, 0]]
    assert all(f.size == 1 and abs(f[0] - 1200) <= 5 for f in found), found
    merged = detect(xr.DataArray(up, dims=dims), joint="sensor", min_shift=2.0)
    assert not merged.values.any(), [np.flatnonzero(f).tolist() for f in merged.values[:, 0]]

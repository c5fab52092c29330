"""Dry-room compliance on the virtual line: the injected excursion is found on every sensor, and the
dew-point sensor is only comparable with the frost-point cap after conversion."""

import warnings

import numpy as np
import pandas as pd
import pytest

from workbench import simulate
from workbench.dewpoint import excursions, minutes_above, to_basis
from workbench.units import ureg

LIMIT = ureg.Quantity(-40, "degC")


@pytest.fixture(scope="module")
def h():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate.virtual_line(seed=0).history(hours=3)


def test_excursion_found_on_every_sensor(h):
    truth = h.truth[h.truth.kind == "dewpoint_excursion"].iloc[0]
    ev = excursions(h.dryroom, LIMIT, min_duration="5min")
    assert sorted(ev.sensor) == list(h.dryroom.sensor.values)  # one event per sensor, no blips
    assert (ev.start >= truth.start).all() and (ev.start < truth.start + pd.Timedelta("20min")).all()
    assert (ev.end <= truth.observed_end).all() and (ev.end > truth.end - pd.Timedelta("10min")).all()
    assert (ev.peak > -40).all() and (ev.peak < -40 + truth.magnitude).all()
    assert ev.set_index("sensor").loc["s4", "reported"] == "dew_point"


def test_dew_point_sensor_needs_the_common_basis(h):
    da = h.dryroom.dew_frost_point
    common = minutes_above(da, LIMIT).sel(sensor="s4").item()
    naive = da.sel(sensor="s4").copy()
    naive.attrs["reports"] = "frost_point"  # pretend the dew-point reading were a frost point
    naive_minutes = minutes_above(naive.drop_vars("reports"), LIMIT).item()
    assert common > naive_minutes + 5  # the dew-point reading is ~3.7 K lower: it under-reports
    s1 = minutes_above(da, LIMIT).sel(sensor="s1").item()
    assert common == pytest.approx(s1, rel=0.3)  # same room air, comparable once on one basis
    quiet = slice(0, 60)  # the first 10 min, before the excursion
    fp = to_basis(da).sel(sensor=["s1", "s4"]).isel(time=quiet).mean("time")
    raw = da.sel(sensor=["s1", "s4"]).isel(time=quiet).mean("time")
    assert abs(float(fp[0] - fp[1])) < 2.0  # sensor-to-sensor spread once on one basis
    assert float(raw[0] - raw[1]) > 3.5  # raw: the dew-point sensor reads ~3.7 K lower at -46 degC


def test_each_tags_own_alarm_limit_agrees_with_the_frost_basis(h):
    alarm = h.dryroom.alarm_high  # per tag, in the tag's own basis: -40 frost, -43.7 dew (s4)
    own = minutes_above(h.dryroom, alarm, basis="reported")
    frost = minutes_above(h.dryroom, LIMIT)
    np.testing.assert_allclose(own.values, frost.values, atol=1.0)  # -43.7 dew ≈ -40.0 frost (±0.05 K)

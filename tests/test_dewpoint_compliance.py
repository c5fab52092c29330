"""Dry-room compliance: excursions and minutes above a frost-point limit, sensors on mixed bases."""

import numpy as np
import pandas as pd
import pint
import pytest
import xarray as xr

from workbench.dewpoint import dew_point_from_frost_point, excursions, minutes_above, to_basis
from workbench.units import ureg

Q = ureg.Quantity
LIMIT = Q(-40, "degC")


def dryroom(n=120):
    """Four sensors at 1-min samples; frost point -50 degC everywhere, with known events:
    s2 above -40 frost from minute 30 to 39 (peak -36 at 35); s4 reports dew point and sees a frost
    point of -38 from minute 60 to 64 (its dew-point reading, about -41.6, is below -40 but the air is
    wetter than the frost-point limit); s3 has a 1-min blip at minute 90 and is above again at the end."""
    t = pd.date_range("2026-01-05T06:00", periods=n, freq="1min")
    frost = np.full((n, 4), -50.0)
    frost[30:40, 1] = [-39, -38, -37, -37, -36.5, -36, -37, -38, -39, -39.5]
    frost[60:65, 3] = -38.0
    frost[90, 2] = -39.0
    frost[115:, 2] = -35.0
    frost[50, 0] = np.nan  # a dropped sample is not an excursion
    reading = frost.copy()
    reading[:, 3] = np.asarray(dew_point_from_frost_point(Q(frost[:, 3], "degC")).m)
    return xr.DataArray(reading, dims=("time", "sensor"),
                        coords={"time": t, "sensor": ["s1", "s2", "s3", "s4"],
                                "reports": ("sensor", ["frost_point"] * 3 + ["dew_point"])},
                        name="dryroom", attrs={"units": "degC"})


def test_to_basis_converts_only_dew_point_sensors():
    da = dryroom()
    assert da.sel(sensor="s4").values[62] == pytest.approx(-41.63, abs=0.01)
    common = to_basis(da)
    assert common.attrs["reports"] == "frost_point"
    assert list(common.reported.values) == ["frost_point"] * 3 + ["dew_point"]
    np.testing.assert_allclose(common.sel(sensor="s4").values[60:65], -38.0, atol=1e-6)
    np.testing.assert_array_equal(common.sel(sensor="s2").values, da.sel(sensor="s2").values)
    dew = to_basis(da, "dew_point")
    assert dew.sel(sensor="s1").values[0] == pytest.approx(-54.24, abs=0.01)


def test_excursions_events_on_common_frost_basis():
    ev = excursions(dryroom(), LIMIT)
    assert list(ev.sensor) == ["s2", "s3", "s3", "s4"]
    s2 = ev[ev.sensor == "s2"].iloc[0]
    assert s2.start == pd.Timestamp("2026-01-05T06:30")
    assert s2.end == pd.Timestamp("2026-01-05T06:40")
    assert s2.duration == pd.Timedelta("10min")
    assert s2.peak == pytest.approx(-36.0)
    assert s2.peak_time == pd.Timestamp("2026-01-05T06:35")
    s4 = ev[ev.sensor == "s4"].iloc[0]
    assert s4.reported == "dew_point" and s4.basis == "frost_point"
    assert s4.peak == pytest.approx(-38.0, abs=1e-6)  # frost point, not the -41.6 dew-point reading
    assert s4.duration == pd.Timedelta("5min")
    last = ev[ev.sensor == "s3"].iloc[-1]
    assert bool(last.ongoing) and last.end == pd.Timestamp("2026-01-05T08:00")
    assert ev.attrs["basis"] == "frost_point"


def test_min_duration_drops_blips():
    ev = excursions(dryroom(), LIMIT, min_duration="2min")
    assert sorted(ev.sensor) == ["s2", "s3", "s4"]  # the 1-min s3 blip is gone, the open one stays
    ev = excursions(dryroom(), LIMIT, min_duration=Q(6, "min"))
    assert list(ev.sensor) == ["s2"]


def test_minutes_above_matches_event_durations():
    da = dryroom()
    mins = minutes_above(da, LIMIT)
    assert mins.attrs["units"] == "min"
    assert mins.sel(sensor="s1").item() == 0.0
    assert mins.sel(sensor="s2").item() == 10.0
    assert mins.sel(sensor="s3").item() == 1.0 + 5.0
    assert mins.sel(sensor="s4").item() == 5.0
    ev = excursions(da, LIMIT)
    per_sensor = ev.groupby("sensor").duration.sum() / pd.Timedelta("1min")
    for s, v in per_sensor.items():
        assert mins.sel(sensor=s).item() == pytest.approx(v)


def test_dew_point_limit_basis_changes_the_answer():
    # The same -40 degC number read as a dew-point limit is looser: s4's -38 frost (= -41.6 dew) passes.
    ev = excursions(dryroom(), LIMIT, basis="dew_point")
    assert "s4" not in set(ev.sensor)
    assert ev.attrs["basis"] == "dew_point"


def test_sensor_gap_is_not_counted_as_time_above():
    da = dryroom().isel(time=list(range(0, 33)) + list(range(100, 120)))  # outage while s2 is high
    mins = minutes_above(da, LIMIT)
    assert mins.sel(sensor="s2").item() == pytest.approx(3.0 + 2.0)  # 3 x 1 min, last one capped at 3 min


def test_attrs_reports_as_string_or_dict():
    da = dryroom().drop_vars("reports")
    with pytest.raises(ValueError, match="frost point or dew point"):
        excursions(da, LIMIT)
    da.attrs["reports"] = {"s1": "frost_point", "s2": "frost_point", "s3": "frost_point", "s4": "dew_point"}
    assert len(excursions(da, LIMIT)) == 4
    single = dryroom().sel(sensor="s2").drop_vars("reports")
    single.attrs["reports"] = "frost_point"
    assert minutes_above(single, LIMIT).item() == 10.0
    da.attrs["reports"] = {"s1": "frost_point"}
    with pytest.raises(ValueError, match="s2"):
        to_basis(da)
    da.attrs["reports"] = "ppm"
    with pytest.raises(ValueError, match="ppm"):
        to_basis(da)


def test_bad_inputs():
    da = dryroom()
    with pytest.raises(pint.DimensionalityError, match="limit"):
        excursions(da, Q(127, "Pa"))
    with pytest.raises(TypeError, match="limit"):
        excursions(da, -40)
    with pytest.raises(TypeError, match="min_duration"):
        excursions(da, LIMIT, min_duration=5)
    with pytest.raises(ValueError, match="datetime64"):
        minutes_above(da.assign_coords(time=np.arange(da.sizes["time"])), LIMIT)


def test_dataset_input_and_kelvin_readings():
    da = dryroom()
    ds = xr.Dataset({"dew_frost_point": da, "temperature": ("time", np.full(da.sizes["time"], 21.0),
                                                            {"units": "degC"})})
    assert len(excursions(ds, LIMIT)) == 4
    kelvin = da.copy(data=da.values + 273.15)
    kelvin.attrs["units"] = "K"
    assert minutes_above(kelvin, ureg.Quantity(233.15, "K")).sel(sensor="s2").item() == 10.0
    ds["other"] = da
    with pytest.raises(ValueError, match="2 variables"):
        excursions(ds, LIMIT)
    with pytest.raises(TypeError, match="DataArray or Dataset"):
        excursions(da.values, LIMIT)


def test_per_sensor_limits_in_each_sensors_own_basis():
    da = dryroom()
    # the plant's alarm limits: -40 frost on the chilled mirrors, -43.7 dew on the capacitive sensor
    own = xr.DataArray([-40.0, -40.0, -40.0, -43.7], dims="sensor", coords={"sensor": da.sensor.values},
                       attrs={"units": "degC"})
    ev = excursions(da, own, basis="reported")
    assert list(ev.sensor) == ["s2", "s3", "s3", "s4"]
    s4 = ev[ev.sensor == "s4"].iloc[0]
    assert s4.basis == "dew_point" and s4.limit == -43.7 and s4.duration == pd.Timedelta("5min")
    assert s4.peak == pytest.approx(-41.63, abs=0.01)  # the dew-point reading itself
    mins = minutes_above(da, own, basis="reported")
    assert mins.limit.values.tolist() == [-40.0, -40.0, -40.0, -43.7]
    np.testing.assert_allclose(mins.values, minutes_above(da, LIMIT).values)  # same answer as on frost basis
    looser = own.copy(data=[-40.0, -35.5, -40.0, -40.0])  # a looser cap on s2 only (its peak is -36)
    assert "s2" not in set(excursions(da, looser).sensor)
    with pytest.raises(ValueError, match="s4"):
        excursions(da, own.sel(sensor=["s1", "s2", "s3"]))
    with pytest.raises(ValueError, match="basis="):
        excursions(da, LIMIT, basis="ppmv")

"""Humidity inputs outside physics are refused with the value and the valid range; gaps stay gaps."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from workbench import dewpoint as dp
from workbench.units import ureg

Q = ureg.Quantity


def test_no_frost_point_from_a_dew_point_above_the_triple_point():
    with pytest.raises(dp.HumidityValueError, match=r"dew point 30 degC is above 0.01 degC.*no frost point"
                                                    r".*-100 to 0.01 degC"):
        dp.frost_point_from_dew_point(Q(30, "degC"))  # main: a "frost point" of 25.8 degC
    assert dp.frost_point_from_dew_point(Q(0.01, "degC")).m == pytest.approx(0.01, abs=1e-6)


def test_no_frost_point_above_the_triple_point_by_any_route():
    with pytest.raises(dp.HumidityValueError, match=r"above 611.657 Pa .* no frost point"):
        dp.frost_point(Q(2000, "Pa"))
    with pytest.raises(dp.HumidityValueError, match=r"frost point 5 degC is above 0.01 degC"):
        dp.ppmv_from_frost_point(Q(5, "degC"))
    with pytest.raises(dp.HumidityValueError, match=r"frost point 5 degC is above 0.01 degC"):
        dp.dew_point_from_frost_point(Q(5, "degC"))
    with pytest.raises(dp.HumidityValueError, match=r"50 % RH at 25 degC .* no frost point; use dew_point_from_rh"):
        dp.frost_point_from_rh(Q(50, "%"), Q(25, "degC"))


def test_humidity_ratio_needs_e_below_the_total_pressure():
    with pytest.raises(dp.HumidityValueError, match=r"vapour pressure 200000 Pa is outside 0 <= e < P = 101325 Pa"):
        dp.humidity_ratio(Q(200, "kPa"))  # main: -1261 g/kg
    with pytest.raises(dp.HumidityValueError, match="outside 0 <= e < P"):
        dp.humidity_ratio(Q(12.84, "Pa"), Q(10, "Pa"))
    with pytest.raises(dp.HumidityValueError, match="total pressure 0 Pa must be > 0"):
        dp.humidity_ratio(Q(12.84, "Pa"), Q(0, "Pa"))


def test_zero_humidity_has_no_dew_point():
    with pytest.raises(dp.HumidityValueError, match=r"relative humidity 0 % is outside \(0, 100\] %"):
        dp.dew_point_from_rh(Q(0, "%"), Q(20, "degC"))  # main: NaN without a word
    with pytest.raises(dp.HumidityValueError, match="0 Pa .* no dew or frost point"):
        dp.frost_point_from_ppmv(Q(0, "ppmv"))


def test_gaps_stay_gaps_and_arrays_name_the_first_bad_value():
    da = xr.DataArray([-50.0, np.nan, -45.0], dims="time", attrs={"units": "degC"})
    out = dp.frost_point_from_dew_point(da)
    assert np.isnan(out.values[1]) and np.isfinite(out.values[[0, 2]]).all()
    with pytest.raises(dp.HumidityValueError, match="dew point 12 degC"):
        dp.frost_point_from_dew_point(xr.DataArray([-50.0, 12.0], dims="time", attrs={"units": "degC"}))


def test_station_readings_above_the_triple_point_are_kept_by_to_basis():
    """A door left open: the dew-point sensor reads +5 degC. The excursion must stay visible, not raise."""
    da = xr.DataArray([[-40.0, -43.74], [-39.0, 5.0]], dims=("time", "sensor"), coords={"sensor": ["s1", "s4"]},
                      attrs={"units": "degC", "reports": {"s1": "frost_point", "s4": "dew_point"}})
    out = dp.to_basis(da)
    assert out.sel(sensor="s4").values.round(2).tolist() == [-40.0, 5.0]
    back = dp.to_basis(da, "dew_point")
    assert back.sel(sensor="s4").values.tolist() == [-43.74, 5.0]

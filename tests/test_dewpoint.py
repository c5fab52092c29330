"""Dew point / frost point against Hardy (1998) reference numbers (docs/DOMAIN.md), round trips, errors."""

import doctest

import dask.array
import numpy as np
import pint
import pytest
import xarray as xr

import workbench.dewpoint as dp
import workbench.models.dewpoint as dp_model
from workbench.units import MissingUnitError, ureg

Q = ureg.Quantity


def m(q):
    return np.asarray(q.m, dtype=float)


# ---------------------------------------------------------------- reference points (P = 101.325 kPa)

def test_frost_point_minus_40_chain():
    e = dp.saturation_vapour_pressure(Q(-40, "degC"), over="ice")
    assert m(e.to("Pa")) == pytest.approx(12.84, abs=0.005)
    assert m(dp.ppmv_from_frost_point(Q(-40, "degC"))) == pytest.approx(127.2, abs=0.3)
    assert m(dp.dew_point(e)) == pytest.approx(-43.7, abs=0.06)
    assert m(dp.dew_point_from_frost_point(Q(-40, "degC"))) == pytest.approx(-43.74, abs=0.01)
    rh = e / dp.saturation_vapour_pressure(Q(20, "degC"), over="water")
    assert m(rh.to("percent")) == pytest.approx(0.55, abs=0.005)
    assert m(dp.frost_point_from_rh(rh, Q(20, "degC"))) == pytest.approx(-40.0, abs=1e-6)
    assert m(dp.dew_point_from_rh(rh, Q(293.15, "K"))) == pytest.approx(-43.74, abs=0.01)


def test_frost_point_minus_60():
    e = dp.saturation_vapour_pressure(Q(-60, "degC"), over="ice")
    assert m(e) == pytest.approx(1.08, abs=0.005)
    assert m(dp.ppmv_from_frost_point(Q(-60, "degC"))) == pytest.approx(10.7, abs=0.05)
    assert m(dp.frost_point_from_ppmv(Q(10.7057, "ppmv"))) == pytest.approx(-60.0, abs=1e-3)


def test_triple_point_and_boiling_point():
    # Hardy over water: 611.2 Pa at 0.01 degC, 101.32 kPa at 100 degC (ITS-90 boiling point 99.974 degC).
    assert m(dp.saturation_vapour_pressure(Q(0.01, "degC"))) == pytest.approx(611.66, abs=0.1)
    assert m(dp.saturation_vapour_pressure(Q(0.01, "degC"), over="ice")) == pytest.approx(611.66, abs=0.1)
    assert m(dp.saturation_vapour_pressure(Q(99.974, "degC"))) == pytest.approx(101325, rel=3e-4)


def test_enhancement_factor_and_pressure_are_used():
    base = m(dp.ppmv_from_frost_point(Q(-40, "degC")))
    no_f = m(dp.ppmv_from_frost_point(Q(-40, "degC"), enhancement_factor=1.0))
    assert base / no_f == pytest.approx(1.004)
    low_p = m(dp.ppmv_from_frost_point(Q(-40, "degC"), pressure=Q(50.6625, "kPa")))
    assert low_p == pytest.approx(2 * base)


def test_humidity_ratio():
    w = dp.humidity_ratio(Q(12.84, "Pa"), Q(1, "atm"))
    assert str(w.units) in ("g/kg", "gram / kilogram")
    assert m(w) == pytest.approx(0.622 * 12.84 / (101325 - 12.84) * 1000, rel=1e-9)


# ---------------------------------------------------------------- round trips (Newton inversion)

def test_frost_round_trip_minus_80_to_0():
    t = Q(np.linspace(-80, 0, 161), "degC")
    back = dp.frost_point(dp.saturation_vapour_pressure(t, over="ice"))
    assert np.max(np.abs(m(back) - m(t))) < 0.01
    assert np.max(np.abs(m(back) - m(t))) < 1e-6  # Newton converges far below the 0.01 K need


def test_dew_round_trip_minus_40_to_60():
    t = Q(np.linspace(-40, 60, 201), "degC")
    back = dp.dew_point(dp.saturation_vapour_pressure(t, over="water"))
    assert np.max(np.abs(m(back) - m(t))) < 1e-6


def test_dew_frost_conversions_round_trip():
    tf = Q(np.linspace(-80, 0, 81), "degC")
    assert np.allclose(m(dp.frost_point_from_dew_point(dp.dew_point_from_frost_point(tf))), m(tf), atol=1e-6)
    td = dp.dew_point_from_frost_point(tf)
    assert np.all(m(td) < m(tf) + 1e-9)  # dew point is below frost point below 0 degC
    assert np.all(np.diff(m(tf) - m(td)) < 0)  # and the gap shrinks toward 0 degC


def test_ppmv_round_trip():
    x = Q(np.array([0.5, 10.0, 127.0, 1000.0]), "ppmv")
    assert np.allclose(m(dp.ppmv_from_frost_point(dp.frost_point_from_ppmv(x))), m(x), rtol=1e-9)


# ---------------------------------------------------------------- Magnus vs Hardy

def test_magnus_agrees_with_hardy_within_stated_tolerance():
    tw = Q(np.linspace(-40, 60, 101), "degC")
    hw = m(dp.saturation_vapour_pressure(tw))
    mw = m(dp.saturation_vapour_pressure(tw, method="magnus"))
    assert np.max(np.abs(mw / hw - 1)) < 0.0035  # 0.35 % over water -40...+60 degC
    ti = Q(np.linspace(-60, 0, 61), "degC")
    hi = m(dp.saturation_vapour_pressure(ti, over="ice"))
    mi = m(dp.saturation_vapour_pressure(ti, over="ice", method="magnus"))
    assert np.max(np.abs(mi / hi - 1)) < 0.0015  # 0.15 % over ice -60...0 degC
    # in temperature terms: frost point from the same e differs by < 0.02 K
    e = dp.saturation_vapour_pressure(ti, over="ice")
    assert np.max(np.abs(m(dp.frost_point(e, method="magnus")) - m(ti))) < 0.02
    # and Magnus is not good far out (so the test can tell them apart)
    far = Q(-60, "degC")
    assert abs(m(dp.saturation_vapour_pressure(far, method="magnus"))
               / m(dp.saturation_vapour_pressure(far)) - 1) > 0.02


def test_magnus_inverse_is_exact_and_close_to_hardy():
    t = Q(np.linspace(-60, 0, 13), "degC")
    e = dp.saturation_vapour_pressure(t, over="ice", method="magnus")
    np.testing.assert_allclose(m(dp.frost_point(e, method="magnus")), m(t), atol=1e-9)  # closed form
    ew = dp.saturation_vapour_pressure(Q(np.linspace(-40, 60, 11), "degC"), method="magnus")
    np.testing.assert_allclose(m(dp.dew_point(ew, method="magnus")), np.linspace(-40, 60, 11), atol=1e-9)
    # the quick dew point of a -40 degC frost point is within 0.05 K of Hardy's
    hardy = m(dp.dew_point_from_frost_point(Q(-40, "degC")))
    assert abs(m(dp.dew_point_from_frost_point(Q(-40, "degC"), method="magnus")) - hardy) < 0.05


# ---------------------------------------------------------------- xarray in / out

def test_dataarray_with_attrs_units_and_dask_stays_lazy():
    t = xr.DataArray(dask.array.from_array(np.array([-60.0, -40.0, -20.0]), chunks=1), dims="time",
                     attrs={"units": "degC"})
    out = dp.ppmv_from_frost_point(t)
    assert isinstance(out.data, dask.array.Array)
    assert out.attrs["units"] == "ppmv"
    assert out.values[1] == pytest.approx(127.2, abs=0.3)


def test_quantified_dataarray_stays_quantified():
    e = xr.DataArray([12.84, 1.08], dims="time", attrs={"units": "Pa"}).pint.quantify()
    out = dp.frost_point(e)
    assert isinstance(out.data, pint.Quantity)
    assert np.allclose(out.pint.to("degC").pint.magnitude, [-40.0, -60.0], atol=0.01)


def test_kelvin_and_hectopascal_inputs():
    assert m(dp.frost_point(Q(0.1284, "hPa"))) == pytest.approx(-40.0, abs=0.01)
    assert m(dp.ppmv_from_frost_point(Q(233.15, "K"))) == pytest.approx(127.2, abs=0.3)


# ---------------------------------------------------------------- errors

def test_bare_number_raises_naming_argument():
    with pytest.raises(MissingUnitError, match="temperature"):
        dp.saturation_vapour_pressure(-40)
    with pytest.raises(MissingUnitError, match="vapour_pressure"):
        dp.dew_point(np.array([12.84]))
    with pytest.raises(MissingUnitError, match="frost_point"):
        dp.ppmv_from_frost_point(xr.DataArray([-40.0]))


def test_wrong_dimension_raises_naming_argument():
    with pytest.raises(pint.DimensionalityError, match="vapour_pressure"):
        dp.frost_point(Q(-40, "degC"))
    with pytest.raises(pint.DimensionalityError, match="pressure"):
        dp.ppmv_from_frost_point(Q(-40, "degC"), pressure=Q(1, "m"))
    with pytest.raises(pint.DimensionalityError, match="temperature"):
        dp.dew_point_from_rh(Q(50, "%"), xr.DataArray([20.0], attrs={"units": "Pa"}))


@pytest.mark.parametrize("rh", [-1.0, 100.5, 250.0])
def test_rh_out_of_range_raises_naming_value(rh):
    with pytest.raises(ValueError, match=f"{rh:g} %"):
        dp.dew_point_from_rh(Q(rh, "%"), Q(20, "degC"))


def test_rh_as_fraction_and_boundary_values():
    assert m(dp.dew_point_from_rh(Q(1.0, ""), Q(20, "degC"))) == pytest.approx(20.0, abs=1e-6)
    with pytest.raises(dp.HumidityValueError, match=r"relative humidity 0 % is outside \(0, 100\] %.*bone-dry"):
        dp.dew_point_from_rh(Q(0, "%"), Q(20, "degC"))  # bone dry: no dew point (was a silent NaN)


def test_bad_choices_and_unphysical_values():
    with pytest.raises(ValueError, match="over="):
        dp.saturation_vapour_pressure(Q(0, "degC"), over="steam")
    with pytest.raises(ValueError, match="method="):
        dp.dew_point(Q(1, "Pa"), method="goff")
    with pytest.raises(ValueError, match="negative"):
        dp.frost_point(Q(-1, "Pa"))
    with pytest.raises(ValueError, match="absolute zero"):
        dp.saturation_vapour_pressure(Q(-300, "degC"))


def test_round_trips_hold_for_arbitrary_temperatures():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None)
    @given(st.floats(-80, 0), st.floats(-40, 60), st.floats(0.5, 99.5), st.floats(-20, 40))
    def check(tf, td, rh, t_air):
        e_i = dp.saturation_vapour_pressure(Q(tf, "degC"), over="ice")
        assert abs(m(dp.frost_point(e_i)) - tf) < 1e-6
        e_w = dp.saturation_vapour_pressure(Q(td, "degC"))
        assert abs(m(dp.dew_point(e_w)) - td) < 1e-6
        # dew point from RH reproduces e = RH * e_w(T) and never exceeds the air temperature
        d = dp.dew_point_from_rh(Q(rh, "%"), Q(t_air, "degC"))
        e = m(dp.saturation_vapour_pressure(d))
        assert e == pytest.approx(rh / 100 * m(dp.saturation_vapour_pressure(Q(t_air, "degC"))), rel=1e-9)
        assert m(d) <= t_air + 1e-9

    check()

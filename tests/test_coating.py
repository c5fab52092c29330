"""Coating model: areal-mass bookkeeping, mass balance, CD/MD shape, capability, thickness."""

import doctest

import numpy as np
import pandas as pd
import pint
import pytest
import xarray as xr

import workbench.coating as co
import workbench.models.coating as co_model
from workbench.units import MissingUnitError, ureg

Q = ureg.Quantity
D2 = 2 / np.sqrt(np.pi)  # d2(2) ≈ 1.128


def gauge(values, lanes=None, freq="15s", **attrs):
    values = np.asarray(values, dtype=float)
    t = pd.date_range("2026-01-05T06:00", periods=values.shape[0], freq=freq)
    lanes = lanes if lanes is not None else np.arange(1, values.shape[1] + 1)
    return xr.DataArray(values, dims=("time", "lane"), coords={"time": t, "lane": lanes}, name="areal_mass",
                        attrs={"units": "mg/cm^2", "sides": "per_side", "basis": "coating_only", **attrs})


# ---------------------------------------------------------------- bookkeeping: sides, basis, units

def test_areal_mass_from_disc_and_unit_conversion():
    q = co.areal_mass(Q(52.3, "mg"), Q(17.9, "mg"), Q(200, "mm^2"))
    assert float(q.m) == pytest.approx(17.2)
    assert float(q.to("g/m^2").m) == pytest.approx(172.0)
    ds = xr.Dataset({"areal_mass": gauge([[17.2, 34.45 / 2]])})
    g = ds.coating.in_units("g/m^2")
    assert g.attrs["units"] == "g/m^2" and g.attrs["sides"] == "per_side"
    np.testing.assert_allclose(g.values, [[172.0, 172.25]])


def test_sides_and_foil():
    per_side = gauge([[17.225]])
    both = co.convert_sides(per_side)
    assert both.values.item() == pytest.approx(34.45)  # the NMC111 example: 34.45 mg/cm² both sides
    assert both.attrs["sides"] == "both_sides"
    assert co.convert_sides(both, "per_side").values.item() == pytest.approx(17.225)
    with_foil = gauge([[17.2 + 4.05]], basis="including_foil")  # 15 µm Al foil, 40.5 g/m²
    only = co.coating_only(with_foil, Q(40.5, "g/m^2"))
    assert only.values.item() == pytest.approx(17.2) and only.attrs["basis"] == "coating_only"
    with pytest.raises(co.CoatingInputError, match="subtract the foil"):
        co.convert_sides(with_foil)
    with pytest.raises(co.CoatingInputError, match="already coating only"):
        co.coating_only(only, Q(40.5, "g/m^2"))
    unlabeled = gauge([[17.2]])
    del unlabeled.attrs["sides"]
    with pytest.raises(co.CoatingInputError, match="sides"):
        co.convert_sides(unlabeled)


# ---------------------------------------------------------------- slot-die mass balance

def test_expected_areal_mass_hand_computed():
    # 0.65 * 2911 g/min / (0.55 m * 20 m/min) = 172.0 g/m² = 17.20 mg/cm²
    q = co.expected_areal_mass(Q(2911, "g/min"), Q(0.65, ""), Q(0.55, "m"), Q(20, "m/min"))
    assert float(q.m) == pytest.approx(0.65 * 2911 / (0.55 * 20) / 10)
    q2 = co.expected_areal_mass(Q(48.52, "g/s"), Q(65, "%"), Q(550, "mm"), Q(1 / 3, "m/s"))
    assert float(q2.m) == pytest.approx(0.65 * 48.52 * 60 / (0.55 * 20) / 10)


def test_expected_areal_mass_errors_name_the_argument():
    with pytest.raises(pint.DimensionalityError, match="pump_rate"):
        co.expected_areal_mass(Q(2911, "L/min"), Q(0.65, ""), Q(0.55, "m"), Q(20, "m/min"))
    with pytest.raises(MissingUnitError, match="line_speed"):
        co.expected_areal_mass(Q(2911, "g/min"), Q(0.65, ""), Q(0.55, "m"), 20)
    with pytest.raises(co.CoatingInputError, match="solids_fraction"):
        co.expected_areal_mass(Q(2911, "g/min"), Q(65, ""), Q(0.55, "m"), Q(20, "m/min"))


def test_mass_balance_uses_the_transport_delay():
    # Pump steps +2 % at the die at minute 10; the gauge, 36 m downstream at 20 m/min, sees it 108 s later.
    n = 160
    t = pd.date_range("2026-01-05T06:00", periods=n, freq="15s")
    pump = np.where(t >= t[40], 2911 * 1.02, 2911.0)
    ds = xr.Dataset({
        "pump_rate": ("time", pump, {"units": "g/min"}),
        "solids_fraction": ((), 0.65, {"units": "dimensionless"}),
        "coated_width": ((), 0.55, {"units": "m"}),
        "line_speed": ("time", np.full(n, 20.0), {"units": "m/min"}),
    }, coords={"time": t})
    die = 0.65 * pump / (0.55 * 20) / 10
    seen = np.interp((t - pd.Timedelta("108s")).astype(np.int64), t.astype(np.int64), die)
    ds["areal_mass"] = gauge(np.repeat(seen[:, None], 3, axis=1))
    good = ds.coating.mass_balance(path_length=Q(36, "m"))
    assert float(abs(good.residual).max()) < 1e-9
    assert good.attrs["transport_delay_s"] == pytest.approx(108.0)
    same = ds.coating.mass_balance(transport_delay="108s")
    np.testing.assert_allclose(same.residual.values, good.residual.values, atol=1e-12)
    naive = ds.coating.mass_balance(transport_delay="0s")
    assert float(abs(naive.residual).max()) == pytest.approx(0.02 * 17.2, rel=0.01)
    assert good.residual.attrs["units"] == "mg/cm^2"


# ---------------------------------------------------------------- CD profile

def test_cd_profile_metrics_hand_computed():
    x = np.linspace(-1, 1, 9)
    prof = 17.0 + 0.3 * x**2 + 0.05 * x  # smile 0.3, tilt 0.1
    da = gauge(np.vstack([prof, np.full(9, 17.0)]))
    p = co.cd_profile(da)
    assert p.smile.values.tolist() == pytest.approx([0.3, 0.0], abs=1e-9)
    assert p.tilt.values.tolist() == pytest.approx([0.1, 0.0], abs=1e-9)
    assert p.range.values[0] == pytest.approx(prof.max() - prof.min())
    centre = prof[3:6].mean()  # central third of 9 lanes
    assert p.edge_to_centre.values[0] == pytest.approx((prof[0] + prof[-1]) / 2 - centre)
    p2 = co.cd_profile(da, edge_lanes=2)
    assert p2.edge_to_centre.values[0] == pytest.approx(prof[[0, 1, 7, 8]].mean() - centre)
    with pytest.raises(co.CoatingInputError, match="edge_lanes"):
        co.cd_profile(da, edge_lanes=5)


def test_cd_profile_uses_lane_centres_when_present():
    centres = np.array([0.0, 10.0, 20.0, 100.0])  # uneven spacing: x = -1, -0.8, -0.6, 1
    x = (centres - 50) / 50
    da = gauge([17 + 0.2 * x**2]).assign_coords(lane_centre_mm=("lane", centres))
    assert co.cd_profile(da).smile.item() == pytest.approx(0.2)


# ---------------------------------------------------------------- MD trend and position axis

def test_md_trend_slope_per_hour_and_per_metre():
    n = 241
    ramp = 17.2 + 0.12 * np.arange(n) / (n - 1)  # +0.12 over one hour
    da = gauge(np.column_stack([ramp, np.full(n, 17.2)]))
    tr = co.md_trend(da, window="10min")
    assert tr.slope.values.tolist() == pytest.approx([0.12, 0.0], abs=1e-9)
    assert tr.attrs["window_samples"] == 41
    interior = tr.rolling_slope.isel(time=slice(40, -40))
    np.testing.assert_allclose(interior.sel(lane=1).values, 0.12, rtol=1e-6)
    np.testing.assert_allclose(tr.rolling_mean.sel(lane=1).values[100:140], ramp[100:140], atol=1e-9)
    ureg.Unit(tr.slope.attrs["units"])  # "(mg/cm^2)/h" parses
    assert ureg.Quantity(1, tr.slope.attrs["units"]).check("[mass]/[length]**2/[time]")
    web = da.assign_coords(position=("time", np.arange(n) * 5.0))
    web = co.along_web(web)
    trp = co.md_trend(web, dim="position", window=50)
    assert trp.slope.sel(lane=1).item() == pytest.approx(0.12 / (5.0 * (n - 1)))
    assert trp.slope.attrs["units"] == "(mg/cm^2)/m"


def test_along_web_needs_a_roll_when_position_repeats():
    da = gauge(np.ones((4, 2))).assign_coords(position=("time", [0.0, 5.0, 0.0, 5.0]),
                                              roll_id=("time", ["R1", "R1", "R2", "R2"]))
    with pytest.raises(co.CoatingInputError, match="roll_id"):
        co.along_web(da)
    with pytest.raises(co.CoatingInputError, match="R9"):
        co.along_web(da, "R9")
    out = co.along_web(da, "R1")
    assert out.dims == ("position", "lane") and out.position.attrs["units"] == "m"


# ---------------------------------------------------------------- capability

def test_capability_hand_computed_case():
    lane1 = [17.0, 17.2, 17.1, 17.3, 17.2, 17.4]
    lane2 = [17.3, 17.35, 17.4, 17.35, 17.3, 17.4]
    c = co.capability(gauge(np.column_stack([lane1, lane2])), Q(16.86, "mg/cm^2"), Q(175.4, "g/m^2"))
    # lane 1: MR = .2 .1 .2 .1 .2 -> MR-bar .16, sigma_w = .16/D2; mean 17.2, both sides .34 away
    sw = 0.16 / D2
    assert c.sigma_within.sel(lane=1).item() == pytest.approx(sw)
    assert c.cpk.sel(lane=1).item() == pytest.approx(0.34 / (3 * sw))
    assert c.cp.sel(lane=1).item() == pytest.approx(0.68 / (6 * sw))
    so = np.sqrt(0.1 / 5)  # squared deviations .04+0+.01+.01+0+.04 over n-1
    assert c.ppk.sel(lane=1).item() == pytest.approx(0.34 / (3 * so))
    # lane 2: mean 17.35, nearer the USL; MR = .05 .05 .05 .05 .1 -> MR-bar .06
    assert c.cpk.sel(lane=2).item() == pytest.approx(0.19 / (3 * 0.06 / D2))
    assert c.n.values.tolist() == [6, 6]
    assert "d2" in c.attrs["sigma_within"]


def test_capability_matches_the_spc_module_per_lane():
    from workbench.spc import capability as spc_capability  # the one-series form with stability checks

    rng = np.random.default_rng(7)
    da = gauge(17.2 + 0.05 * rng.standard_normal((200, 3)) + [0.0, 0.1, -0.15])
    ours = co.capability(da, Q(16.86, "mg/cm^2"), Q(17.54, "mg/cm^2"))
    for lane in (1, 2, 3):
        ref = spc_capability(da.sel(lane=lane), lsl=16.86, usl=17.54, on_unstable="report")
        assert ours.cpk.sel(lane=lane).item() == pytest.approx(ref.cpk, rel=1e-9)
        assert ours.ppk.sel(lane=lane).item() == pytest.approx(ref.ppk, rel=1e-9)
        assert ours.cp.sel(lane=lane).item() == pytest.approx(ref.cp, rel=1e-9)


def test_capability_one_sided_and_errors():
    da = gauge(np.array([[40.0, 41, 43, 42, 44]]).T, units="uohm")
    c = co.capability(da, usl=Q(60, "uohm"))
    sw = np.mean([1, 2, 1, 2]) / D2
    assert c.cpk.item() == pytest.approx((60 - 42) / (3 * sw))
    assert np.isnan(c.cp.item())
    with pytest.raises(ValueError, match="lsl"):
        co.capability(da)
    with pytest.raises(ValueError, match="below usl"):
        co.capability(da, Q(60, "uohm"), Q(50, "uohm"))
    with pytest.raises(pint.DimensionalityError, match="usl"):
        co.capability(da, usl=Q(60, "mg/cm^2"))


# ---------------------------------------------------------------- thickness, capacity

def test_dry_thickness_and_areal_capacity():
    fr = {"nmc": 0.96, "carbon": 0.02, "pvdf": 0.02}
    rho = {"nmc": Q(4.7, "g/cm^3"), "carbon": Q(1.8, "g/cm^3"), "pvdf": Q(1.78, "g/cm^3")}
    h = co.dry_thickness(Q(172, "g/m^2"), fr, rho, Q(0.30, ""))
    expected_um = 17.2e-3 * (0.96 / 4.7 + 0.02 / 1.8 + 0.02 / 1.78) / 0.7 * 1e4
    assert float(h.to("um").m) == pytest.approx(expected_um)
    da = co.dry_thickness(gauge([[17.2]]), fr, rho, Q(30, "%"))
    assert da.attrs["units"] == "µm" and da.values.item() == pytest.approx(expected_um)
    with pytest.raises(co.CoatingInputError, match="sum to"):
        co.dry_thickness(Q(17.2, "mg/cm^2"), {"nmc": 0.9}, rho, Q(0.3, ""))
    with pytest.raises(co.CoatingInputError, match="porosity"):
        co.dry_thickness(Q(17.2, "mg/cm^2"), fr, rho, Q(1.2, ""))
    with pytest.raises(co.CoatingInputError, match="density"):
        co.dry_thickness(Q(17.2, "mg/cm^2"), {"nmc": 0.5, "x": 0.5}, rho, Q(0.3, ""))
    cap = co.areal_capacity(Q(17.2, "mg/cm^2"), Q(0.96, ""), Q(200, "mAh/g"))
    assert float(cap.m) == pytest.approx(17.2e-3 * 0.96 * 200)


def test_lane_metrics_stay_lazy_on_dask_history():
    import dask

    def refuse(*args, **kwargs):
        raise AssertionError("computed eagerly")

    rng = np.random.default_rng(2)
    da = gauge(17.2 + 0.05 * rng.standard_normal((120, 6))).chunk({"time": 40})
    with dask.config.set(scheduler=refuse):  # building the graphs must not compute anything
        prof = co.cd_profile(da)
        cap = co.capability(da, Q(16.86, "mg/cm^2"), Q(17.54, "mg/cm^2"))
        trend = co.md_trend(da, window=11)
    eager = co.capability(da.compute(), Q(16.86, "mg/cm^2"), Q(17.54, "mg/cm^2"))
    np.testing.assert_allclose(cap.cpk.values, eager.cpk.values)
    assert prof.smile.chunks is not None and trend.slope.shape == (6,)

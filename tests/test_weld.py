"""Weld model: resistance statistics, Cpk, cold-joint rule, energy-resistance fit, DCIR join."""

import doctest
import warnings

import numpy as np
import pandas as pd
import pint
import pytest
import xarray as xr

import workbench.models.weld as wd_model
import workbench.weld as wd
from workbench import simulate
from workbench.units import MissingUnitError, ureg

Q = ureg.Quantity
D2 = 2 / np.sqrt(np.pi)  # d2(2) ≈ 1.128


def welds(resistance, energy=None, tabs=None, cells=None):
    n = len(resistance)
    tabs = tabs if tabs is not None else ["pos", "neg"] * (n // 2)
    cells = cells if cells is not None else [f"C{i // 2:03d}" for i in range(n)]
    data = {"weld_resistance": ("weld", np.asarray(resistance, float), {"units": "uohm"})}
    if energy is not None:
        data["laser_energy"] = ("weld", np.asarray(energy, float), {"units": "J"})
    return xr.Dataset(data, coords={"weld": np.arange(n), "tab": ("weld", tabs), "cell_id": ("weld", cells),
                                    "time": ("weld", pd.date_range("2026-01-05T07:00", periods=n, freq="20s"))})


def test_resistance_summary_per_tab_and_per_hour():
    w = welds([44, 50, 46, 52, 45, 51, 90, 49])
    s = wd.resistance_summary(w)
    assert s.loc["pos", "n"] == 4 and s.loc["pos", "median"] == pytest.approx(45.5)
    assert s.loc["pos", "mad"] == pytest.approx(1.0)  # |44-45.5|, |46-45.5|, |45-45.5|, |90-45.5| -> median 1.0
    assert s.loc["neg", "mean"] == pytest.approx(50.5)
    assert s.attrs["units"] == "uohm"
    hourly = wd.resistance_summary(w, by=None, freq="1h")
    assert hourly["n"].sum() == 8
    with pytest.raises(wd.WeldInputError, match="laser"):
        wd.resistance_summary(w, by="laser")


def test_units_are_converted_at_the_boundary():
    w = welds([44e-3, 46e-3, 45e-3, 47e-3])
    w["weld_resistance"].attrs["units"] = "mohm"
    assert wd.resistance_summary(w, by=None)["median"].iloc[0] == pytest.approx(45.5)
    w["weld_resistance"].attrs["units"] = "J"
    with pytest.raises(pint.DimensionalityError, match="weld_resistance"):
        wd.resistance_summary(w)
    del w["weld_resistance"].attrs["units"]
    with pytest.raises(MissingUnitError, match="weld_resistance"):
        wd.cold_joints(w)


def test_weld_capability_hand_computed():
    r = [44.0, 46, 45, 47, 45, 46]  # all one tab
    w = welds(r, tabs=["pos"] * 6)
    c = wd.weld_capability(w, Q(60, "uohm"))
    mr = np.mean(np.abs(np.diff(r)))  # (2+1+2+2+1)/5 = 1.6
    assert c.cpk.sel(tab="pos").item() == pytest.approx((60 - np.mean(r)) / (3 * mr / D2))
    c2 = wd.weld_capability(welds([44.0, 46, 45, 47]), Q(0.06, "mohm"), by=None)
    assert c2.cpk.item() == pytest.approx((60 - 45.5) / (3 * np.mean([2, 1, 2]) / D2))


def test_cold_joint_rule_is_explicit_and_configurable():
    r = [44, 45, 46, 45, 44, 45, 46, 62, 45, 95]
    e = [19.5] * 8 + [17.0, 19.5]
    w = welds(r, e, tabs=["pos"] * 10)
    default = wd.cold_joints(w)
    assert default.attrs["rule"] == "resistance > median + 6 x 1.4826 x MAD (per tab)"
    # median 45, MAD 1 -> threshold 45 + 6 * 1.4826 = 53.9: 62 and 95 flagged
    assert np.flatnonzero(default.cold_joint.values).tolist() == [7, 9]
    assert default.robust_z.values[9] == pytest.approx(50 / 1.4826)
    rule = wd.ColdJointRule(usl=Q(70, "uohm"), mad_k=None, energy_floor=Q(18, "J"))
    flags = wd.cold_joints(w, rule)
    assert set(flags.data_vars) >= {"above_usl", "low_energy", "cold_joint"}
    assert "robust_outlier" not in flags
    assert np.flatnonzero(flags.cold_joint.values).tolist() == [8, 9]  # low energy, above 70 µΩ
    assert flags.attrs["rule"] == "resistance > 70 uohm OR laser energy < 18 J"


def test_cold_joint_rule_errors():
    with pytest.raises(wd.WeldInputError, match="at least one"):
        wd.ColdJointRule(mad_k=None)
    with pytest.raises(pint.DimensionalityError, match="usl"):
        wd.ColdJointRule(usl=Q(60, "J"))
    with pytest.raises(MissingUnitError, match="energy_floor"):
        wd.ColdJointRule(energy_floor=18.0)
    with pytest.raises(wd.WeldInputError, match="mad_k"):
        wd.ColdJointRule(mad_k=-1)
    with pytest.raises(wd.WeldInputError, match="laser_energy"):
        wd.cold_joints(welds([45.0, 46]), wd.ColdJointRule(energy_floor=Q(18, "J")))


def test_energy_resistance_fit_recovers_the_law():
    rng = np.random.default_rng(3)
    e = rng.uniform(16, 20, 400)
    r = 45 * (19.4 / e) ** 2.2 * np.exp(rng.normal(0, 0.02, 400))
    f = wd.energy_resistance_fit(welds(r, e))
    assert f.b == pytest.approx(-2.2, abs=0.05) and f.r < -0.95 and f.n == 400
    assert float(f.predict(Q(19400, "mJ")).m) == pytest.approx(45, rel=0.01)
    lin = wd.energy_resistance_fit(welds(r, e), model="linear")
    assert lin.b < 0 and lin.model == "linear"
    exclude = np.zeros(400, bool)
    exclude[:10] = True
    assert wd.energy_resistance_fit(welds(r, e), exclude=exclude).n == 390
    with pytest.raises(wd.WeldInputError, match="model"):
        wd.energy_resistance_fit(welds(r, e), model="cubic")
    with pytest.raises(wd.WeldInputError, match="at least 3"):
        wd.energy_resistance_fit(welds([45.0, 46], [19.0, 19.1]))


def test_join_dcir_sums_tab_welds_per_cell():
    r = [44, 45, 46, 44, 95, 45, 45, 46]
    w = welds(r, energy=[19.5] * 8)
    cells = ["C000", "C001", "C002", "C003"]
    dcir = 0.9 + np.array([89, 90, 140, 91]) * 1e-3
    f = xr.Dataset({"dcir": ("cell", dcir, {"units": "mohm"}), "rack": ("cell", [1, 1, 2, 2])},
                   coords={"cell_id": ("cell", cells + [])})
    j = wd.join_dcir(w, f)
    assert j.table.set_index("cell_id").weld_resistance.tolist() == [89, 90, 140, 91]
    assert j.table.n_welds.tolist() == [2, 2, 2, 2]
    assert j.pearson == pytest.approx(1.0) and j.slope == pytest.approx(1e-3)
    assert j.table.set_index("cell_id").loc["C002", "weld_share"] == pytest.approx(0.140 / 1.040)
    jmax = wd.join_dcir(w, f, how="max")
    assert jmax.table.weld_resistance.tolist() == [45, 46, 95, 46]
    df = f.to_dataframe().reset_index(drop=True).assign(dcir=dcir * 1e3)
    df.attrs["units"] = {"dcir": "uohm"}
    assert wd.join_dcir(w, df).slope == pytest.approx(1e-3)
    with pytest.raises(wd.WeldInputError, match="both"):
        wd.join_dcir(w, f.isel(cell=[0, 1]))
    with pytest.raises(wd.WeldInputError, match="dcir"):
        wd.join_dcir(w, f.drop_vars("dcir"))


@pytest.fixture(scope="module")
def line():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate.virtual_line(seed=0).history(hours=8)


def test_virtual_line_energy_law_and_window_contamination(line):
    w = line.welding
    cold = wd.cold_joints(w, wd.ColdJointRule(usl=Q(60, "uohm")))
    fit = wd.energy_resistance_fit(w, exclude=cold.cold_joint)
    assert fit.b == pytest.approx(-2.2, abs=0.1)  # the simulator's R ∝ E^-2.2
    ev = line.truth[line.truth.kind == "laser_window_contamination"].iloc[0]
    t = pd.to_datetime(w.time.values)
    late = (t > ev.start + (ev.end - ev.start) * 0.7) & (t < ev.end)
    before = t < ev.start
    r = w.weld_resistance.values
    assert np.median(r[late]) > 1.12 * np.median(r[before])  # window loses ~7-10 % -> +17-26 % R
    j = wd.join_dcir(w, line.formation)
    assert j.n == line.formation.sizes["cell"] and j.pearson > 0.15 and j.slope > 0


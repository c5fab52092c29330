"""workbench.formation: readers, capacity/CE, dQ/dV, DCIR, K-value, grading, imbalance, bad input."""

import csv
import doctest
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import workbench.formation as fm
import workbench.models.formation as fm_mod
from workbench.units import DimensionalityError

NOVONIX = Path("formation") / "novonix_formation_ch01_first_charge.csv"
SINTEF = Path("cycling") / "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"


def _real(shared_data: Path, rel: Path) -> Path:
    path = shared_data / rel
    if not path.is_file():
        pytest.fail(f"reference file {path} is missing; restore ../shared/data (see its NOTICE.md)", pytrace=False)
    return path


def test_docstring_examples_run():
    import workbench.cyclers as cyclers
    from workbench.cyclers import bdf, curve, novonix, table
    attempted = 0
    for mod in (fm_mod, cyclers, bdf, curve, novonix, table):
        result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, mod.__name__
        attempted += result.attempted
    assert attempted > 15


# --- dQ/dV -------------------------------------------------------------------------------------


def _two_plateau_curve(direction="charge", noise=3e-4, seed=0):
    """CC record of a cell whose Q(V) has two steps (plateaus) at 3.60 V and 3.90 V, plus a slope."""
    v_fine = np.linspace(3.3, 4.2, 20001)
    q_of_v = (0.4 / (1 + np.exp(-(v_fine - 3.60) / 0.008)) + 0.6 / (1 + np.exp(-(v_fine - 3.90) / 0.008))
              + 0.2 * (v_fine - 3.3))
    q_total = q_of_v[-1] - q_of_v[0]
    current = 0.1                                      # C/10 for a ~1.2 Ah cell
    t = np.arange(0.0, q_total / current * 3600.0, 20.0)
    q = current * t / 3600.0
    v = np.interp(q + q_of_v[0], q_of_v, v_fine)
    v = v + noise * np.random.default_rng(seed).standard_normal(v.size)
    i = np.full(t.size, current)
    if direction == "discharge":
        v, i = v[::-1], -i
    return fm.curve_from_arrays(time=t, voltage=v, current=i, attrs={"nominal_capacity_Ah": 1.2}), q_total


@pytest.mark.parametrize("direction", ["charge", "discharge"])
def test_dqdv_peaks_of_two_plateau_curve(direction):
    curve, q_total = _two_plateau_curve(direction)
    d = fm.dqdv(curve, cycle=1, direction=direction, dv=0.001, smoothing=0.01)
    peaks = np.sort(fm.dqdv_peaks(d, prominence=0.2).values)
    assert peaks.size == 2, peaks
    assert abs(peaks[0] - 3.60) < 0.005 and abs(peaks[1] - 3.90) < 0.005
    # the integral of dQ/dV over the grid gives back the step's capacity
    area = float(d.integrate("voltage"))
    assert area == pytest.approx(q_total, rel=0.03)
    assert d.attrs["smoothing_V"] == 0.01 and "isotonic" in d.attrs["method"]
    # the larger plateau (0.6 Ah at 3.90 V) gives the taller peak
    assert float(d.sel(voltage=3.90, method="nearest")) > float(d.sel(voltage=3.60, method="nearest"))


def test_dqdv_refuses_a_fast_step():
    t = np.arange(0.0, 1800.0, 10.0)
    c = fm.curve_from_arrays(time=t, voltage=3.5 + t / 3600, current=np.full(t.size, 1.0),
                             attrs={"nominal_capacity_Ah": 1.0})
    with pytest.raises(fm.FormationDataError, match="C/"):
        fm.dqdv(c)
    assert fm.dqdv(c, max_c_rate=None).sizes["voltage"] > 100


def test_dqdv_over_ragged_cells_aligns_grids_without_padding():
    a, _ = _two_plateau_curve(seed=1)
    b, _ = _two_plateau_curve(seed=2)
    b = b.isel(sample=slice(0, b.sizes["sample"] * 3 // 4))     # b stops earlier (shorter curve)
    d = fm.dqdv({"a": a, "b": b})
    assert d.dims == ("cell", "voltage")
    assert np.isnan(d.sel(cell="b").sel(voltage=4.1, method="nearest"))
    assert np.isfinite(d.sel(cell="a").sel(voltage=4.1, method="nearest"))


# --- DCIR ---------------------------------------------------------------------------------------


def _pulse_curve(pulse_current=-2.0, r0=1e-3, r1=0.5e-3, tau=5.0):
    """Discharge to the bottom, charge 0.5 Ah (50 % of 1 Ah), rest, then a 12 s pulse and a rest."""
    parts_t, parts_i = [np.arange(0, 3600.0, 10.0)], [np.full(360, -1.0)]           # 1 Ah out
    parts_t.append(3600 + np.arange(0, 600.0, 10.0)); parts_i.append(np.zeros(60))
    parts_t.append(4200 + np.arange(0, 1800.0, 10.0)); parts_i.append(np.full(180, 1.0))  # 0.5 Ah in
    parts_t.append(6000 + np.arange(0, 3600.0, 10.0)); parts_i.append(np.zeros(360))
    t0 = 9600.0
    tp = np.round(np.arange(0, 12.0, 0.1), 1)
    parts_t.append(t0 + tp); parts_i.append(np.full(tp.size, pulse_current))
    parts_t.append(t0 + 12 + np.arange(0, 60.0, 1.0)); parts_i.append(np.zeros(60))
    t, i = np.concatenate(parts_t), np.concatenate(parts_i)
    v = np.full(t.size, 3.70)
    pulse = (t >= t0) & (t < t0 + 12)
    dt = t[pulse] - t0
    v[pulse] += pulse_current * (r0 + r1 * (1 - np.exp(-dt / tau)))
    temp = np.full(t.size, 31.5)
    return fm.curve_from_arrays(time=t, voltage=v, current=i, temperature=temp)


@pytest.mark.parametrize("pulse_current", [-2.0, 3.0])
def test_dcir_on_synthetic_pulse(pulse_current):
    res = fm.dcir(_pulse_curve(pulse_current), dt=(1.0, 3.0, 10.0), nominal_capacity=1.0)
    assert res.sizes["pulse"] == 1
    expected = [1.0 + 0.5 * (1 - np.exp(-d / 5.0)) for d in (1.0, 3.0, 10.0)]      # mΩ
    np.testing.assert_allclose(res.dcir.isel(pulse=0).values, expected, rtol=1e-6)
    assert res.dcir.attrs["units"] == "mohm"
    assert res.dt.values.tolist() == [1.0, 3.0, 10.0]
    assert float(res.soc[0]) == pytest.approx(50.0, abs=0.6)
    assert float(res.temperature[0]) == 31.5
    assert float(res.current[0]) == pulse_current


def test_dcir_longer_than_pulse_is_nan_and_no_pulse_is_an_error():
    res = fm.dcir(_pulse_curve(), dt=(10.0, 30.0))
    assert np.isfinite(res.dcir.sel(dt=10.0)[0]) and np.isnan(res.dcir.sel(dt=30.0)[0])
    t = np.arange(0.0, 600.0, 10.0)
    with pytest.raises(fm.NoPulseError, match="no current pulse"):
        fm.dcir(fm.curve_from_arrays(time=t, voltage=np.full(t.size, 3.7), current=np.full(t.size, 0.5)))


# --- K-value ------------------------------------------------------------------------------------


def _rest_curve(rest_hours=96.0, k_mv_day=2.0, relax_mv=20.0, relax_tau_h=2.0):
    t_ch = np.arange(0.0, 3600.0, 60.0)
    t_rest = 3600.0 + np.arange(0.0, rest_hours * 3600.0, 600.0)
    dt = t_rest - t_rest[0]
    v_rest = 3.70 + relax_mv * 1e-3 * np.exp(-dt / (relax_tau_h * 3600)) - k_mv_day * 1e-3 * dt / 86400
    t = np.r_[t_ch, t_rest]
    v = np.r_[3.6 + t_ch / 36000, v_rest]
    i = np.r_[np.full(t_ch.size, 1.0), np.zeros(t_rest.size)]
    return fm.curve_from_arrays(time=t, voltage=v, current=i)


def test_k_value_on_synthetic_rest():
    res = fm.k_value(_rest_curve(), t1="1 day", t2="3 day")
    assert float(res.k_value) == pytest.approx(2.0, abs=0.01)
    assert res.k_value.attrs["units"] == "mV/day"
    # default t2 = end of the rest (96 h): still the self-discharge slope
    assert float(fm.k_value(_rest_curve()).k_value) == pytest.approx(2.0, abs=0.01)


def test_k_value_refuses_rests_too_short_or_too_soon():
    with pytest.raises(fm.RestTooShortError, match="relax"):
        fm.k_value(_rest_curve(), t1="1 h", t2="2 day")
    with pytest.raises(fm.RestTooShortError, match="lasts 9.8 h"):
        fm.k_value(_rest_curve(rest_hours=10.0))
    # why: read right after formation, relaxation dominates (here > 4x the true K)
    early = fm.k_value(_rest_curve(), t1=600.0, t2="2 day", min_relaxation=0)
    assert float(early.k_value) > 4 * 2.0


# --- real files ---------------------------------------------------------------------------------


def test_novonix_capacity_against_the_file(shared_data):
    path = _real(shared_data, NOVONIX)
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = list(csv.reader(line.strip('"') for line in lines[lines.index("[Data]") + 1:]))
    head, body = rows[0], rows[1:]
    cap, typ, cyc = head.index("Capacity (Ah)"), head.index("Step Type"), head.index("Cycle Number")
    charge_rows = [r for r in body if r[cyc] == "1" and r[typ] in ("1", "7", "8")]
    expected_charge = float(charge_rows[-1][cap])       # Novonix keeps capacity through the cycle
    assert expected_charge == pytest.approx(0.0294679161, abs=1e-10)

    curve = fm.read_curve(path)
    assert curve.sizes["sample"] == len(body) == 3942   # NOTICE.md says 3,958; the file holds 3,942
    s = fm.cycle_summary(curve)
    assert float(s.charge_capacity.sel(cycle=1)) == pytest.approx(expected_charge, rel=1e-9)
    # the file stops during the first charge: no discharge, so no CE (not a made-up number)
    assert np.isnan(s.discharge_capacity.sel(cycle=1)) and np.isnan(s.coulombic_efficiency.sel(cycle=1))
    assert curve.attrs["nominal_capacity_Ah"] == 0.24
    assert float(curve.time[-1]) == pytest.approx(17.4345750 * 3600)
    assert set(curve.step_name.values) == {"rest", "cccv_cc_charge", "cccv_cv_charge", "cc_charge"}


def test_sintef_bdf_capacity_and_ce_against_the_file(shared_data):
    path = _real(shared_data, SINTEF)
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    first_charge_row = next(k for k, r in enumerate(rows) if r["step_index"] == "3")
    lith = max(float(r["discharging_capacity_ah"]) for r in rows[:first_charge_row] if r["step_index"] == "2")
    delith = max(float(r["charging_capacity_ah"]) for r in rows if r["step_index"] == "3")
    assert (lith, delith) == (0.0063, 0.0032)

    curve = fm.read_curve(path)
    s = fm.cycle_summary(curve)           # graphite vs Li: lithiation (discharge) comes first
    assert s.attrs["first_direction"] == "discharge"
    assert float(s.discharge_capacity.sel(cycle=1)) == pytest.approx(lith, rel=1e-12)
    assert float(s.charge_capacity.sel(cycle=1)) == pytest.approx(delith, rel=1e-12)
    assert float(s.coulombic_efficiency.sel(cycle=1)) == pytest.approx(delith / lith, rel=1e-12)
    assert float(s.loss.sel(cycle=1)) == pytest.approx(lith - delith, rel=1e-9)
    # the record ends in a second, unfinished lithiation: cycle 2 has no CE
    assert np.isnan(s.coulombic_efficiency.sel(cycle=2))


# --- bad input ----------------------------------------------------------------------------------


def _bdf_frame(n=5):
    return pd.DataFrame({"Test Time / s": np.arange(n) * 10.0, "Voltage / V": np.linspace(3.6, 3.7, n),
                         "Current / A": np.ones(n)})


def test_bdf_units_are_converted_from_labels():
    df = _bdf_frame().rename(columns={"Test Time / s": "Test Time / h", "Voltage / V": "Voltage / mV"})
    df["Voltage / mV"] *= 1000
    c = fm.curve_from_bdf(df)
    assert float(c.time[1]) == 36000.0 and float(c.voltage[0]) == pytest.approx(3.6)


def test_bdf_bad_input_names_column_row_and_fix():
    with pytest.raises(fm.FormationDataError, match=r"Current / A"):
        fm.curve_from_bdf(_bdf_frame().drop(columns="Current / A"))
    with pytest.raises(DimensionalityError, match="Voltage / A"):
        fm.curve_from_bdf(_bdf_frame().rename(columns={"Voltage / V": "Voltage / A"}))
    df = _bdf_frame()
    df.loc[3, "Test Time / s"] = np.nan
    with pytest.raises(fm.FormationDataError, match="'Test Time / s'.*NaN/missing at row 5"):   # header = line 1
        fm.curve_from_bdf(df)
    df = _bdf_frame()
    df.loc[2, "Test Time / s"] = 10.0
    with pytest.raises(fm.FormationDataError, match="duplicate time .* row 4.*drop_duplicates"):
        fm.curve_from_bdf(df)
    df = _bdf_frame()
    df.loc[2, "Test Time / s"] = 5.0
    with pytest.raises(fm.FormationDataError, match="backwards at row 4"):
        fm.curve_from_bdf(df)
    df = _bdf_frame()
    df["Cycle Count / 1"] = [1, 1, np.nan, 1, 1]
    with pytest.raises(fm.FormationDataError, match="cycle number is missing at row 4"):
        fm.curve_from_bdf(df)
    df = _bdf_frame().astype({"Voltage / V": object})
    df.loc[1, "Voltage / V"] = "3,61"
    with pytest.raises(fm.FormationDataError, match=r"'Voltage / V' row 3 holds '3,61'"):
        fm.curve_from_bdf(df)


def test_corrupt_files_name_the_file(tmp_path, shared_data):
    bad = tmp_path / "broken.csv"
    bad.write_text("[Summary]\nNovonix HPC data file\n[End Summary]\n")
    with pytest.raises(fm.FormationDataError, match="broken.csv: no \\[Data\\] section"):
        fm.read_curve(bad)
    lines = _real(shared_data, NOVONIX).read_text(encoding="utf-8").splitlines()
    k = lines.index("[Data]") + 5
    lines[k] = lines[k].replace(",1,1,", ",1,x,", 1) if ",1,1," in lines[k] else '"garbage,row"'
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join(lines[:k + 1]) + "\n", encoding="utf-8")     # a complete line holding garbage
    with pytest.raises(fm.FormationDataError, match=f"cut.csv: column .* at line {k + 1}"):
        fm.read_curve(cut)
    cut.write_text("\n".join(lines[:k + 1]), encoding="utf-8")            # no line end: cut while written
    curve = fm.read_curve(cut)
    assert curve.sizes["sample"] == k - (lines.index("[Data]") + 2)     # the cut row is dropped
    assert any(f"line {k + 1} has no line end" in r for r in curve.attrs["repairs"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fm.read_curve(tmp_path / "missing.bdf.csv")


def test_validate_curve_units_and_missing_variables():
    c = fm.curve_from_arrays(time=[0, 1, 2], voltage=[3.6, 3.6, 3.6], current=[0.0, 0.0, 0.0])
    with pytest.raises(DimensionalityError, match="voltage"):
        fm.validate_curve(c.assign(voltage=c.voltage.assign_attrs(units="A")))
    with pytest.raises(fm.FormationDataError, match=r"missing variable\(s\) \['current'\]"):
        fm.validate_curve(c.drop_vars("current"))


# --- ragged sets, grading, imbalance -----------------------------------------------------------


def test_stack_and_unstack_keep_each_cells_length():
    a, _ = _two_plateau_curve(seed=1)
    b = _pulse_curve()
    st = fm.stack_curves({"a": a, "b": b})
    assert st.sizes["sample"] == a.sizes["sample"] + b.sizes["sample"]
    back = fm.unstack_curves(st)
    assert back["b"].sizes["sample"] == b.sizes["sample"]
    np.testing.assert_array_equal(back["b"].voltage.values, b.voltage.values)
    s = fm.summarise(st)
    assert s.cell_id.values.tolist() == ["a", "b"]
    assert float(s.dcir.sel(cell=1)) == pytest.approx(1.0 + 0.5 * (1 - np.exp(-2.0)), rel=1e-6)
    assert np.isnan(s.dcir.sel(cell=0))


def test_grade_bins_by_hand():
    r = xr.Dataset({"discharge_capacity": ("cell", [3.0, 2.85, 3.0, 2.5, np.nan], {"units": "A*h"}),
                    "dcir": ("cell", [1000.0, 1000.0, 1500.0, 1000.0, 1000.0], {"units": "uohm"})})
    rules = {"A": {"discharge_capacity": (2.9, None, "A*h"), "dcir": (None, 1.2, "mohm")},
             "B": {"discharge_capacity": (2.8, None, "A*h"), "dcir": (None, 1.6, "mohm")}}
    assert fm.grade(r, rules).values.tolist() == ["A", "B", "B", "reject", "ungraded"]
    with pytest.raises(fm.FormationDataError, match="k_value"):
        fm.grade(r, {"A": {"k_value": (None, 1.0, "mV/day")}})


def test_channel_imbalance_flags_the_odd_channel_only():
    rng = np.random.default_rng(3)
    racks, chans = np.repeat([1, 2], 64), np.tile(np.repeat(np.arange(1, 17), 4), 2)
    x = rng.normal(3.0, 0.015, racks.size)
    odd = (racks == 2) & (chans == 5)
    x[odd] -= 0.09
    r = xr.Dataset({"discharge_capacity": ("cell", x, {"units": "A*h"})},
                   coords={"rack": ("cell", racks), "channel": ("cell", chans)})
    out = fm.channel_imbalance(r)
    flagged = out.flagged.to_series()
    assert flagged[flagged].index.tolist() == [(2, 5)]
    assert float(out.robust_z.sel(rack=2, channel=5)) < -3.5
    assert "Mann-Whitney" in out.attrs["test"]
    with pytest.raises(fm.FormationDataError, match="rack"):
        fm.channel_imbalance(r.drop_vars("rack"))


def test_accessor_delegates():
    c = _pulse_curve()
    assert float(c.formation.dcir(dt=(1.0,)).dcir[0, 0]) == pytest.approx(float(fm.dcir(c, dt=(1.0,)).dcir[0, 0]))
    assert c.formation.steps().direction.tolist()[:2] == ["discharge", "rest"]


def test_parameters_take_quantities_and_refuse_wrong_kinds():
    from workbench.units import ureg

    curve, _ = _two_plateau_curve()
    a = fm.dqdv(curve, dv="1 mV", smoothing=ureg.Quantity(10, "mV"))
    b = fm.dqdv(curve, dv=0.001, smoothing=0.01)
    np.testing.assert_allclose(a.values, b.values)
    assert float(fm.k_value(_rest_curve(), t1=pd.Timedelta(days=1), t2="72 h").k_value) == pytest.approx(2.0, abs=0.01)
    assert float(fm.dcir(_pulse_curve(), dt=["1 s"]).dcir[0, 0]) == pytest.approx(1.0 + 0.5 * (1 - np.exp(-0.2)))
    with pytest.raises(DimensionalityError, match="t1"):
        fm.k_value(_rest_curve(), t1="1 V")
    with pytest.raises(ValueError, match="smoothing"):
        fm.dqdv(curve, smoothing="ten millivolts")


def test_a_cc_step_cut_short_by_a_voltage_limit_is_not_a_pulse(shared_data):
    # the Novonix run's first CC-CV step reaches 1.5 V after 4 s and goes on in CV: no DCIR from it
    with pytest.raises(fm.NoPulseError):
        fm.dcir(fm.read_curve(_real(shared_data, NOVONIX)))


def test_cli_summarises_real_files(shared_data, capsys):
    import argparse

    from apps.cli import formation as cli

    parser = argparse.ArgumentParser(prog="workbench")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["formation", str(_real(shared_data, SINTEF)), "--first", "discharge"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "0.003200      0.006300   0.5079" in out and "no current pulse" in out
    with pytest.raises(FileNotFoundError, match="does not exist"):
        args.func(parser.parse_args(["formation", "/no/such.bdf.csv"]))


@pytest.mark.parametrize("convention", ["per_step", "per_cycle", "running_total"])
def test_capacity_column_conventions_give_the_same_cycle_capacities(convention):
    """Cyclers reset capacity per step (Landt), per cycle (Novonix, Arbin) or never: same answer."""
    steps = [(+1.0, 1800), (+0.5, 600), (0.0, 300), (-1.0, 1500), (0.0, 300),     # cycle 1
             (+1.0, 1200), (0.0, 300), (-1.0, 1020)]                               # cycle 2
    t, i, cyc, stp, cap = [], [], [], [], []
    now, total, cycle_total, cycle = 0.0, 0.0, 0.0, 1
    for k, (amps, dur) in enumerate(steps):
        if k == 5:
            cycle, cycle_total = 2, 0.0
        start_total, start_cycle = total, cycle_total
        for s in np.arange(0.0, dur + 1e-9, 60.0):
            q = abs(amps) * s / 3600.0
            t.append(now + s)
            i.append(amps)
            cyc.append(cycle)
            stp.append(k + 1)
            cap.append({"per_step": q, "per_cycle": start_cycle + q, "running_total": start_total + q}[convention])
        now += dur + 60.0
        total += abs(amps) * dur / 3600.0
        cycle_total += abs(amps) * dur / 3600.0
    curve = fm.curve_from_arrays(time=t, voltage=np.full(len(t), 3.7), current=i, capacity=cap, step=stp,
                                 cycle=cyc)
    s = fm.cycle_summary(curve)
    np.testing.assert_allclose(s.charge_capacity.values, [0.5 + 1 / 12, 1 / 3], rtol=1e-12)
    np.testing.assert_allclose(s.discharge_capacity.values, [1500 / 3600, 1020 / 3600], rtol=1e-12)

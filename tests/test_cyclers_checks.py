"""Doubts raised on real files, each settled at its cause: a BioLogic record with impedance sweeps (CE 0 and a
split cycle came from the sweeps' alternating current), a Neware formation record with DCIR 16.8 ohm (the
opening seconds of a first charge taken for a pulse), half cells (graphite or silicon vs Li) whose first cycle
was read the wrong way round or without a word on why it looks odd, a Novonix cell id ending in ".csv". Each principle is also tested on generated data."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench.formation as fm

BIOLOGIC = Path("cyclers") / "cellpy" / "biol.mpr"
NDAX = Path("cyclers") / "cellpy" / "20260302_IFE_BTS85_2_9_8_1.ndax"
SINTEF = Path("cycling") / "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"
ARBIN = Path("cyclers") / "cellpy" / "20160805_test001_45_cc_01.res"


def _real(shared_data, rel):
    path = shared_data / rel
    if not path.is_file():
        pytest.fail(f"reference file {path} is missing; restore ../shared/data (see its NOTICE.md)", pytrace=False)
    return path


# --- alternating current (impedance sweeps) is neither charge nor discharge ---------------------------------


def test_biologic_delithiation_with_impedance_sweeps_is_one_half_cycle(shared_data):
    """biol.mpr: a Si/C half cell delithiated at C/20 in four steps with a GEIS sweep between them; no
    discharge at all. The sweeps' alternating current had made a 'discharge' of 0 Ah (CE 0) and a second cycle."""
    from galvani import BioLogic
    path = _real(shared_data, BIOLOGIC)
    data = pd.DataFrame(BioLogic.MPRfile(str(path)).data)
    q = data["(Q-Qo)/mA.h"].to_numpy() / 1000                   # net charge since the start, Ah
    assert (data["I/mA"] < 0).any() and q.min() >= -1e-12       # negative currents, yet the charge never falls
    s = fm.cycle_summary(fm.read_curve(path))
    assert s.sizes["cycle"] == 1
    assert float(s.charge_capacity.sel(cycle=1)) == pytest.approx(q[-1] - q[0], rel=5e-3)
    assert np.isnan(s.discharge_capacity.sel(cycle=1)) and np.isnan(s.coulombic_efficiency.sel(cycle=1))
    checks = fm.read_curve(path).attrs["checks"]
    assert any(c.startswith("impedance:") and "Ns [2, 9]" in c for c in checks), checks


def _with_sweep(first_sweep: bool):
    """CC charge, a 'sweep' step of alternating current (net 25 % of the gross, more samples negative), CC charge
    again, then a CC discharge; optionally a sweep before everything (its first sample negative)."""
    parts = []
    sweep = np.tile([-0.1, -0.1, 0.08, -0.1, 0.1, -0.06], 10)       # median < 0, |net| / gross = 0.23
    if first_sweep:
        parts.append(sweep)
    parts += [np.full(60, 1.0), sweep, np.full(60, 1.0), np.full(120, -1.0)]
    i = np.concatenate(parts)
    step = np.concatenate([np.full(len(p), k + 1) for k, p in enumerate(parts)])
    t = np.arange(len(i)) * 60.0
    return fm.curve_from_arrays(time=t, voltage=np.full(len(i), 3.7), current=i, step=step)


@pytest.mark.parametrize("first_sweep", [False, True])
def test_an_alternating_current_step_does_not_split_or_open_a_cycle(first_sweep):
    s = fm.cycle_summary(_with_sweep(first_sweep))
    assert s.attrs["first_direction"] == "charge"
    assert s.sizes["cycle"] == 1
    assert float(s.coulombic_efficiency.sel(cycle=1)) == pytest.approx(1.0, rel=0.05)
    assert (fm.step_table(_with_sweep(first_sweep)).direction.value_counts()["rest"]) == (2 if first_sweep else 1)


# --- DCIR: a charge interrupted for a moment is no pulse --------------------------------------------------


def _edge_resistance(raw: pd.DataFrame, step_from: int) -> float:
    """R = dV/dI across the edge from step ``step_from`` to the next, from the last and first records (by Index)."""
    a = raw[raw.Step == step_from].Index.max()
    before, after = raw.set_index("Index").loc[a], raw.set_index("Index").loc[a + 1]
    return (after.Voltage - before.Voltage) / ((after["Current(mA)"] - before["Current(mA)"]) / 1000)


def test_ndax_formation_start_is_no_pulse_and_dcir_matches_the_files_own_edges(shared_data):
    """The 16.8 ohm was neither mV/mA nor a wrong column: the record opens a formation charge on a cell at 0.2 V
    (20 s at 60 mA, 1 s at 0.1 mA, then the charge goes on). Its voltage rises 1.1 V in those 20 s by charge
    (an unformed cell's steep OCV), not by resistance. The 1 s interruption is a true current interrupt."""
    import NewareNDA
    path = _real(shared_data, NDAX)
    raw = NewareNDA.read(str(path), log_level="WARNING")
    r_off, r_on = _edge_resistance(raw, 2), _edge_resistance(raw, 3)    # 60 mA -> 0.1 mA, and back
    assert 1.0 < r_off < 1.3 and r_on == pytest.approx(r_off, rel=0.1)
    d = fm.dcir(fm.read_curve(path), dt=(1.0, 10.0))
    assert d.sizes["pulse"] == 1 and float(d.t0[0]) == pytest.approx(3620.0)
    assert float(d.dcir.sel(dt=1.0)[0]) / 1000 == pytest.approx(r_off, rel=1e-3)        # mohm -> ohm
    assert np.isnan(d.dcir.sel(dt=10.0)[0])                                              # a 1 s interruption


def test_an_interrupted_charge_is_no_pulse_but_its_interruption_is():
    """Rest, 20 s of charge whose voltage climbs by charge (steep OCV), a 1 s pause, then a long charge:
    only the pause is a pulse, and its DCIR is the resistance, not the climb."""
    r, k = 1.0, 0.05                                       # ohm; V per s of charge (OCV slope x current)
    t = np.r_[np.arange(0, 60.0), 60 + np.arange(0, 21.0), 81.0, 82.0, 83 + np.arange(0, 600.0)]
    i = np.r_[np.zeros(60), np.full(21, 0.06), 1e-4, 1e-4, np.full(600, 0.06)]
    ocv = 0.2 + k * np.clip(t - 60, 0, 20) + k * np.clip(t - 83, 0, None) / 10
    v = ocv + r * i
    d = fm.dcir(fm.curve_from_arrays(time=t, voltage=v, current=i), dt=(1.0,))
    assert d.sizes["pulse"] == 1 and float(d.t0[0]) == 81.0
    assert float(d.dcir[0, 0]) == pytest.approx(1000.0, rel=1e-3)


# --- cell ids: the stem of a file name the cycler software wrote into its header ------------------------------


def test_novonix_cell_id_is_the_stem_of_its_cell_field(shared_data):
    path = _real(shared_data, Path("formation") / "novonix_formation_ch01_first_charge.csv")
    field = next(ln.split(":", 1)[1].strip() for ln in path.read_text(encoding="utf-8").splitlines()
                 if ln.startswith("Cell:"))
    assert field == "Test_Form-CH01-01.csv"
    assert fm.read_curve(path).attrs["cell_id"] == "Test_Form-CH01-01"


def _novonix(tmp_path, cell_field: str, name="gen.csv"):
    rows = [f"{t / 3600:.6f},{3.0 + t * 1e-4:.5f},0.1,{0.1 * t / 3600:.6f},1,1,1,25.0" for t in range(0, 600, 60)]
    text = "\n".join(["[Summary]", "Novonix HPC data file", f"Cell: {cell_field}", "Capacity (Ah): 0.24",
                      "[End Summary]", "[Data]",
                      ("Run Time (h),Potential (V),Current (A),Capacity (Ah),Cycle Number,Step Number,Step Type,"
                       "Temperature (°C)")] + rows) + "\n"
    out = tmp_path / name
    out.write_text(text, encoding="utf-8")
    return out


@pytest.mark.parametrize("field,expect", [("A12-07.csv", "A12-07"), ("A12-07.TXT", "A12-07"), ("A12-07", "A12-07"),
                                          ("LGM50.3", "LGM50.3"), ("", "gen")])
def test_generated_novonix_cell_ids(tmp_path, field, expect):
    assert fm.read_curve(_novonix(tmp_path, field)).attrs["cell_id"] == expect


# --- half cells: an electrode against Li metal, named, its cycles opened by the lithiation -----------------


def _steps(frame, step_col, time_col, current_col, caps):
    """Per active step: |∫I dt| (Ah) and the capacity columns' span (Ah), from the raw file."""
    seg = (frame[step_col] != frame[step_col].shift()).cumsum()
    out = []
    for _, g in frame.groupby(seg):
        if len(g) < 5 or (g[current_col] == 0).all():
            continue
        q_int = abs(np.trapezoid(g[current_col], g[time_col])) / 3600
        q_file = max(float(g[c].max() - g[c].min()) for c in caps)
        out.append((q_int, q_file))
    return np.array(out)


def test_sintef_half_cell_is_named_and_its_coarse_current_flagged(shared_data, capsys):
    """Graphite vs Li: lithiation (voltage falling to 0.01 V) is the half cell's discharge. The first CE 0.51 is
    the file's own (3.2 / 6.3 mAh), so it is flagged with reasons, not changed: the current column holds
    +-0.0002 A only and integrates to ~1.13x the cycler's capacity columns."""
    path = _real(shared_data, SINTEF)
    frame = pd.read_csv(path)
    curve = fm.read_curve(path)
    assert curve.attrs["cell_type"].startswith("half cell")
    s = fm.cycle_summary(curve)
    assert s.attrs["first_direction"] == "discharge"
    assert float(s.coulombic_efficiency.sel(cycle=1)) == pytest.approx(0.0032 / 0.0063, rel=1e-9)
    steps = _steps(frame, "step_index", "test_time_second", "current_ampere",
                   ["charging_capacity_ah", "discharging_capacity_ah"])
    ratio = float(np.median(steps[:, 0] / steps[:, 1]))
    assert 1.1 < ratio < 1.16
    checks = curve.attrs["checks"]
    assert any(c.startswith("half_cell") and "0.01 V" in c for c in checks), checks
    assert any(c.startswith("current_vs_capacity") and f"{ratio:.3g}x" in c and "0.0002" in c for c in checks), checks

    import argparse

    from apps.cli import formation as cli
    parser = argparse.ArgumentParser(prog="workbench")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["formation", str(path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "check: half_cell" in out and "check: current_vs_capacity" in out and "CE 0.508 in cycle 1" in out


def test_arbin_half_cell_ce_is_delithiation_over_lithiation(shared_data):
    """The Arbin record opens with a one-sample 0.7 uA 'charge'; it had made the charge open the cycles, so its
    CE was lithiation / delithiation. Against the file's own Charge/Discharge_Capacity per cycle."""
    import io
    import shutil
    import subprocess
    path = _real(shared_data, ARBIN)
    exe = shutil.which("mdb-export")
    assert exe, "mdb-export missing: apt-get install mdbtools (scripts/setup.sh --system)"
    df = pd.read_csv(io.BytesIO(subprocess.run([exe, str(path), "Channel_Normal_Table"], capture_output=True,
                                               check=True).stdout)).sort_values("Data_Point")
    per = df.groupby("Cycle_Index")
    delith = per.Charge_Capacity.max() - per.Charge_Capacity.min()
    lith = per.Discharge_Capacity.max() - per.Discharge_Capacity.min()
    s = fm.cycle_summary(fm.read_curve(path))
    assert s.attrs["first_direction"] == "discharge"
    for c in (1, 2, 5):
        assert float(s.coulombic_efficiency.sel(cycle=c)) == pytest.approx(delith[c] / lith[c], rel=5e-3)


def _bdf(tmp_path, v_lo, v_hi, v_rest, *, stray=False, coarse=False, name="gen.bdf.csv"):
    """Rest, [one-sample stray charge], then discharge v_hi -> v_lo and charge v_lo -> v_hi twice (1 mA, 1 h each,
    the second cycle's charge 5 % short), with per-step capacity columns counted from the exact current."""
    rows, t, step = [], 0.0, 1
    for _ in range(30):
        rows.append((t, v_rest, 0.0, step, 0.0, 0.0)); t += 60
    if stray:
        step += 1
        rows.append((t, v_rest, 7e-7, step, 0.0, 0.0)); t += 1
    for k in range(2):
        for sign, dur in ((-1, 3600.0), (+1, 3600.0 * (0.95 if k else 0.9))):
            step += 1
            for s in np.arange(0.0, dur + 1, 60.0):
                frac = s / dur
                v = v_hi + (v_lo - v_hi) * frac if sign < 0 else v_lo + (v_hi - v_lo) * frac
                cur = sign * 1.0e-3 * (1 + 0.2 * (s % 120 == 0))         # the true current ripples a little
                q = 1.0e-3 * s / 3600 * (1 + 0.1)
                rows.append((t + s, v, cur, step, q if sign < 0 else 0.0, q if sign > 0 else 0.0))
            t += dur + 60
    frame = pd.DataFrame(rows, columns=["test_time_second", "voltage_volt", "current_ampere", "step_index",
                                        "discharging_capacity_ah", "charging_capacity_ah"])
    if coarse:                                                           # one significant digit, as Landt wrote it
        frame["current_ampere"] = frame.current_ampere.round(3)
    out = tmp_path / name
    frame.to_csv(out, index=False)
    return out


@pytest.mark.parametrize("kind,v_lo,v_hi,v_rest,half", [("graphite vs Li", 0.01, 1.5, 2.9, True),
                                                       ("full cell", 3.0, 4.2, 3.6, False),
                                                       ("Li|Li symmetric", -0.1, 0.1, 0.0, False)])
def test_generated_half_cells_are_named_and_open_with_the_lithiation(tmp_path, kind, v_lo, v_hi, v_rest, half):
    curve = fm.read_curve(_bdf(tmp_path, v_lo, v_hi, v_rest, stray=True))
    assert ("cell_type" in curve.attrs) == half, kind
    s = fm.cycle_summary(curve)
    if half:                                        # the stray charge sample does not open the cycles
        assert s.attrs["first_direction"] == "discharge"
        np.testing.assert_allclose(s.coulombic_efficiency.values, [0.9, 0.95], rtol=1e-3)
    else:
        assert not any(c.startswith("half_cell") for c in curve.attrs.get("checks", []))


@pytest.mark.parametrize("coarse", [False, True])
def test_generated_coarse_current_is_flagged_against_the_capacity_columns(tmp_path, coarse):
    curve = fm.read_curve(_bdf(tmp_path, 3.0, 4.2, 3.6, coarse=coarse))
    flagged = [c for c in curve.attrs.get("checks", []) if c.startswith("current_vs_capacity")]
    assert bool(flagged) == coarse, flagged


# --- a temperature of 0 throughout is no reading ---------------------------------------------------------------


def test_a_temperature_column_of_zeros_is_marked_missing(shared_data):
    """SINTEF's 'ambient_temperature_celsius' (a 25 degC test by its name) and the .ndax's T1 read 0 in every
    record; the .ndax's own aux channels read 24-27 degC. 0 degC was reported as the DCIR pulse temperature."""
    for rel, col in ((SINTEF, "ambient_temperature_celsius"), (NDAX, "T1")):
        curve = fm.read_curve(_real(shared_data, rel))
        assert np.isnan(curve.temperature.values).all()
        assert any(r.startswith("temperature_not_measured") and repr(col) in r for r in curve.attrs["repairs"])
    assert any(c.startswith("aux_channels") and "'?1_x' 24.05..26.48" in c for c in curve.attrs["checks"])
    assert np.isnan(fm.dcir(curve).temperature.values).all()


@pytest.mark.parametrize("temps,marked", [(np.zeros(4), True), (np.array([0.0, 0.0, 0.1, 0.0]), False),
                                          (np.full(4, 25.0), False)])
def test_generated_temperature_of_zeros(tmp_path, temps, marked):
    frame = pd.DataFrame({"test_time_second": [0.0, 60, 120, 180], "voltage_volt": [3.6, 3.62, 3.64, 3.66],
                          "current_ampere": [1.0] * 4, "ambient_temperature_celsius": temps})
    out = tmp_path / "t.bdf.csv"
    frame.to_csv(out, index=False)
    curve = fm.read_curve(out)
    assert np.isnan(curve.temperature.values).all() == marked
    assert any(r.startswith("temperature_not_measured") for r in curve.attrs["repairs"]) == marked
    if marked:
        with pytest.raises(fm.FormationRepairError, match="t.bdf.csv.*temperature_not_measured"):
            fm.read_curve(out, strict=True)

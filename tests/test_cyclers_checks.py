"""Doubts raised on real files, each settled at its cause: a BioLogic record with impedance sweeps (CE 0 and a
split cycle came from the sweeps' alternating current), a Neware formation record with DCIR 16.8 ohm (the
opening seconds of a first charge taken for a pulse), ... Each principle is also tested on generated data."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench.formation as fm

BIOLOGIC = Path("cyclers") / "cellpy" / "biol.mpr"
NDAX = Path("cyclers") / "cellpy" / "20260302_IFE_BTS85_2_9_8_1.ndax"


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
                      "Run Time (h),Potential (V),Current (A),Capacity (Ah),Cycle Number,Step Number,Step Type,"
                      "Temperature (°C)"] + rows) + "\n"
    out = tmp_path / name
    out.write_text(text, encoding="utf-8")
    return out


@pytest.mark.parametrize("field,expect", [("A12-07.csv", "A12-07"), ("A12-07.TXT", "A12-07"), ("A12-07", "A12-07"),
                                          ("LGM50.3", "LGM50.3"), ("", "gen")])
def test_generated_novonix_cell_ids(tmp_path, field, expect):
    assert fm.read_curve(_novonix(tmp_path, field)).attrs["cell_id"] == expect

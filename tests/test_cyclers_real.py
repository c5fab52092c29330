"""Every development cycler file reads, and its numbers match the file read directly (within 0.5 %).

References are computed here from the raw file with plain pandas/csv (or, for Neware binaries, from the
NewareNDA reference table ``*.ftr`` beside each file), independently of workbench.cyclers: per-cycle
charge and discharge capacity (sum over the cycle's steps of each step's capacity span), number of
cycles, first and last time, and one voltage."""

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench.formation as fm
from workbench.cyclers import sniff

REL = 5e-3


def _real(shared_data: Path, rel: str) -> Path:
    path = shared_data / "cyclers" / rel
    if not path.is_file():
        pytest.fail(f"reference file {path} is missing; restore ../shared/data (see its NOTICE.md)", pytrace=False)
    return path


def _per_cycle(cycle, step, current, q_charge, q_discharge=None):
    """Per-cycle (charge Ah, discharge Ah): each step's capacity span, summed by the step's current sign."""
    df = pd.DataFrame({"cycle": cycle, "step": step, "i": current, "qc": q_charge,
                       "qd": q_charge if q_discharge is None else q_discharge})
    seg = (df.step != df.step.shift()).cumsum()
    g = df.groupby(seg)
    steps = pd.DataFrame({"cycle": g.cycle.first(), "sign": np.sign(g.i.median()),
                          "qc": g.qc.max() - g.qc.min(), "qd": g.qd.max() - g.qd.min()})
    ch = steps[steps.sign > 0].groupby("cycle").qc.sum()
    dis = steps[steps.sign < 0].groupby("cycle").qd.sum()
    return ch, dis


def _check_cycles(curve, ch, dis, n_cycles, shift=0):
    s = fm.cycle_summary(curve)
    assert s.sizes["cycle"] == n_cycles
    for c, q in ch.items():
        if q > 0:
            assert float(s.charge_capacity.sel(cycle=c + shift)) == pytest.approx(q, rel=REL), c
    for c, q in dis.items():
        if q > 0:
            assert float(s.discharge_capacity.sel(cycle=c + shift)) == pytest.approx(q, rel=REL), c


@pytest.mark.parametrize("name", ["TestFile", "Unit27_Example_Data_File", "new_nda_file"])
def test_neware_binaries_match_their_reference_tables(shared_data, name):
    path = next(p for p in (shared_data / "cyclers" / "newarenda").glob(name + ".nda*"))
    ref = pd.read_feather(_real(shared_data, f"newarenda/{name}.ftr"))
    assert sniff(path) == "neware-binary"
    curve = fm.read_curve(path)
    ch, dis = _per_cycle(ref.Cycle, ref.Step, ref["Current(mA)"], ref["Charge_Capacity(mAh)"] / 1000,
                         ref["Discharge_Capacity(mAh)"] / 1000)
    _check_cycles(curve, ch, dis, ref.Cycle.nunique())
    # test time: the reference's Time column, laid end to end where it restarts at a step change
    t = ref.Time.to_numpy(float)
    back = np.flatnonzero(np.diff(t) < 0) + 1
    last = t[-1] + sum(t[i - 1] for i in back)
    assert float(curve.time[0]) == pytest.approx(t[0], abs=0.02)
    assert float(curve.time[-1]) == pytest.approx(last, rel=REL)
    # one voltage, joined by the record index (the reference may hold a row the current reader drops)
    row = ref.iloc[len(ref) // 2]
    v = float(curve.voltage.values[np.flatnonzero(_indices(path) == row.Index)[0]])
    assert v == pytest.approx(float(row.Voltage), rel=1e-6)


def _indices(path):
    import NewareNDA
    return NewareNDA.read(str(path))["Index"].to_numpy()


def test_ndax_from_cellpy(shared_data):
    import NewareNDA
    path = _real(shared_data, "cellpy/20260302_IFE_BTS85_2_9_8_1.ndax")
    raw = NewareNDA.read(str(path))
    curve = fm.read_curve(path)
    ch, dis = _per_cycle(raw.Cycle, raw.Step, raw["Current(mA)"], raw["Charge_Capacity(mAh)"] / 1000,
                         raw["Discharge_Capacity(mAh)"] / 1000)
    _check_cycles(curve, ch, dis, raw.Cycle.nunique())
    assert float(curve.voltage[100]) == pytest.approx(float(raw.Voltage.iloc[100]), rel=1e-6)


def test_maccor_text(shared_data):
    path = _real(shared_data, "cellpy/maccor_001.txt")
    df = pd.read_csv(path, sep="\t", skiprows=3, index_col=False)
    assert sniff(path) == "maccor"
    curve = fm.read_curve(path)
    # per step: Amp-hr resets each step; the state says charge (C) or discharge (D)
    seg = (df.Step != df.Step.shift()).cumsum()
    g = df.groupby(seg)
    steps = pd.DataFrame({"state": g.State.agg(lambda s: s.mode().iloc[0]), "q": g["Amp-hr"].max()})
    tab = fm.step_table(curve)
    np.testing.assert_allclose(tab[tab.direction == "charge"].throughput, steps[steps.state == "C"].q, rtol=REL)
    np.testing.assert_allclose(tab[tab.direction == "discharge"].throughput, steps[steps.state == "D"].q, rtol=REL)
    last = df.TestTime.iloc[-1].strip()                    # '2d 02:52:51.57'
    d, hms = last.split("d")
    h, m, s = hms.strip().split(":")
    assert float(curve.time[-1]) == pytest.approx(int(d) * 86400 + int(h) * 3600 + int(m) * 60 + float(s), rel=1e-9)
    assert float(curve.voltage[99]) == pytest.approx(df.Volts.iloc[99])


def test_neware_csv_that_was_cut_while_written(shared_data):
    path = _real(shared_data, "cellpy/neware_uio.csv")
    text = path.read_text()
    assert not text.endswith("\n")                         # the real file stops mid-number
    df = pd.read_csv(io.StringIO(text.rsplit("\n", 1)[0]))
    curve = fm.read_curve(path)
    assert any(r.startswith("truncated_last_row") for r in curve.attrs["repairs"])
    ch, dis = _per_cycle(df["Cycle Index"], df["Step Index"], df["Current(A)"], df["Chg. Cap.(Ah)"],
                         df["DChg. Cap.(Ah)"])
    _check_cycles(curve, ch, dis, df["Cycle Index"].nunique())
    h, m, s = df["Cumulative Time"].iloc[-1].split(":")
    assert float(curve.time[-1]) == pytest.approx(int(h) * 3600 + int(m) * 60 + int(s))
    assert float(curve.voltage[0]) == pytest.approx(df["Voltage(V)"].iloc[0])


def test_pec_csv(shared_data):
    path = _real(shared_data, "cellpy/pec.csv")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("Test,Cell,"))
    df = pd.read_csv(path, skiprows=k, index_col=False, encoding_errors="replace")
    curve = fm.read_curve(path)
    ch, dis = _per_cycle(df.Cycle, df.Step, df["Current (mA)"], df["Charge Capacity (mAh)"] / 1000,
                         df["Discharge Capacity (mAh)"] / 1000)
    _check_cycles(curve, ch, dis, df.Cycle.nunique())
    assert float(curve.time[0]) == pytest.approx(df["Total Time (Seconds)"].iloc[0])
    assert float(curve.time[-1]) == pytest.approx(df["Total Time (Seconds)"].iloc[-1])
    assert float(curve.voltage[10]) == pytest.approx(df["Voltage (mV)"].iloc[10] / 1000)
    # the Cell ID column is empty in this export: the id falls back to the file and PEC test number
    assert df["Cell ID"].isna().all() and curve.attrs["cell_id"] == "pec-test187"


def test_arbin_res(shared_data):
    path = _real(shared_data, "cellpy/20160805_test001_45_cc_01.res")
    exe = shutil.which("mdb-export")
    assert exe, "mdb-export missing: apt-get install mdbtools (scripts/setup.sh --system)"
    df = pd.read_csv(io.BytesIO(subprocess.run([exe, str(path), "Channel_Normal_Table"], capture_output=True,
                                               check=True).stdout)).sort_values("Data_Point")
    curve = fm.read_curve(path)
    ch, dis = _per_cycle(df.Cycle_Index, df.Step_Index, df.Current, df.Charge_Capacity, df.Discharge_Capacity)
    _check_cycles(curve, ch, dis, df.Cycle_Index.nunique())
    assert float(curve.time[0]) == pytest.approx(df.Test_Time.iloc[0])
    assert float(curve.time[-1]) == pytest.approx(df.Test_Time.iloc[-1])
    assert float(curve.voltage[500]) == pytest.approx(df.Voltage.iloc[500])


def test_biologic_mpr(shared_data):
    from galvani import BioLogic
    path = _real(shared_data, "cellpy/biol.mpr")
    data = pd.DataFrame(BioLogic.MPRfile(str(path)).data)
    curve = fm.read_curve(path)
    q = data["(Q-Qo)/mA.h"] / 1000            # this file has no cycle column: totals over the record
    ch, dis = _per_cycle(np.ones(len(data)), data["Ns"], data["I/mA"], q)
    s = fm.cycle_summary(curve)
    assert float(s.charge_capacity.sum()) == pytest.approx(ch.sum(), rel=REL)
    assert float(s.discharge_capacity.sum()) == pytest.approx(dis.sum(), rel=REL)
    assert float(curve.time[-1]) == pytest.approx(data["time/s"].iloc[-1] - 0.0, rel=1e-9)
    assert float(curve.voltage[1000]) == pytest.approx(data["Ewe/V"].iloc[1000], rel=1e-6)

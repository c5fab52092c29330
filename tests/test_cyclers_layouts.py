"""Layouts without a development file, generated from real records: Maccor's second header layout with a
bare TestTime in minutes, Neware's nested cycle/step/record CSV, BioLogic's .mpt text (decimal comma).
Each must give the numbers of the record it was made from."""

import numpy as np
import pandas as pd
import pytest

import workbench.formation as fm
from workbench.cyclers import sniff


def _src(shared_data, rel):
    path = shared_data / rel
    if not path.is_file():
        pytest.fail(f"reference file {path} is missing; restore ../shared/data (see its NOTICE.md)", pytrace=False)
    return path


def test_maccor_second_layout_with_minutes(tmp_path, shared_data):
    src = _src(shared_data, "cyclers/cellpy/maccor_001.txt")
    original = fm.read_curve(src)
    df = pd.read_csv(src, sep="\t", skiprows=3, index_col=False)
    minutes = original.time.values / 60.0
    lines = ["Filename:\tM50_second_layout\tProcedure:\tx.000",
             "\t".join(["Rec", "Cycle P", "Cycle C", "Step", "TestTime", "StepTime", "Cap. [Ah]", "Ener. [Wh]",
                        "Current [A]", "Voltage [V]", "Md", "ES", "DPT Time"])]
    for k, r in enumerate(df.itertuples(index=False)):
        lines.append("\t".join([str(k + 1), "0", "0", str(r.Step), f"{minutes[k]:.6f}", "0", f"{r[5]:.5f}", "0",
                                f"{r.Amps:.5f}", f"{r.Volts:.5f}", r.State, "0", r[11]]))
    out = tmp_path / "second.txt"
    out.write_text("\n".join(lines) + "\n")
    assert sniff(out) == "maccor"
    curve = fm.read_curve(out)
    assert any("minutes" in n for n in curve.attrs["units_from_headers"])
    np.testing.assert_allclose(curve.time.values, original.time.values, rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(fm.cycle_summary(curve).discharge_capacity, fm.cycle_summary(original).discharge_capacity,
                               rtol=5e-3)


def test_neware_nested_export(tmp_path, shared_data):
    src = _src(shared_data, "cyclers/cellpy/neware_uio.csv")
    text = src.read_text()
    df = pd.read_csv(pd.io.common.StringIO(text.rsplit("\n", 1)[0]))
    out_lines = ["Cycle ID,Cap_Chg(mAh),Cap_DChg(mAh)", ",Step ID,Step Name,Step Time",
                 ",,Record ID,Time(h:min:s.ms),Voltage(V),Current(mA),Capacity(mAh),Chg. Cap.(mAh),DChg. Cap.(mAh),"
                 "Realtime"]
    for cyc, cdf in df.groupby("Cycle Index", sort=False):
        out_lines.append(f"{cyc},0,0")
        for step, sdf in cdf.groupby((cdf["Step Index"] != cdf["Step Index"].shift()).cumsum(), sort=False):
            out_lines.append(f",{sdf['Step Index'].iloc[0]},{sdf['Step Type'].iloc[0]},{sdf['Time'].iloc[-1]}")
            for r in sdf.itertuples(index=False):
                out_lines.append(f",,{r.DataPoint},{r.Time}.000,{r[7]},{r[6] * 1000:.5f},{r[8] * 1000:.5f},"
                                 f"{r[10] * 1000:.5f},{r[12] * 1000:.5f},{r.Date}")
    out = tmp_path / "nested.csv"
    out.write_text("\n".join(out_lines) + "\n")
    assert sniff(out) == "neware-csv"
    curve, original = fm.read_curve(out), fm.read_curve(src)
    a, b = fm.cycle_summary(curve), fm.cycle_summary(original)
    np.testing.assert_allclose(a.charge_capacity, b.charge_capacity, rtol=5e-3)
    np.testing.assert_allclose(a.discharge_capacity, b.discharge_capacity, rtol=5e-3)
    assert float(curve.time[-1]) == pytest.approx(float(original.time[-1]), abs=120)   # step times, 1 s each


def test_biologic_mpt_text_with_decimal_comma(tmp_path, shared_data):
    from galvani import BioLogic
    src = _src(shared_data, "cyclers/cellpy/biol.mpr")
    data = pd.DataFrame(BioLogic.MPRfile(str(src)).data)[["time/s", "Ewe/V", "I/mA", "(Q-Qo)/mA.h", "Ns"]]
    body = data.to_csv(sep="\t", index=False, float_format="%.9g").replace(".", ",")
    header = ["EC-Lab ASCII FILE", "Nb header lines : 5", "", "Mode : galvanostatic"]
    out = tmp_path / "biol.mpt"
    out.write_text("\n".join(header) + "\n" + body.replace("time/s", "time/s"), encoding="latin-1")
    assert sniff(out) == "biologic-mpt"
    curve, original = fm.read_curve(out), fm.read_curve(src)
    np.testing.assert_allclose(curve.voltage.values, original.voltage.values, rtol=1e-6)
    np.testing.assert_allclose(fm.cycle_summary(curve).charge_capacity, fm.cycle_summary(original).charge_capacity,
                               rtol=5e-3)

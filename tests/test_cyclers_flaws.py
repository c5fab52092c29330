"""Real-file flaws, made by editing real files in tmp_path: each is read right (repair listed) or refused
with a message naming the file, the row or column, and the fix; ``strict=True`` refuses every repair."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench.formation as fm
from workbench.cyclers import FormationRepairError

SINTEF = Path("cycling") / "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"
NEWARE = Path("cyclers") / "cellpy" / "neware_uio.csv"


@pytest.fixture(scope="module")
def sintef(shared_data):
    path = shared_data / SINTEF
    if not path.is_file():
        pytest.fail(f"reference file {path} is missing; restore ../shared/data (see its NOTICE.md)", pytrace=False)
    frame = pd.read_csv(path)
    summary = fm.cycle_summary(fm.read_curve(path))
    return path, frame, summary


def _write(tmp_path, frame, name="edited.bdf.csv"):
    out = tmp_path / name
    frame.to_csv(out, index=False)
    return out


def _same_capacities(curve, summary):
    s = fm.cycle_summary(curve)
    np.testing.assert_allclose(s.charge_capacity.values, summary.charge_capacity.values, rtol=5e-3)
    np.testing.assert_allclose(s.discharge_capacity.values, summary.discharge_capacity.values, rtol=5e-3)


def _repaired(path, kind):
    curve = fm.read_curve(path)
    assert any(r.startswith(kind) for r in curve.attrs["repairs"]), curve.attrs["repairs"]
    with pytest.raises(FormationRepairError, match=f"{path.name}.*{kind}"):
        fm.read_curve(path, strict=True)
    return curve


def test_rows_duplicated_at_step_changes(tmp_path, sintef):
    path, frame, summary = sintef
    change = np.flatnonzero(frame.step_index.diff().fillna(0).to_numpy() != 0)
    # the last record of each step again (an exact repeat), and the next step's first record at that time
    again = frame.iloc[change - 1]
    start = frame.iloc[change].assign(test_time_second=frame.test_time_second.iloc[change - 1].to_numpy())
    edited = pd.concat([frame, again, start.set_axis(change - 0.5)]).sort_index(kind="stable")
    edited = edited.drop(index=change).reset_index(drop=True)
    curve = _repaired(_write(tmp_path, edited), "duplicate_rows")
    assert any(r.startswith("same_time_at_step_change") for r in curve.attrs["repairs"])
    _same_capacities(curve, summary)
    assert curve.step.max() == fm.read_curve(path).step.max()            # no step lost


@pytest.mark.parametrize("factor", [1000.0, 3600.0])
def test_time_in_wrong_unit_is_found_from_the_capacity_column(tmp_path, sintef, factor):
    path, frame, summary = sintef
    edited = frame.assign(test_time_second=frame.test_time_second * factor)
    curve = _repaired(_write(tmp_path, edited), "time_unit")
    _same_capacities(curve, summary)
    assert float(curve.time[-1]) == pytest.approx(frame.test_time_second.iloc[-1], rel=1e-9)


def test_time_in_wrong_unit_without_any_reference_is_refused(tmp_path, sintef):
    _, frame, _ = sintef
    edited = frame[["test_time_second", "voltage_volt", "current_ampere"]].assign(
        test_time_second=frame.test_time_second * 3600)
    out = _write(tmp_path, edited)
    with pytest.raises(fm.FormationDataError, match=r"edited.bdf.csv column 'test_time_second'.*years.*convert"):
        fm.read_curve(out)


def test_time_restart_without_a_clock_names_the_row(tmp_path, sintef):
    _, frame, _ = sintef
    k = len(frame) // 2
    edited = frame.copy()
    edited.loc[k:, "test_time_second"] -= edited.test_time_second.iloc[k]
    with pytest.raises(fm.FormationDataError, match=rf"edited.bdf.csv column 'test_time_second'.* row {k + 2}.*split"):
        fm.read_curve(_write(tmp_path, edited))


def test_time_restart_bridged_by_the_clock_column(tmp_path, shared_data):
    lines = (shared_data / NEWARE).read_text().splitlines()[:-1]          # drop the real file's cut last line
    head, rows = lines[0], [r.split(",") for r in lines[1:]]
    col = head.split(",").index("Cumulative Time")
    k = 4000
    h, m, s = (int(x) for x in rows[k][col].split(":"))
    for r in rows[k:]:
        hh, mm, ss = (int(x) for x in r[col].split(":"))
        t = hh * 3600 + mm * 60 + ss - (h * 3600 + m * 60 + s)
        r[col] = f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
    out = tmp_path / "restart.csv"
    out.write_text("\n".join([head] + [",".join(r) for r in rows]) + "\n")
    original = fm.read_curve(shared_data / NEWARE)
    curve = _repaired(out, "time_restart")
    assert any("'Date'" in r for r in curve.attrs["repairs"])
    assert float(curve.time[-1]) == pytest.approx(float(original.time[-1]), abs=61)   # Date has 1 s, steps 60 s
    np.testing.assert_allclose(fm.cycle_summary(curve).charge_capacity, fm.cycle_summary(original).charge_capacity,
                               rtol=5e-3)


def test_current_column_in_milliamps(tmp_path, sintef):
    path, frame, summary = sintef
    edited = frame.rename(columns={"current_ampere": "Current / mA"}).assign(**{"Current / mA": frame.current_ampere * 1e3})
    curve = fm.read_curve(_write(tmp_path, edited))
    assert any("Current / mA" in n for n in curve.attrs["units_from_headers"])
    assert [r for r in curve.attrs["repairs"] if not r.startswith("temperature_not_measured")] == []
    _same_capacities(curve, summary)
    # the header says mA but the numbers are still amperes: the capacity column shows it
    wrong = frame.rename(columns={"current_ampere": "Current / mA"})
    curve = _repaired(_write(tmp_path, wrong, "wrong.bdf.csv"), "current_unit")
    _same_capacities(curve, summary)


def test_cut_mid_number(tmp_path, sintef):
    path, frame, summary = sintef
    text = path.read_text()
    cut = tmp_path / "cut.bdf.csv"
    last = text.rstrip("\n").rfind("\n") + 1
    cut.write_text(text[:text.index(",", last) + 4])                    # stops mid-voltage: '0.1' of '0.1086'
    assert cut.read_text().endswith(",0.1")
    curve = _repaired(cut, "truncated_last_row")
    assert curve.sizes["sample"] == len(frame) - 1


def test_flipped_current_sign(tmp_path, sintef):
    path, frame, summary = sintef
    curve = _repaired(_write(tmp_path, frame.assign(current_ampere=-frame.current_ampere)), "current_sign")
    _same_capacities(curve, summary)


def test_millivolts_in_the_voltage_column(tmp_path, sintef):
    path, frame, summary = sintef
    curve = _repaired(_write(tmp_path, frame.assign(voltage_volt=frame.voltage_volt * 1000)), "millivolts")
    np.testing.assert_allclose(curve.voltage.values, frame.voltage_volt.values, rtol=1e-12)
    _same_capacities(curve, summary)


def test_non_integer_cycle_numbers(tmp_path, sintef):
    path, frame, summary = sintef
    edited = frame.assign(cycle_count=np.where(np.arange(len(frame)) > 100, 6.2832, 1.0))
    curve = _repaired(_write(tmp_path, edited), "cycle_not_integer")
    assert "6.2832" in curve.attrs["repairs"][0] and "line 103" in curve.attrs["repairs"][0]
    _same_capacities(curve, summary)


def test_unknown_file_is_refused_with_the_formats(tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("hello\nworld\n")
    with pytest.raises(fm.FormationDataError, match="notes.txt: not a cycler export.*maccor"):
        fm.read_curve(out)


def test_more_out_than_in_past_the_first_cycle_is_named(sintef):
    from workbench.cyclers.folder import efficiency_checks
    _, _, summary = sintef
    assert [c for c in efficiency_checks(summary) if "not returned" not in c] == []   # its low first CE: checks
    # two cycles; in the second, the discharge (out) lasts 30 % longer than the charge (in): no cell does that
    t, i = [], []
    for k, (dur_c, dur_d) in enumerate([(3600, 3400), (3600, 4680)]):
        t0 = k * 9000.0
        t += list(t0 + np.arange(0, dur_c, 60.0)) + list(t0 + dur_c + 60 + np.arange(0, dur_d, 60.0))
        i += [1.0] * len(np.arange(0, dur_c, 60.0)) + [-1.0] * len(np.arange(0, dur_d, 60.0))
    curve = fm.curve_from_arrays(time=t, voltage=np.full(len(t), 3.7), current=i)
    checks = efficiency_checks(fm.cycle_summary(curve))
    assert len(checks) == 1 and "cycle(s) [2]" in checks[0]


def test_time_in_milliseconds_is_found_from_the_clock_column(tmp_path, shared_data):
    src = shared_data / "cyclers" / "cellpy" / "pec.csv"
    lines = src.read_text(encoding="utf-8", errors="replace").splitlines()
    k = next(n for n, ln in enumerate(lines) if ln.startswith("Test,Cell,"))
    col = lines[k].split(",").index("Total Time (Seconds)")
    for n in range(k + 1, len(lines)):
        f = lines[n].split(",")
        f[col] = repr(float(f[col]) * 1000)
        lines[n] = ",".join(f)
    out = tmp_path / "pec_ms.csv"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    curve, original = _repaired(out, "time_unit"), fm.read_curve(src)
    assert any("clock column 'Real Time'" in r for r in curve.attrs["repairs"])
    np.testing.assert_allclose(curve.time.values, original.time.values, rtol=1e-9)

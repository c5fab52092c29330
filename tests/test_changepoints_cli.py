"""`workbench detect FILE` over CSV, Parquet, NetCDF and Zarr: segments or change lists, clear errors."""

import argparse

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from apps.cli import detect as detect_cli


def _run(argv, capsys):
    parser = argparse.ArgumentParser(prog="workbench")
    detect_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["detect", *argv])
    rc = args.func(args)
    out, err = capsys.readouterr()
    return rc, out, err


def _table():
    rng = np.random.default_rng(0)
    t = pd.date_range("2026-01-05 06:00", periods=600, freq="1min", tz="UTC")
    return pd.DataFrame({
        "timestamp": t,
        "lane01": np.r_[np.zeros(300), np.full(300, 0.5)] + 0.1 * rng.normal(size=600),
        "lane02": 0.1 * rng.normal(size=600),
    })


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_segments_of_a_table(tmp_path, capsys, suffix):
    path = tmp_path / f"gauge{suffix}"
    df = _table()
    df.to_csv(path, index=False) if suffix == ".csv" else df.to_parquet(path)
    rc, out, err = _run([str(path), "--min-duration", "10min", "--no-progress"], capsys)
    assert rc == 0 and err == ""
    seg = pd.read_csv(pd.io.common.StringIO(out))
    assert seg.groupby("series").size().to_dict() == {"lane01": 2, "lane02": 1}
    lane1 = seg[seg.series == "lane01"]
    assert abs(lane1.start_index.iloc[1] - 300) <= 3
    np.testing.assert_allclose(lane1.level, [0.0, 0.5], atol=0.03)


@pytest.mark.parametrize("store", ["nc", "zarr"])
def test_changes_of_a_stored_dataset_written_to_parquet(tmp_path, capsys, store):
    t = pd.date_range("2026-01-05", periods=500, freq="1min")
    rng = np.random.default_rng(1)
    mass = 20 + 0.1 * rng.normal(size=(500, 3))
    mass[250:, 1] += 0.6
    ds = xr.Dataset({"areal_mass": (("time", "lane"), mass, {"units": "mg/cm^2"}),
                     "lot_id": ("time", np.where(np.arange(500) < 250, "L1", "L2"))},
                    coords={"time": t, "lane": [1, 2, 3]})
    path = tmp_path / f"history.{store}"
    ds.to_netcdf(path) if store == "nc" else ds.to_zarr(path, zarr_format=2, consolidated=True)
    dest = tmp_path / "changes.parquet"
    rc, out, err = _run([str(path), "--changes", "-o", str(dest)] + (["--progress"] if store == "zarr" else []), capsys)
    assert rc == 0 and f"{dest}: 1 rows" in out
    changes = pd.read_parquet(dest)
    assert changes.variable.tolist() == ["areal_mass"] and changes.lane.tolist() == [2]
    assert abs(changes.time.iloc[0] - t[250]) <= pd.Timedelta("3min") and changes.units.iloc[0] == "mg/cm^2"
    if store == "zarr":
        assert "100% Completed" in err  # lazy input: the progress bar shows while it computes, when asked
        rc, _, err = _run([str(path), "--changes", "-o", str(dest)], capsys)
        assert rc == 0 and "Completed" not in err  # by default only on a terminal: a log gets no bar lines


def test_clear_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no such file"):
        _run([str(tmp_path / "missing.csv")], capsys)
    bad = tmp_path / "x.txt"
    bad.write_text("1,2\n")
    with pytest.raises(ValueError, match="unknown input type"):
        _run([str(bad)], capsys)
    path = tmp_path / "h.nc"
    xr.Dataset({"a": ("time", np.zeros(20))}, coords={"time": pd.date_range("2026-01-05", periods=20, freq="1min")}).to_netcdf(path)
    with pytest.raises(ValueError, match="no variable"):
        _run([str(path), "--var", "areal_mass"], capsys)
    with pytest.raises(ValueError, match="--penalty"):
        _run([str(path), "--penalty", "lots"], capsys)


# ---- bad inputs a plant export throws at it (issue 18): read correctly, or one clear line naming where
def _csv(tmp_path, text, name="export.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _lines(n=60, step_at=30, fmt="{t},{a},{b}\n", t0="2026-01-05 06:00:00+00:00"):
    rng = np.random.default_rng(2)
    t = pd.date_range(t0, periods=n, freq="1min")
    rows = []
    for i in range(n):
        a = (3.0 if i >= step_at else 0.0) + 0.1 * rng.normal()
        rows.append(fmt.format(t=t[i].isoformat(), a=f"{a:.4f}", b=f"{0.1 * rng.normal():.4f}"))
    return rows


def test_a_text_cell_in_a_numeric_column_is_a_marked_gap_and_the_series_is_kept(tmp_path, capsys):
    rows = _lines()
    rows[9] = rows[9].rsplit(",", 2)[0] + ",ERR," + rows[9].rsplit(",", 1)[1]  # data row 10 = line 11
    path = _csv(tmp_path, "time,lane01,lane02\n" + "".join(rows))
    rc, out, err = _run([str(path), "--no-progress"], capsys)
    seg = pd.read_csv(pd.io.common.StringIO(out))
    assert set(seg.series) == {"lane01", "lane02"}  # not dropped
    assert abs(seg[seg.series == "lane01"].start_index.iloc[1] - 30) <= 1
    assert "lane01" in err and "'ERR'" in err and "line(s) 11" in err and "gap" in err
    assert seg[seg.series == "lane01"].n.sum() == 59  # the ERR cell is a gap, not a value


def test_semicolons_with_decimal_commas_and_a_units_row_are_read(tmp_path, capsys):
    rows = [r.replace(",", ";").replace(".", ",") for r in _lines(fmt="{t},{a},{b}\n")]
    rows = [r.replace("+00:00", "+00:00") for r in rows]
    path = _csv(tmp_path, "time;lane01;lane02\n;mg/cm^2;mg/cm^2\n" + "".join(rows))
    rc, out, err = _run([str(path), "--no-progress"], capsys)
    seg = pd.read_csv(pd.io.common.StringIO(out))
    lane1 = seg[seg.series == "lane01"]
    assert rc == 0 and len(lane1) == 2 and abs(lane1.start_index.iloc[1] - 30) <= 1
    np.testing.assert_allclose(lane1.level, [0.0, 3.0], atol=0.1)
    assert set(seg.units) == {"mg/cm^2"}


def test_mixed_naive_and_aware_times_are_refused_with_the_lines(tmp_path, capsys):
    rows = _lines()
    rows[5] = rows[5].replace("+00:00", "")
    path = _csv(tmp_path, "time,lane01,lane02\n" + "".join(rows))
    with pytest.raises(ValueError, match=r"export.csv: column 'time' mixes times with a UTC offset \(line 2.*without \(line 7"):
        _run([str(path), "--no-progress"], capsys)


def test_a_cut_off_file_is_refused_with_the_line(tmp_path, capsys):
    text = "time,lane01,lane02\n" + "".join(_lines())
    path = _csv(tmp_path, text[: text.rindex(",")])  # cut while being written: last row lacks a field
    with pytest.raises(ValueError, match=r"export.csv: line 61 is cut off \(2 of 3 fields.*re-export"):
        _run([str(path), "--no-progress"], capsys)


def test_an_unknown_var_names_the_columns(tmp_path, capsys):
    path = _csv(tmp_path, "time,lane01,lane02\n" + "".join(_lines()))
    with pytest.raises(ValueError, match=r"no column\(s\) \['lane9'\]; it has \['lane01', 'lane02'\] \(choose with --var\)"):
        _run([str(path), "--var", "lane9", "--no-progress"], capsys)


def test_duplicate_times_are_refused_with_the_lines_not_python_advice(tmp_path, capsys):
    rows = _lines()
    rows[20] = rows[19].split(",", 1)[0] + "," + rows[20].split(",", 1)[1]  # line 22 repeats line 21's time
    path = _csv(tmp_path, "time,lane01,lane02\n" + "".join(rows))
    with pytest.raises(ValueError, match=r"appears on lines 21, 22.*keep one row per time") as exc:
        _run([str(path), "--no-progress"], capsys)
    assert "sortby" not in str(exc.value)


def test_a_text_only_column_is_skipped_with_a_note_and_a_bad_time_cell_named(tmp_path, capsys):
    rows = [r.rstrip("\n") + (",L1\n" if i < 30 else ",L2\n") for i, r in enumerate(_lines())]
    path = _csv(tmp_path, "time,lane01,lane02,lot\n" + "".join(rows))
    rc, out, err = _run([str(path), "--no-progress"], capsys)
    assert rc == 0 and "column 'lot' is text, not a series: skipped" in err
    rows[3] = "yesterday" + rows[3][rows[3].index(","):]
    path = _csv(tmp_path, "time,lane01,lane02,lot\n" + "".join(rows), "bad_time.csv")
    with pytest.raises(ValueError, match=r"bad_time.csv: column 'time' line 5: 'yesterday' is not a time"):
        _run([str(path), "--no-progress"], capsys)


def test_the_cli_masks_plc_sentinels_instead_of_105_false_changes(tmp_path, capsys):
    rows = _lines(n=400, step_at=200)
    rows[100] = rows[100].rsplit(",", 2)[0] + ",3.4e38," + rows[100].rsplit(",", 1)[1]
    path = _csv(tmp_path, "time,lane01,lane02\n" + "".join(rows))
    rc, out, err = _run([str(path), "--changes", "--no-progress"], capsys)
    ch = pd.read_csv(pd.io.common.StringIO(out))
    assert ch.series.tolist() == ["lane01"]


def test_a_bare_column_of_values_is_read_as_numbered_samples(tmp_path, capsys):
    """One column, no time column (a list of readings as exported): samples numbered from 0, with a note;
    it used to be refused as 'no numeric series columns beside 'value''."""
    rows = [f"{row.rsplit(',', 2)[1]}\n" for row in _lines(n=80, step_at=50)]
    path = _csv(tmp_path, "value\n" + "".join(rows))
    rc, out, err = _run([str(path), "--changes", "--no-progress"], capsys)
    changes = pd.read_csv(pd.io.common.StringIO(out))
    assert rc == 0 and changes.time.tolist() == [50] and changes.series.tolist() == ["value"]
    assert "samples numbered from 0" in err


def test_min_shift_and_method_from_the_command_line(tmp_path, capsys):
    """--min-shift merges away steps smaller than what matters (a number in the data's unit, or a quantity
    converted to it); --method picks another detector; a bad value is one line naming the flag."""
    rng = np.random.default_rng(4)
    t = pd.date_range("2026-01-05 06:00", periods=900, freq="1min", tz="UTC")
    gauge = np.r_[np.zeros(300), np.full(300, 0.4), np.full(300, 2.4)] + 0.05 * rng.normal(size=900)
    path = tmp_path / "gauge.csv"
    rows = "".join(f"{a.isoformat()},{v:.4f}\n" for a, v in zip(t, gauge))
    path.write_text("time,lane01\n,mg/cm^2\n" + rows)  # a units row under the header

    def changes(*extra):
        rc, out, err = _run([str(path), "--changes", "--no-progress", *extra], capsys)
        assert rc == 0, err
        return pd.read_csv(pd.io.common.StringIO(out))

    assert len(changes()) == 2  # the 0.4 step and the 2.0 step
    assert len(changes("--min-shift", "1.0")) == 1  # only the 2.0 step matters
    assert len(changes("--min-shift", "10 g/m^2")) == 1  # 10 g/m^2 = 1 mg/cm^2
    assert len(changes("--min-shift", "0.1")) == 2
    assert len(changes("--method", "binseg")) >= 1
    with pytest.raises(ValueError, match="--min-shift 'a lot'"):
        _run([str(path), "--min-shift", "a lot"], capsys)
    with pytest.raises(SystemExit):  # argparse names the choices
        _run([str(path), "--method", "magic"], capsys)


def test_a_cycler_export_is_read_by_its_reader_and_its_step_changes_are_where_the_current_changes(capsys, shared_data):
    # the PEC export has 29 lines of test metadata before its table: read as a plain CSV it stopped at a
    # pandas tokenizer error that named neither the file nor a fix
    pec = shared_data / "cyclers" / "cellpy" / "pec.csv"
    assert pec.exists(), f"cycler exports missing: expected {pec} (see ../shared/data/NOTICE.md)"
    rc, out, err = _run([str(pec), "--changes", "--no-progress"], capsys)
    assert rc == 0
    ch = pd.read_csv(pd.io.common.StringIO(out))
    assert list(ch.columns) == ["variable", "record", "time", "units"]
    units = ch.groupby("variable")["units"].first().to_dict()
    assert units["current"] == "A" and units["step"] == "1"  # canonical units (the file: mA)
    steps = ch.loc[ch.variable == "step", "record"].to_numpy()
    current = ch.loc[ch.variable == "current", "record"].to_numpy()
    assert steps.size == 7  # every move of the step number (the test plan set it: no statistics)
    assert all(np.abs(current - s).min() == 0 for s in steps)  # the current changes with each step
    assert "no temperature" not in err  # it has one
    assert "capacity" not in set(ch.variable)  # the current's integral: only with --var capacity (slow, redundant)


def test_segments_of_a_cycler_export_give_the_records_times(capsys, shared_data):
    maccor = shared_data / "cyclers" / "cellpy" / "maccor_001.txt"
    assert maccor.exists(), f"cycler exports missing: expected {maccor} (see ../shared/data/NOTICE.md)"
    rc, out, err = _run([str(maccor), "--var", "step", "--no-progress"], capsys)
    assert rc == 0 and "same_time_at_step_change" in err  # the reader's repairs are listed, not hidden
    seg = pd.read_csv(pd.io.common.StringIO(out))
    assert {"start_time", "end_time"} <= set(seg.columns)
    assert (seg["level"].diff().dropna() != 0).all() and len(seg) > 10
    assert (seg["start_time"].diff().dropna() >= 0).all()


def test_notes_above_the_header_are_named_with_the_fix_not_a_tokenizer_error(tmp_path, capsys):
    path = _csv(tmp_path, "Exported by: historian\nStation:,5\ntime,a,b\n" + "".join(_lines()))
    want = r"export\.csv: not one table from line 1 \(line 3 has 3 fields where the lines above have 2\).*delete those"
    with pytest.raises(ValueError, match=want):
        _run([str(path), "--no-progress"], capsys)

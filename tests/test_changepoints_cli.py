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
    rc, out, err = _run([str(path), "--changes", "-o", str(dest)], capsys)
    assert rc == 0 and f"{dest}: 1 rows" in out
    changes = pd.read_parquet(dest)
    assert changes.variable.tolist() == ["areal_mass"] and changes.lane.tolist() == [2]
    assert abs(changes.time.iloc[0] - t[250]) <= pd.Timedelta("3min") and changes.units.iloc[0] == "mg/cm^2"
    if store == "zarr":
        assert "100% Completed" in err  # lazy input: the progress bar shows while it computes


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

"""PLC bad-value codes in imported history (workbench.badvalues: 3.4e38, -9.9e37, -9999, 32767, -32768) are
gaps, never readings: the importer keeps each as a gap (counted in its summary, marked in the store's gap
table), and a code already stored as a value (a store imported before, another writer) reads as NaN with a
warning that counts it. Analyses (open_station, open_array) and the dashboard's window reads see no code."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from apps.dashboard.history import read_window, seed_from_store
from workbench.config import default_config_path, load_line_config
from workbench.history import HistoryStore, TagSpec, open_array, open_station
from workbench.history.gaps import load_gaps
from workbench.history.importer import import_files
from workbench.live import LiveStore

A, B = "plant1/x/y/z/a", "plant1/x/y/z/b"  # ISA-95 paths: the station ("z") comes from the path
CODES = {A: {7: 3.4e38, 8: 3.4e38, 30: -9.9e37}, B: {12: -9999.0, 50: 32767.0}}


def export(path, n=60):
    """A wide export of two tags at 1 Hz, a few samples of each replaced by a PLC code (good quality)."""
    t = pd.date_range("2026-02-02 06:00", periods=n, freq="1s", tz="UTC")
    rng = np.random.default_rng(17)
    values = {A: np.round(rng.normal(21.5, 0.3, n), 3), B: np.round(rng.normal(4.0, 0.1, n), 3)}
    cells = {tag: pd.Series(v).map(repr).to_numpy(dtype=object) for tag, v in values.items()}
    for tag, codes in CODES.items():
        for row, code in codes.items():
            cells[tag][row] = repr(code)
    pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), **{f"{k} [degC]": v for k, v in cells.items()}}).to_csv(
        path, index=False)
    return t, values


def test_an_imported_code_is_a_counted_gap_and_reads_as_one(tmp_path):
    t, values = export(tmp_path / "plc.csv")
    store = tmp_path / "store"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing stored as a value: the reader has nothing to mask
        summary = import_files([tmp_path / "plc.csv"], store)
        ds = open_station(store, "z").compute()
    assert summary.gaps == {A: 3, B: 2} and summary.samples == {A: 57, B: 58}
    assert summary.markers["PLC bad-value code 3.4e+38"] == 2 and summary.markers["PLC bad-value code -9999"] == 1
    for tag, codes in CODES.items():
        got = pd.Series(ds[tag.rsplit("/", 1)[-1]].values, index=pd.DatetimeIndex(ds.time.values).tz_localize("UTC"))
        expect = pd.Series(values[tag], index=t)
        expect.iloc[list(codes)] = np.nan
        np.testing.assert_array_equal(got.reindex(t).to_numpy(), expect.to_numpy())
    gaps = load_gaps(store)
    runs = gaps[gaps.tag == A].sort_values("start")
    assert list(zip(runs.start, runs.end)) == [(t[6], t[9]), (t[29], t[31])]  # 7-8 one run, 30 another
    assert runs.cause.str.contains("PLC bad-value code 3.4e\\+38").any()
    assert ds["a"].attrs["gaps"]  # the analyses see the gaps with the values


def test_a_code_stored_as_a_value_reads_as_a_gap_counted_in_a_warning(tmp_path):
    """A store written before the importer masked codes: the reader masks them, for the analyses and for the
    dashboard (its window reads and the live buffers it seeds from the store)."""
    line = load_line_config(default_config_path())
    coating = next(s for s in line.stations if s.kind == "coating")
    pump, speed = (next(tag for tag in coating.tags if tag.path.endswith(name)) for name in ("pump_rate", "line_speed"))
    store = HistoryStore(tmp_path / "old")
    store.declare_station(coating.name, [TagSpec(pump.path, pump.units), TagSpec(speed.path, speed.units)])
    t = pd.date_range("2026-02-02 06:00", periods=40, freq="1s", tz="UTC")
    p, v = np.full(40, 3000.0), np.full(40, 20.0)
    p[[3, 4]], v[20] = 3.4e38, -9.9e37
    store.append(coating.name, t, {pump.path: p, speed.path: v})
    url = str(tmp_path / "old")
    with pytest.warns(UserWarning, match=rf"\.parquet: 3 PLC bad-value code\(s\) stored as values read as gaps "
                                         rf"\(NaN\): {pump.path} x2, {speed.path} x1"):
        ds = open_station(url, coating.name).compute()
    assert np.isnan(ds["pump_rate"].values[[3, 4]]).all() and np.isnan(ds["line_speed"].values[20])
    assert np.nanmax(ds["pump_rate"].values) == 3000.0 and np.nanmin(ds["line_speed"].values) == 20.0
    with pytest.warns(UserWarning, match="PLC bad-value code"):
        assert int(np.isnan(open_array(url, coating.name).values).sum()) == 3
    with pytest.warns(UserWarning, match="PLC bad-value code"):
        window = read_window(url, coating.name, [pump.path], t[0], t[-1] + pd.Timedelta("1s"))
    assert len(window[pump.path][0]) == 38 and window[pump.path][1].max() == 3000.0
    live = LiveStore(line)
    with pytest.warns(UserWarning, match="PLC bad-value code"):
        seed_from_store(live, url)
    assert live.series(pump.path)[1].max() == 3000.0 and len(live.series(pump.path)[1]) == 38

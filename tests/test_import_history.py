"""`workbench import`: wide and long historian exports into the history store, read back sample for sample.

The exports are generated from a known truth (UTC instants and values on each tag's resolution grid), then
written as a plant would: local time across the end of summer time, offsets that change, a units row,
units in the header, other units than the config's, text quality markers, repeated and shuffled rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from apps.cli import main as cli
from workbench.config import default_config_path
from workbench.history import load_events, open_array, open_station
from workbench.history.gaps import load_gaps
from workbench.history.importer import import_files

PUMP = "plant1/electrode/coat1/coater/pump_rate"  # g/min, resolution 0.1 (virtual line config)
SPEED = "plant1/electrode/coat1/coater/line_speed"  # m/min, resolution 0.01
FROST = "plant1/dryroom/room1/hygrometer/frost_point_s1"  # degC, resolution 0.1
BERLIN = "Europe/Berlin"


@pytest.fixture(scope="module")
def truth():
    """1-minute samples from 23:00 to 03:59 UTC around the end of summer time in Berlin (01:00 UTC, 25 Oct)."""
    rng = np.random.default_rng(16)
    t = pd.date_range("2026-10-24 23:00", "2026-10-25 03:59", freq="1min", tz="UTC")
    pump = np.round(rng.normal(3000, 20, len(t)), 1)
    speed = np.round(rng.normal(20, 0.2, len(t)), 2)
    frost = np.round(rng.normal(-50, 1, len(t)), 1)
    gaps = {PUMP: t[[10, 11, 12, 200]], SPEED: t[[90]], FROST: t[[5, 6]]}  # instants exported as text
    return t, {PUMP: pump, SPEED: speed, FROST: frost}, gaps


def _wide_pi(path, truth):
    """PI DataLink style: local Berlin time without offset, in time order, config short names, pump in kg/h."""
    t, v, gaps = truth
    local = t.tz_convert(BERLIN).tz_localize(None).strftime("%Y-%m-%d %H:%M:%S")
    pump = pd.Series(v[PUMP] * 60 / 1000).map(repr)  # kg/h
    pump[t.isin(gaps[PUMP])] = ["Bad Input", "I/O Timeout", "Bad Input", "Comm Fail"]
    df = pd.DataFrame({"Time": local, "pump_rate [kg/h]": pump.to_numpy()})
    df.to_csv(path, index=False)


def _wide_seeq(path, truth):
    """Seeq style: ISO times with the UTC offset of the moment (+02:00 then +01:00), ISA-95 headers, a units
    row (line speed in cm/s), rows shuffled and 40 repeated."""
    t, v, gaps = truth
    iso = [ts.isoformat() for ts in t.tz_convert(BERLIN)]
    speed = pd.Series(v[SPEED] * 100 / 60).map(repr)  # cm/s
    speed[t.isin(gaps[SPEED])] = "No Data"
    df = pd.DataFrame({"Date": iso, SPEED: speed.to_numpy()})
    rng = np.random.default_rng(1)
    df = pd.concat([df, df.iloc[rng.choice(len(df), 40, replace=False)]]).sample(frac=1, random_state=2)
    units = pd.DataFrame({"Date": [""], SPEED: ["cm/s"]})
    pd.concat([units, df]).to_csv(path, index=False)


def _long(truth, fmt, path):
    """Long: time (UTC, 'Z'), tag, value, units (degC and K mixed), quality (Good/Bad), shuffled, repeated."""
    t, v, gaps = truth
    kelvin = np.arange(len(t)) % 3 == 0
    value = np.where(kelvin, v[FROST] + 273.15, v[FROST])
    bad = t.isin(gaps[FROST])
    df = pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "tag": FROST, "value": value,
                       "units": np.where(kelvin, "K", "degC"), "quality": np.where(bad, "Bad", "Good")})
    df.loc[bad, "value"] = -9999.0  # a bad-quality value is never stored
    df = pd.concat([df, df.iloc[::7]]).sample(frac=1, random_state=3)
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)


def _exports(tmp_path, truth, long_fmt):
    files = [tmp_path / "pi.csv", tmp_path / "seeq.csv", tmp_path / f"long.{long_fmt}"]
    _wide_pi(files[0], truth)
    _wide_seeq(files[1], truth)
    _long(truth, long_fmt, files[2])
    return files


def _read(store, station, tag):
    da = open_array(store, station, tags=[tag]).sel(tag=tag).compute()
    return pd.Series(da.values, index=pd.DatetimeIndex(da.time.values).tz_localize("UTC"))


@pytest.mark.parametrize("long_fmt", ["csv", "parquet"])
def test_wide_and_long_exports_read_back_exactly_twice(tmp_path, truth, long_fmt):
    t, v, gaps = truth
    files = _exports(tmp_path, truth, long_fmt)
    store = tmp_path / "store"
    kw = dict(config=default_config_path(), tz=BERLIN, ambiguous="infer")
    first = import_files(files, store, **kw)
    assert first.samples[PUMP] == len(t) - 4 and first.samples[SPEED] == len(t) - 1
    assert first.samples[FROST] == len(t) - 2
    assert first.gaps == {PUMP: 4, SPEED: 1, FROST: 2}
    assert first.merged > 0 and (first.start, first.end) == (t[0], t[-1])
    for station, tag in (("coating", PUMP), ("coating", SPEED), ("dryroom", FROST)):
        got = _read(store, station, tag)
        expect = pd.Series(v[tag], index=t)
        expect[gaps[tag]] = np.nan  # gaps are marked, not filled
        got = got.reindex(t)
        np.testing.assert_allclose(got.to_numpy(), expect.to_numpy(), rtol=0, atol=1e-9, equal_nan=True)
        assert got.index.equals(t)
    # the store's gap rule: one gap per run of bad samples, from the last good sample to the next one
    gaps = load_gaps(store)
    pump = gaps[gaps.tag == PUMP].sort_values("start")
    assert list(zip(pump.start, pump.end)) == [(t[9], t[13]), (t[199], t[201])]
    assert "Bad Input x2" in pump.cause.iloc[0] and "I/O Timeout x1" in pump.cause.iloc[0]
    frost = gaps[gaps.tag == FROST]
    assert list(zip(frost.start, frost.end)) == [(t[4], t[7])] and frost.station.iloc[0] == "dryroom"
    seen = open_station(store, "coating", tags=[PUMP])
    assert f"{t[9].strftime('%Y-%m-%dT%H:%M:%S')}" in next(iter(seen.data_vars.values())).attrs["gaps"][0]
    events = load_events(store, kind="data_gap")
    chunks = sorted(p.name for p in (store / "ts").rglob("*.parquet"))
    again = import_files(files, store, **kw)
    assert again.stored == 0 and sum(again.gaps.values()) == 0 and again.gap_events == 0
    assert sorted(p.name for p in (store / "ts").rglob("*.parquet")) == chunks  # nothing added
    assert any("not newer" in r for r in again.refused)
    assert len(load_events(store, kind="data_gap")) == len(events) and len(load_gaps(store)) == len(gaps)
    assert not list(store.glob(".import-*"))  # staging removed


def test_offsets_without_zone_and_fall_back_needs_a_decision(tmp_path, truth):
    files = _exports(tmp_path, truth, "csv")
    with pytest.raises(ValueError, match=r"pi.csv: line \d+, column 'Time': local time 2026-10-25 02:00:00 occurs "
                                         r"twice in Europe/Berlin.*--ambiguous infer"):
        import_files(files[:1], tmp_path / "s1", config=default_config_path(), tz=BERLIN)
    with pytest.raises(ValueError, match=r"pi.csv, column 'Time': times carry no UTC offset.*--tz Europe/Berlin"):
        import_files(files[:1], tmp_path / "s2", config=default_config_path())
    # the file with offsets needs no zone; 'earlier' and 'later' are explicit choices
    got = import_files(files[1:2], tmp_path / "s3", config=default_config_path())
    assert got.samples[SPEED] == len(truth[0]) - 1


def test_spring_forward_nonexistent_local_time(tmp_path):
    path = tmp_path / "spring.csv"
    path.write_text("time,plant1/x/y/z/temp [degC]\n2026-03-29 01:59:00,1.0\n2026-03-29 02:30:00,2.0\n"
                    "2026-03-29 03:00:00,3.0\n")
    with pytest.raises(ValueError, match=r"spring.csv: line 3, column 'time': local time 2026-03-29 02:30:00 does "
                                         r"not exist in Europe/Berlin.*--nonexistent refuse"):
        import_files([path], tmp_path / "s", tz=BERLIN)
    got = import_files([path], tmp_path / "s", tz=BERLIN, nonexistent="refuse")
    assert got.samples["plant1/x/y/z/temp"] == 2 and sum(got.refused.values()) == 1
    got = _read(tmp_path / "s", "z", "plant1/x/y/z/temp")  # station from the path
    assert list(got.index) == [pd.Timestamp("2026-03-29 00:59", tz="UTC"), pd.Timestamp("2026-03-29 01:00", tz="UTC")]


def test_mapping_file_and_excel(tmp_path, truth):
    t, v, _ = truth
    mapping = tmp_path / "map.csv"
    mapping.write_text("source,path,units\nCL1.PUMP.PV,plant1/electrode/coat1/coater/pump_rate,g/min\n")
    xlsx = tmp_path / "ignition.xlsx"
    pd.DataFrame({"t_stamp": t[:30].tz_localize(None), "CL1.PUMP.PV": v[PUMP][:30]}).to_excel(xlsx, index=False)
    got = import_files([xlsx], tmp_path / "s", config=default_config_path(), mapping=mapping, tz="UTC")
    assert got.samples[PUMP] == 30
    np.testing.assert_allclose(_read(tmp_path / "s", "coating", PUMP).to_numpy(), v[PUMP][:30], atol=1e-9)


@pytest.mark.parametrize("content, name, message", [
    ("time,CL9.MYSTERY\n2026-01-01T00:00Z,1\n", "a.csv",
     r"a.csv: column 'CL9.MYSTERY': unknown tag 'CL9.MYSTERY'.*--map CSV"),
    ("time,pump_rate [kPa]\n2026-01-01T00:00Z,1\n", "b.csv",
     r"b.csv: column 'pump_rate \[kPa\]': tag 'pump_rate' is in 'kPa' but the config says 'g/min'"),
    ("time\n2026-01-01T00:00Z\n", "c.csv", r"c.csv: only a time column"),
    ("{}", "d.json", r"d.json: unknown file type '.json'"),
    ("time,pump_rate\n2026-01-01T00:00Z,1\nyesterday,2\n", "e.csv",
     r"e.csv: line 3, column 'time': time 'yesterday' does not parse.*--time-format"),
    ("time,tag,value\n2026-01-01T00:00Z,plant1/electrode/coat1/coater/pump_rate,1\n2026-01-01T00:01Z,nope,2\n",
     "f.csv", r"f.csv: line 3: column 'tag': unknown tag 'nope'"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, content, name, message):
    path = tmp_path / name
    path.write_text(content)
    store = tmp_path / "store"
    assert cli(["import", str(path), "--store", str(store), "--config", str(default_config_path()),
                "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert pd.Series([err]).str.contains(message).all(), err
    assert not store.exists()  # nothing half-written


def test_bad_rows_of_a_good_file_store_nothing(tmp_path):
    """An error found after rows were read (a unit row of another quantity in the last chunk) stores nothing."""
    path = tmp_path / "late_error.csv"
    rows = [f"2026-01-01T00:{m:02d}:00Z,plant1/electrode/coat1/coater/pump_rate,1.0,g/min" for m in range(50)]
    rows.append("2026-01-01T01:00:00Z,plant1/electrode/coat1/coater/pump_rate,1.0,kPa")
    path.write_text("time,tag,value,units\n" + "\n".join(rows) + "\n")
    store = tmp_path / "store"
    store.mkdir()
    with pytest.raises(ValueError, match=r"late_error.csv: line 52: column 'tag': tag .* is in 'kPa'"):
        import_files([path], store, config=default_config_path(), block_bytes=512)
    assert not list((store / "ts").rglob("*.parquet")) and not list(store.glob(".import-*"))


def test_older_export_after_newer_history_is_refused_with_the_reason(tmp_path, truth):
    t, v, _ = truth
    new, old = tmp_path / "new.csv", tmp_path / "old.csv"
    pd.DataFrame({"time": t[60:].strftime("%Y-%m-%dT%H:%M:%SZ"), PUMP: v[PUMP][60:]}).to_csv(new, index=False)
    pd.DataFrame({"time": t[:60].strftime("%Y-%m-%dT%H:%M:%SZ"), PUMP: v[PUMP][:60]}).to_csv(old, index=False)
    import_files([new], tmp_path / "s", config=default_config_path())
    got = import_files([old], tmp_path / "s", config=default_config_path())
    assert got.stored == 0
    assert got.refused == {"not newer than what the store holds for station 'coating' (already imported, or older "
                           "than its newest sample: the store only appends)": 60}
    # the same two files in one import are sorted together and both stored
    both = import_files([new, old], tmp_path / "s2", config=default_config_path())
    assert both.samples[PUMP] == len(t)


def test_empty_cells_are_no_samples(tmp_path):
    """Wide exports of tags sampled at different times leave cells empty: nothing is stored there."""
    path = tmp_path / "sparse.csv"
    path.write_text("time,plant1/x/y/z/a [V],plant1/x/y/z/b [V]\n2026-01-01T00:00:00Z,1.0,\n"
                    "2026-01-01T00:00:01Z,,\n2026-01-01T00:00:02Z,,2.0\n")
    got = import_files([path], tmp_path / "s")
    assert got.samples == {"plant1/x/y/z/a": 1, "plant1/x/y/z/b": 1} and sum(got.gaps.values()) == 0
    assert len(_read(tmp_path / "s", "z", "plant1/x/y/z/a")) == 2  # the rows of 00:00 and 00:02 only


def test_markers_deep_in_the_file_are_read_the_same_in_any_chunk_size(tmp_path):
    """Value columns are parsed as numbers by Arrow; a column whose text markers show up late (here after
    1,500 and 2,500 rows, and in more columns than the reader re-reads for) is read on as text from there:
    every value and every marker is kept, whatever the chunk size."""
    from workbench.history.exports import MAX_REREADS, iter_chunks, sniff

    rng = np.random.default_rng(5)
    n = 3000
    t = pd.date_range("2026-03-02", periods=n, freq="1s", tz="UTC")
    tags = [f"plant1/x/y/z/t{k}" for k in range(MAX_REREADS + 2)]
    values = {tag: np.round(rng.normal(10, 1, n), 3) for tag in tags}
    text = {tag: pd.Series(values[tag]).map(repr).to_numpy(dtype=object) for tag in tags}
    where = {tags[0]: [2500], tags[1]: [1500, 1501]} | {tag: [100 + k] for k, tag in enumerate(tags[2:])}
    for tag, rows in where.items():
        text[tag][rows] = "Bad Input"
    path = tmp_path / "late_markers.csv"
    pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), **{f"{tag} [V]": text[tag] for tag in tags}}).to_csv(
        path, index=False)

    chunks = list(iter_chunks(sniff(path), block_bytes=4096))
    assert sum(c.num_rows for _, c in chunks) == n and [line for line, _ in chunks][0] == 2
    kinds = {str(c.schema.field(f"{tags[0]} [V]").type) for _, c in chunks}
    assert kinds == {"double", "string"}  # numbers while they are numbers, text from the chunk with the marker

    for block in (4096, 1 << 20):
        got = import_files([path], tmp_path / f"s{block}", block_bytes=block)
        assert got.rows == n and got.gaps == {tag: len(rows) for tag, rows in where.items()}
        for tag in tags:
            expect = pd.Series(values[tag], index=t)
            expect.iloc[where[tag]] = np.nan
            series = _read(tmp_path / f"s{block}", "z", tag).reindex(t)
            np.testing.assert_allclose(series.to_numpy(), expect.to_numpy(), rtol=0, atol=1e-12, equal_nan=True)


def test_a_broken_row_is_still_an_error_naming_the_line(tmp_path):
    path = tmp_path / "broken.csv"
    rows = [f"2026-01-01T00:00:{s:02d}Z,{s}.5" for s in range(40)] + ["2026-01-01T00:01:00Z,1.0,2.0"]
    path.write_text("time,plant1/x/y/z/a [V]\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"broken.csv: CSV cannot be read near line \d+ .*header's 2 columns"):
        import_files([path], tmp_path / "s", block_bytes=256)
    assert not (tmp_path / "s").exists()

"""History store: lossless at the instrument resolution, idempotent appends, lazy reads, corrupt chunks."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench import history
from workbench.history import HistoryError, HistoryStore, TagSpec

V1 = "plant1/formation/rack1/ch01/voltage"
V2 = "plant1/formation/rack2/ch01/voltage"
SPEED = "plant1/electrode/coat1/coater/line_speed"


def make_store(tmp_path):
    store = HistoryStore(tmp_path / "store")
    store.declare_station("formation", [TagSpec(V1, "V", 0.0001), TagSpec(V2, "V", 0.0001), TagSpec(SPEED, "m/min")])
    return store


def series(start, n, freq="1s"):
    t = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    rng = np.random.default_rng(0)
    return t, {V1: np.round(3.7 + rng.normal(0, 0.01, n), 4), V2: np.round(3.6 + rng.normal(0, 0.01, n), 4),
               SPEED: 20 + rng.normal(0, 0.05, n)}


def test_roundtrip_is_lossless_and_lazy(tmp_path):
    store = make_store(tmp_path)
    t, vals = series("2026-01-05T00:00", 7200)
    for i in range(0, 7200, 1800):  # four flushes
        res = store.append("formation", t[i:i + 1800], {k: v[i:i + 1800] for k, v in vals.items()})
        assert res.stored == 3 * 1800 and res.duplicates == 0
    ds = history.open(store.root, "formation")
    assert set(ds.data_vars) == {"rack1_ch01_voltage", "rack2_ch01_voltage", "line_speed"}
    assert ds["rack1_ch01_voltage"].chunks == ((1800, 1800, 1800, 1800),)  # one dask chunk per file
    assert ds["rack1_ch01_voltage"].attrs["units"] == "V" and ds["line_speed"].attrs["path"] == SPEED
    np.testing.assert_allclose(ds["rack1_ch01_voltage"].values, vals[V1], atol=1e-12)
    np.testing.assert_array_equal(ds["line_speed"].values, vals[SPEED])  # float64 kept exactly
    np.testing.assert_array_equal(ds.time.values, t.tz_localize(None).values)


def test_time_window_trims_exactly(tmp_path):
    store = make_store(tmp_path)
    t, vals = series("2026-01-05T00:00", 3600)
    store.append("formation", t, vals)
    ds = history.open(store.root, "formation", tags=[V1], start="2026-01-05T00:10:00", end="2026-01-05T00:10:09")
    assert ds.sizes["time"] == 10 and list(ds.data_vars) == ["voltage"]


def test_appends_are_idempotent_by_timestamp(tmp_path):
    store = make_store(tmp_path)
    t, vals = series("2026-01-05T00:00", 100)
    store.append("formation", t[:60], {k: v[:60] for k, v in vals.items()})
    # a restarted recorder sends an overlapping batch: only the new rows are stored
    again = store.append("formation", t[50:], {k: v[50:] for k, v in vals.items()})
    assert again.rows == 40 and again.late == 9 and again.duplicates == 1
    fresh = HistoryStore(store.root)  # the mark survives a restart (it is read from the chunk names)
    assert fresh.high_water_mark("formation") == t[-1]
    assert fresh.append("formation", t, vals).rows == 0
    ds = history.open(store.root, "formation")
    assert ds.sizes["time"] == 100 and bool(ds.indexes["time"].is_unique)


def test_out_of_order_and_repeated_samples_within_a_batch(tmp_path):
    store = make_store(tmp_path)
    t = pd.to_datetime(["2026-01-05T00:00:02", "2026-01-05T00:00:00", "2026-01-05T00:00:01",
                        "2026-01-05T00:00:01"], utc=True)
    store.append("formation", t, {V1: [3.2, 3.0, 3.1, np.nan], V2: [np.nan, np.nan, np.nan, 3.5]})
    ds = history.open(store.root, "formation").compute()
    np.testing.assert_allclose(ds["rack1_ch01_voltage"].values, [3.0, 3.1, 3.2])
    np.testing.assert_allclose(ds["rack2_ch01_voltage"].values, [np.nan, 3.5, np.nan])


def test_unit_and_tag_errors_name_the_tag(tmp_path):
    store = make_store(tmp_path)
    with pytest.raises(HistoryError, match="stored in 'V', not 'mV'"):
        store.declare_station("formation", [TagSpec(V1, "mV", 0.0001)])
    with pytest.raises(HistoryError, match="not declared"):
        store.append("formation", pd.date_range("2026-01-05", periods=1, tz="UTC"), {"a/b/c/d/e": [1.0]})
    with pytest.raises(HistoryError, match="no station 'coating'.*stations: \\['formation'\\]"):
        history.open(store.root, "coating")


def test_corrupt_chunk_is_named_and_the_rest_still_reads(tmp_path):
    store = make_store(tmp_path)
    t, vals = series("2026-01-05T00:00", 300)
    files = [store.append("formation", t[i:i + 100], {k: v[i:i + 100] for k, v in vals.items()}).file
             for i in (0, 100, 200)]
    with open(files[1], "r+b") as fh:  # truncate the middle chunk
        fh.truncate(50)
    with pytest.raises(HistoryError, match=files[1].rsplit("/", 1)[-1] + ".*on_corrupt='skip'"):
        history.open(store.root, "formation")
    with pytest.warns(UserWarning, match="skipped corrupt history chunk"):
        ds = history.open(store.root, "formation", on_corrupt="skip")
    assert ds.sizes["time"] == 200
    np.testing.assert_allclose(ds["rack1_ch01_voltage"].values[100:], vals[V1][200:])


def test_reads_through_fsspec_urls(tmp_path):
    store = make_store(tmp_path)
    t, vals = series("2026-01-05T00:00", 50)
    store.append("formation", t, vals)
    ds = history.open(f"file://{store.root}", "formation")
    xr.testing.assert_equal(ds.compute(), history.open(store.root, "formation").compute())


def test_reads_from_object_storage_url(tmp_path):
    """The same call reads a store copied to an fsspec object store (memory:// stands in for s3://)."""
    import fsspec

    store = make_store(tmp_path)
    t, vals = series("2026-01-05T00:00", 50)
    store.append("formation", t, vals)
    mem = fsspec.filesystem("memory")
    mem.put(str(store.root), "/bucket/store", recursive=True)
    ds = history.open("memory://bucket/store", "formation")
    np.testing.assert_allclose(ds["rack2_ch01_voltage"].values, vals[V2])


def test_open_array_is_one_lazy_2d_array_with_units(tmp_path):
    store = make_store(tmp_path)
    t, vals = series("2026-01-05T00:00", 7200)
    for i in range(0, 7200, 3600):
        store.append("formation", t[i:i + 3600], {k: v[i:i + 3600] for k, v in vals.items()})
    arr = history.open_array(store.root, "formation")
    assert arr.dims == ("time", "tag") and arr.chunks == ((3600, 3600), (3,))
    assert list(arr.units.values) == ["V", "V", "m/min"]
    hourly = arr.resample(time="1h").mean().compute()
    np.testing.assert_allclose(hourly.sel(tag=V1).values, [vals[V1][:3600].mean(), vals[V1][3600:].mean()])


# --- issue 18: clear errors, a damaged data page, gaps ------------------------------------------------------------
def test_a_missing_store_says_it_does_not_exist_and_how_to_create_one(tmp_path):
    missing = tmp_path / "no-such-store"
    with pytest.raises(HistoryError) as err:
        history.open(missing, "coating")
    msg = str(err.value)
    assert f"no history store at {missing}" in msg and "does not exist" in msg
    assert "workbench record" in msg and "workbench import" in msg and "workbench fill-history" in msg
    (tmp_path / "just-a-folder").mkdir()
    with pytest.raises(HistoryError, match="is not a history store .*no stations/ folder"):
        history.open(tmp_path / "just-a-folder", "coating")


@pytest.mark.parametrize("opener", [history.open, history.open_station, history.open_array])
def test_start_after_end_is_an_error_naming_both(tmp_path, opener):
    store = make_store(tmp_path)
    store.append("formation", *series("2026-01-05T00:00", 10))
    with pytest.raises(HistoryError, match=r"start 2026-01-06T00:00:00\+00:00 is after end 2026-01-05T00:00:00\+00:00"):
        opener(store.root, "formation", start="2026-01-06", end="2026-01-05")


@pytest.mark.parametrize("opener", [history.open, history.open_array])
def test_an_unparseable_time_lists_the_accepted_formats(tmp_path, opener):
    store = make_store(tmp_path)
    store.append("formation", *series("2026-01-05T00:00", 10))
    with pytest.raises(HistoryError) as err:
        opener(store.root, "formation", start="yesterday")
    msg = str(err.value)
    assert "start='yesterday' is not a time" in msg and "ISO 8601" in msg and "2026-01-05T06:00" in msg
    assert "pd.Timedelta" in msg  # how to say "yesterday"


def _damage_page(file: str, column: str, where: str) -> None:
    """Flip bytes of ``column``'s first data page: its header (pages no longer decode) or its data."""
    import pyarrow.parquet as pq

    rg = pq.ParquetFile(file).metadata.row_group(0)
    col = next(rg.column(j) for j in range(rg.num_columns) if rg.column(j).path_in_schema == column)
    at = col.data_page_offset + (1 if where == "header" else col.total_compressed_size // 2)
    data = bytearray(open(file, "rb").read())
    for k in range(at, at + 8):
        data[k] ^= 0xFF
    open(file, "wb").write(bytes(data))


@pytest.mark.parametrize("where", ["header", "data"])
def test_a_damaged_data_page_is_skipped_with_skip_and_named_without(tmp_path, where):
    """The footer and time column are fine, so opening succeeds; the damage shows at compute. 'skip' reads
    that tag of that chunk as NaN (a warning names file and tag) and everything else as stored; open_array
    too. Without skip the error names the file. Damaged data, not only a damaged header, is found (page CRC)."""
    store = make_store(tmp_path)
    t, vals = series("2026-01-05T00:00", 300)
    files = [store.append("formation", t[i:i + 100], {k: v[i:i + 100] for k, v in vals.items()}).file
             for i in (0, 100, 200)]
    _damage_page(files[1], SPEED, where)
    name = files[1].rsplit("/", 1)[-1]
    with pytest.raises(HistoryError, match=name + ".*on_corrupt='skip'"):
        history.open(store.root, "formation").compute()
    with pytest.warns(UserWarning, match=f"{name}: skipped tag {SPEED}"):
        ds = history.open(store.root, "formation", on_corrupt="skip").compute()
    assert ds.sizes["time"] == 300
    speed = ds["line_speed"].values
    assert np.isnan(speed[100:200]).all()
    np.testing.assert_array_equal(speed[:100], vals[SPEED][:100])
    np.testing.assert_array_equal(speed[200:], vals[SPEED][200:])
    np.testing.assert_allclose(ds["rack1_ch01_voltage"].values, vals[V1], atol=1e-12)  # the chunk's other tags
    with pytest.warns(UserWarning, match="skipped tag"):
        arr = history.open_array(store.root, "formation", on_corrupt="skip").compute()
    assert np.isnan(arr.sel(tag=SPEED).values[100:200]).all() and np.isfinite(arr.sel(tag=V1).values).all()


def test_gaps_are_stored_once_seen_by_readers_and_stop_a_held_value(tmp_path):
    """The store's one rule for gaps: a gap row per tag, a data_gap event, attrs['gaps'] on read, and
    hold_last (last value holds, for change-only tags) never carries a value across the start of a gap."""
    store = make_store(tmp_path)
    t = pd.date_range("2026-01-05T00:00", periods=20, freq="1s", tz="UTC")
    speed = np.full(20, np.nan)
    speed[[0, 3, 12, 15]] = [20.0, 21.0, 22.0, 23.0]   # a change-only tag: a sample when it moves
    volts = np.round(3.7 + np.arange(20) * 1e-3, 4)
    volts[5:12] = np.nan                                 # nothing heard from 4 s (last) to 12 s (back)
    store.append("formation", t, {SPEED: speed, V1: volts})
    for _ in range(2):                                   # marking the same gap twice stores it once
        store.mark_gaps("formation", [SPEED, V1], t[4], t[12], "link to the source lost; test")
    gaps = store.gaps("formation")
    assert len(gaps) == 2 and set(gaps["tag"]) == {SPEED, V1} and (gaps["start"] == t[4]).all()
    events = history.load_events(store.root, kind="data_gap")
    assert len(events) == 1 and events["target"].iloc[0] == "formation"
    assert "2 tag(s): link to the source lost" in events["description"].iloc[0]

    ds = history.open(store.root, "formation")
    assert ds["line_speed"].attrs["gaps"] == ["2026-01-05T00:00:04.000000Z/2026-01-05T00:00:12.000000Z"]
    assert ds["rack2_ch01_voltage"].attrs["gaps"] == []
    held = history.hold_last(ds["line_speed"]).values
    np.testing.assert_array_equal(held[:5], [20, 20, 20, 21, 21])     # held up to the gap's start
    assert np.isnan(held[5:12]).all()                                  # not across it
    np.testing.assert_array_equal(held[12:], [22, 22, 22, 23, 23, 23, 23, 23])
    assert history.open(store.root, "formation", start=t[13])["line_speed"].attrs["gaps"] == []  # outside the window
    arr = history.open_array(store.root, "formation")
    assert len(arr.attrs["gaps"]) == 2 and all(g.startswith("2026-01-05T00:00:04.000000Z/") for g in arr.attrs["gaps"])
    held2 = history.hold_last(arr)
    np.testing.assert_array_equal(held2.sel(tag=SPEED).values, held)
    assert np.isnan(held2.sel(tag=V2).values).all()                    # no sample ever: nothing to hold
    with pytest.raises(HistoryError, match="not.*declared|undeclared"):
        store.mark_gaps("formation", ["a/b/c/d/e"], t[0], t[1], "x")

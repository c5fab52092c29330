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

"""Filling a store from the virtual line; genealogy and events in the catalog; trace on recorded genealogy."""

import numpy as np
import pandas as pd
import pytest

from workbench import history, trace
from workbench.history.catalog import load_events, load_genealogy
from workbench.history.fill import fill_from_virtual_line, rows_from_samples
from workbench.simulate import virtual_line


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    counts = fill_from_virtual_line(root, days=0.05, seed=3)
    return root, counts


def test_stored_samples_equal_the_virtual_lines_samples(filled):
    root, counts = filled
    vl = virtual_line(seed=3)
    lane = "plant1/electrode/coat1/gauge/areal_mass_lane07"
    frost = "plant1/dryroom/room1/hygrometer/frost_point_s2"
    truth = vl.tag_samples(start="0h", end="1.2h", paths=[lane, frost])
    coating = history.open(root, "coating", tags=[lane]).compute()
    got = coating["areal_mass_lane07"].dropna("time")
    np.testing.assert_array_equal(got.time.values, truth[lane][0].astype("datetime64[ns]"))
    np.testing.assert_allclose(got.values, truth[lane][1], atol=1e-9)  # lossless at the 0.01 resolution
    dry = history.open(root, "dryroom", tags=[frost]).compute()["frost_point_s2"].dropna("time")
    np.testing.assert_allclose(dry.values, truth[frost][1], atol=1e-9)
    assert dry.attrs["reports"] == "frost_point" and dry.attrs["units"] == "degC"


def test_filling_again_stores_nothing_twice(filled):
    root, counts = filled
    again = fill_from_virtual_line(root, days=0.05, seed=3)
    assert again["samples"] == 0 and again["rows"] == 0 and again["events"] == 0
    assert counts["samples"] > 100_000


def test_trace_works_on_recorded_genealogy(filled):
    root, _ = filled
    g = load_genealogy(root)
    sim = virtual_line(seed=3).history(hours=1.2).genealogy
    assert len(g["cells"]) == len(sim["cells"])
    lot = g["cells"]["lot_id"].iloc[0]
    from_store = set(trace.cells_from(g, lot=lot)["cell_id"])
    from_sim = set(trace.cells_from(sim, lot=lot)["cell_id"])
    assert from_store == from_sim and len(from_store) > 0


def test_truth_events_are_in_the_catalog(filled):
    root, _ = filled
    ev = load_events(root, source="virtual-line truth")
    assert {"pump_wear", "dewpoint_excursion"} <= set(ev["kind"])
    assert str(ev["start"].dtype).startswith("datetime64")
    order = ["start", "kind", "target"]  # instrument faults (bad values, drop-outs) can start together
    truth = virtual_line(seed=3).history(hours=0.05 * 24).truth.sort_values(order).reset_index(drop=True)  # fill's window
    stored = ev.sort_values(order).reset_index(drop=True)
    for col in ["kind", "target", "cause", "lane", "rack", "channel"]:
        assert stored[col].astype(str).tolist() == truth[col].astype(str).tolist(), col
    for col in ["start", "end", "observed_start", "observed_end"]:  # the catalog keeps microseconds
        assert (stored[col] - truth[col]).abs().max() < pd.Timedelta("1us"), col


def test_rows_from_samples_merges_by_timestamp():
    t1 = np.array(["2026-01-05T00:00:00", "2026-01-05T00:00:02"], dtype="datetime64[ns]")
    t2 = np.array(["2026-01-05T00:00:01", "2026-01-05T00:00:02"], dtype="datetime64[ns]")
    times, values = rows_from_samples({"a": (t1, np.array([1.0, 2.0])), "b": (t2, np.array([5.0, 6.0]))})
    assert len(times) == 3
    np.testing.assert_array_equal(values["a"], [1.0, np.nan, 2.0])
    np.testing.assert_array_equal(values["b"], [np.nan, 5.0, 6.0])

"""Long dashboard windows from the store's rollups (apps.dashboard.history.window_rollup): the stored part and
the live buffers join without counting a sample twice or leaving one out, the coating page's Cpk from the
rollups equals its Cpk from the samples, and a gap in the store is a gap in the drawn line and a grey
column of the heatmap. Generated lanes with known statistics, in a temporary store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from apps.dashboard import coating as coating_page
from apps.dashboard.history import window_rollup
from workbench.config import default_config_path, load_line_config
from workbench.history import HistoryStore
from workbench.history.fill import declare_line
from workbench.history.rollup import envelope, window_summary
from workbench.live import LiveStore, Quality

SCAN_S = 15.0
HOURS = 14.0
LIVE_H = 3.0  # the newest hours are in the live buffers as well as in the store


@pytest.fixture(scope="module")
def line():
    return load_line_config(default_config_path())


@pytest.fixture(scope="module")
def stored(line, tmp_path_factory):
    """HOURS of 24-lane scans (a 2-hour outage in the middle) in a store, and the same in numpy."""
    root = tmp_path_factory.mktemp("rollup-store")
    store = HistoryStore(root)
    declare_line(store, line)
    station = next(s for s in line.stations if s.kind == "coating")
    lanes = [t for t in station.tags if t.spec is not None]
    rng = np.random.default_rng(7)
    t = pd.Timestamp("2026-03-02 00:00", tz="UTC") + pd.to_timedelta(np.arange(0, HOURS * 3600, SCAN_S), unit="s")
    t = t[(t < t[0] + pd.Timedelta(hours=5)) | (t >= t[0] + pd.Timedelta(hours=7))]  # the outage
    v = 17.2 + 0.05 * rng.standard_normal((len(t), len(lanes))) + np.linspace(-0.1, 0.1, len(lanes))
    v = np.round(v / 0.01) * 0.01  # the gauge's resolution: what the store keeps exactly
    for lo in range(0, len(t), 240):  # one-hour flushes
        store.append(station.name, t[lo:lo + 240], {tag.path: v[lo:lo + 240, j] for j, tag in enumerate(lanes)})
    return root, station, [tag.path for tag in lanes], t, v


def live_with_newest(line, paths, t, v, hours=LIVE_H) -> LiveStore:
    live = LiveStore(line)
    secs = t.as_unit("ns").asi8 / 1e9
    keep = secs >= secs[-1] - hours * 3600
    for j, path in enumerate(paths):
        live.buffers[path].extend(secs[keep], v[keep, j], Quality.GOOD)
    return live


def test_store_and_live_parts_join_exactly(line, stored):
    root, _, paths, t, v = stored
    live = live_with_newest(line, paths, t, v)
    secs = t.as_unit("ns").asi8 / 1e9
    start = secs[-1] - 13 * 3600
    r = window_rollup(live, str(root), paths, start, 500)
    s = window_summary(r)
    # the rollup's first bucket may begin up to one bucket before start: compare with the samples it holds
    t_first = r["t_first"][r["n"] > 0].min() / 1e9
    inside = secs >= t_first
    x = v[inside]
    np.testing.assert_array_equal(s["n"], np.full(len(paths), inside.sum()))
    np.testing.assert_allclose(s["mean"], x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s["std"], x.std(axis=0, ddof=1), rtol=1e-9)
    np.testing.assert_allclose(s["mr_mean"], np.abs(np.diff(x, axis=0)).mean(axis=0), rtol=1e-9)
    assert len(r["bucket"]) <= 500


def test_a_stored_outage_is_a_break_in_the_line_and_a_grey_heatmap_column(line, stored, monkeypatch):
    root, station, paths, t, v = stored
    live = live_with_newest(line, paths, t, v)
    secs = t.as_unit("ns").asi8 / 1e9
    r = window_rollup(live, str(root), paths, secs[-1] - 13.9 * 3600, 500)
    tt, vv = envelope(r, 0)
    assert np.isnan(vv).sum() == 1  # one break, never a line joined across the outage
    k = int(np.flatnonzero(np.isnan(vv))[0])
    outage = (t[0] + pd.Timedelta(hours=5)).value, (t[0] + pd.Timedelta(hours=7)).value
    assert tt[k - 1] < outage[0] and tt[k + 1] >= outage[1]
    monkeypatch.setenv("WORKBENCH_HISTORY", str(root))
    page = coating_page.CoatingPage(live, station)
    got = page._compute(13.9 * 3600)
    cols = got["x"] + (np.arange(got["m"].shape[1]) + 0.5) * got["dw"] / got["m"].shape[1]
    in_outage = (cols * 1e9 > outage[0] + 1200e9) & (cols * 1e9 < outage[1] - 1200e9)
    assert in_outage.any() and np.isnan(got["m"][:, in_outage]).all()
    assert np.isfinite(got["m"][:, ~in_outage]).mean() > 0.9


def test_coating_cpk_from_rollups_equals_cpk_from_samples(line, stored, monkeypatch):
    root, station, paths, t, v = stored
    live = live_with_newest(line, paths, t, v)
    monkeypatch.setenv("WORKBENCH_HISTORY", str(root))
    page = coating_page.CoatingPage(live, station)
    window = 13.0 * 3600
    from_rollups = page._compute(window)
    monkeypatch.setattr(coating_page, "ROLLUP_AFTER_H", 1e9)  # the samples' path, as for short windows
    from_samples = page._compute(from_rollups["t1"] - from_rollups["t0"] + 1e-3)  # the same scans
    assert from_rollups["scans"] == from_samples["scans"]
    np.testing.assert_allclose(from_rollups["cpk"], from_samples["cpk"], rtol=1e-9)
    np.testing.assert_allclose(from_rollups["latest"], from_samples["latest"])

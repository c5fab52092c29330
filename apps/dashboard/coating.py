"""Coating: lane x time heatmap of areal mass, lane trends against spec with change points marked,
Cpk per lane (workbench.coating.capability) and the CD profile of the latest scan (workbench.coating.cd_profile).

Two kinds of change points are marked on the lane trends: the online FOCuS detections of the acquisition
task (dashed red, as they are signalled) and the offline segmentation of the whole buffered window
(``workbench.models.coating_shifts.lane_shifts`` over every lane at once, solid purple), recomputed periodically in the
shared analysis thread for all sessions (apps.dashboard.background.shared_background)."""

from __future__ import annotations

import html
import time
import warnings

import numpy as np
import pandas as pd
import panel as pn
import xarray as xr
from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper, Span
from bokeh.palettes import Viridis256

from workbench.coating import capability, capability_from_moments, cd_profile
from workbench.history.rollup import window_summary
from workbench.live import LiveStore
from workbench.models.coating_shifts import lane_shifts
from workbench.spc.design import min_shift_of
from workbench.units import ureg

from .background import shared_background
from .common import (GOOD, TrendChart, fmt, html_pane, limit_spans, new_figure, pretty_units, shared_result,
                     trend_tags)
from .history import DEFAULT_WINDOW, ROLLUP_AFTER_H, WINDOWS_H, history_url, window_rollup, window_series

HEATMAP_COLUMNS = 600  # the heatmap image is at most this many columns wide (time bins of whole scans)
STATS_EVERY_S = 5.0  # capability and heatmap are recomputed at most this often (once for all sessions)
OFFLINE_EVERY_S = 15.0  # offline change points over the buffered window (every lane), shared
OFFLINE_MARKS = 24  # at most this many offline marks on the trend (newest first)


def offline_rows(cp: pd.DataFrame, units: str, n_scans: int) -> str:
    """The offline change points as a table (newest first; time, lane and shift also as data-* attributes)."""
    head = (f'<p class="lw-sub" data-role="offline-summary" data-scans="{n_scans}">Offline change points '
            f'(workbench.changepoints.detect over the {n_scans} buffered scans, every lane; solid purple on the '
            f'trend): <b>{len(cp)}</b>{merged_note(cp, units)}</p>')
    if cp.empty:
        return head
    u = html.escape(pretty_units(units))
    m = cp.attrs.get("min_shift")
    rows = [f'<tr data-role="offline-cp" data-lane="{int(r.lane)}" data-time="{pd.Timestamp(r.time).isoformat()}" '
            f'data-shift="{r.shift:.4f}"><td>lane {int(r.lane)}</td><td>{pd.Timestamp(r.time):%H:%M:%S}</td>'
            f'<td class="num">{r.shift:+.3f} {u}{DRIFT_NOTE if m and abs(r.shift) < m else ""}</td></tr>'
            for r in cp.iloc[::-1].head(12).itertuples()]
    return head + ('<table class="lw-table" data-role="offline-changepoints"><thead><tr><th>lane</th>'
                   f'<th>segment starts</th><th>shift</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


# a kept change whose segment means differ by less than the minimum shift: the default measured the step against
# the lane's drift (trend or smooth baseline), which the plain means mix in
DRIFT_NOTE = (' <span data-role="against-drift" title="smaller than the minimum shift between the segments\' means: '
              'kept because the step measured against the lane\'s drift is not">(a step on a drift)</span>')


def merged_note(cp: pd.DataFrame, units: str) -> str:
    """', N shifts below the minimum of practical interest merged' when lane_shifts merged any."""
    n, m = cp.attrs.get("merged_small_shifts", 0), cp.attrs.get("min_shift")
    return (f' <span data-role="offline-merged" data-merged="{n}">({n} shifts below the minimum of practical '
            f'interest, {m:g} {html.escape(pretty_units(units))}, merged)</span>') if n and m else ""


def lane_matrix(store: LiveStore, paths: list[str], last: int) -> tuple[np.ndarray, np.ndarray]:
    """(time s of each scan, values [lane, scan]) of the newest ``last`` scans common to every lane.

    The gauge reports every lane of a scan with the same source timestamp; lanes are aligned on it.
    """
    series = [store.series(p, last) for p in paths]
    common = None
    for t, _, _ in series:
        common = t if common is None else np.intersect1d(common, t)
    if common is None or len(common) == 0:
        return np.empty(0), np.empty((len(paths), 0))
    out = np.full((len(paths), len(common)), np.nan)
    for i, (t, v, q) in enumerate(series):
        idx = np.searchsorted(t, common)
        ok = (idx < len(t))
        vals = np.where(q == GOOD, v, np.nan)
        out[i, ok] = vals[idx[ok]]
    return common, out


def window_matrix(store: LiveStore, url: str | None, paths: list[str], start_s: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(scan times s, values [lane, scan]) of every scan from ``start_s`` on, history and live buffer together;
    lanes aligned on the gauge's scan timestamp (a lane missing from a scan is NaN)."""
    series = window_series(store, url, paths, start_s, shared=lambda key, compute: shared_result(key, 30.0, compute))
    times = np.unique(np.concatenate([t for t, _ in series.values()])) if series else np.empty(0)
    out = np.full((len(paths), len(times)), np.nan)
    for i, path in enumerate(paths):
        t, v = series[path]
        out[i, np.searchsorted(times, t)] = v
    return times, out


def time_bins(t: np.ndarray, m: np.ndarray, columns: int = HEATMAP_COLUMNS) -> np.ndarray:
    """Scans averaged in consecutive groups so the image is at most ``columns`` wide.

    >>> time_bins(np.arange(6.0), np.arange(12.0).reshape(2, 6), columns=3).tolist()
    [[0.5, 2.5, 4.5], [6.5, 8.5, 10.5]]
    """
    k = -(-m.shape[1] // columns)
    if k <= 1:
        return m
    n = m.shape[1] // k * k
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN bin (a gap) stays NaN
        return np.nanmean(m[:, m.shape[1] - n:].reshape(m.shape[0], -1, k), axis=2)


class CoatingPage:
    title = "Coating"

    def __init__(self, store: LiveStore, station=None):
        self.store = store
        self.station = station or next(s for s in store.line.stations if s.kind == "coating")
        self.lanes = [t for t in self.station.tags if t.spec is not None]
        self.paths = [t.path for t in self.lanes]
        self.window_s = WINDOWS_H[DEFAULT_WINDOW] * 3600.0
        self.history = history_url()
        spec = self.lanes[0].spec
        self.units = self.lanes[0].units
        lo = spec.lsl if spec.lsl is not None else spec.target
        hi = spec.usl if spec.usl is not None else spec.target
        # heatmap: colour scale spans the spec; out-of-spec lanes saturate
        self.mapper = LinearColorMapper(palette=Viridis256, low=lo, high=hi, nan_color="#888888")
        # every source starts empty: a plot is drawn with data only once its data arrived (no placeholder)
        self.heat_src = ColumnDataSource({"image": [], "x": [], "dw": []})
        self.heat = new_figure("Areal mass by lane and time", "", height=330, tools="save")
        self.heat.yaxis.axis_label = "lane"
        self.heat.image(image="image", x="x", y=0.5, dw="dw", dh=len(self.lanes), source=self.heat_src,
                        color_mapper=self.mapper)
        self.heat.add_layout(ColorBar(color_mapper=self.mapper, title=pretty_units(self.units)), "right")
        self.trend = TrendChart(store, trend_tags(self.station),
                                "Lane trends vs spec · change points: online red, offline purple",
                                height=330)
        # change points as two vertical-span glyphs (one model each, however many marks): online FOCuS
        # detections dashed red, offline segmentation solid purple
        self.cp_src = ColumnDataSource({"x": []})
        self.trend.fig.vspan(x="x", source=self.cp_src, line_color="#d33", line_dash="dashed", line_width=2,
                             name="overlay")
        self.offline_src = ColumnDataSource({"x": []})
        self.trend.fig.vspan(x="x", source=self.offline_src, line_color="#7b2cbf", line_width=3, line_alpha=0.8,
                             name="overlay")
        self.cpk_src = ColumnDataSource({"lane": [], "cpk": [], "color": []})
        self.cpk = new_figure("Cpk per lane (window shown)", "", height=300, x_datetime=False, tools="save")
        self.cpk.vbar(x="lane", top="cpk", width=0.8, color="color", source=self.cpk_src)
        self.cpk.add_layout(Span(location=1.33, dimension="width", line_color="#2e9e44", line_dash="dashed",
                                 line_width=2))
        self.cpk.xaxis.axis_label = "lane"
        self.cpk.yaxis.axis_label = "Cpk"
        self.cd_src = ColumnDataSource({"lane": [], "v": []})
        self.cd = new_figure("CD profile, latest scan", self.units, height=300, x_datetime=False, tools="save")
        self.cd.line("lane", "v", source=self.cd_src, line_width=3)
        self.cd.scatter("lane", "v", source=self.cd_src, size=8)
        self.cd.xaxis.axis_label = "lane"
        limit_spans(self.cd, self.lanes[0])
        self.summary = html_pane("")
        self.offline = html_pane('<p class="lw-sub">Searching the buffered window for change points…</p>')
        self._offline_runs = -1
        self._last_stats = 0.0
        self._cp_seen = 0
        self.view = pn.Column(self.summary, self.offline,
                              pn.Row(pn.pane.Bokeh(self.heat, sizing_mode="stretch_width"),
                                     self.trend.pane, sizing_mode="stretch_width"),
                              pn.Row(pn.pane.Bokeh(self.cpk, sizing_mode="stretch_width"),
                                     pn.pane.Bokeh(self.cd, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
                              sizing_mode="stretch_width")

    def _mark_changepoints(self) -> None:
        cps = [c for c in self.store.changepoints if c.station == self.station.name]
        if len(cps) != self._cp_seen:
            self.cp_src.data = {"x": [c.since.timestamp() * 1000.0 for c in cps]}
        self._cp_seen = len(cps)

    def set_window(self, seconds: float) -> None:
        self.window_s = seconds
        self.trend.set_window(seconds)
        self._last_stats = 0.0

    def _compute(self, window_s: float) -> dict | None:
        newest = self.store.series(self.paths[0], 1)[0]
        now = float(newest[-1]) if len(newest) else time.time()
        if self.history is not None and window_s > ROLLUP_AFTER_H * 3600.0:
            return self._compute_rollup(now - window_s)
        t, m = window_matrix(self.store, self.history, self.paths, now - window_s)
        if m.shape[1] == 0:
            return None
        lanes = np.arange(1, len(self.paths) + 1)
        da = xr.DataArray(m.T, dims=("time", "lane"), coords={"lane": lanes}, attrs={"units": self.units})
        spec = self.lanes[0].spec
        q = lambda v: None if v is None else ureg.Quantity(v, self.units)  # noqa: E731
        cpk = np.full(len(lanes), np.nan)
        if m.shape[1] >= 10:
            cpk = capability(da, q(spec.lsl), q(spec.usl), dim="time").cpk.values
        return {"t0": t[0], "t1": t[-1], "scans": len(t), "m": time_bins(t, m), "x": t[0], "dw": t[-1] - t[0],
                "cpk": cpk, **self._latest(da.isel(time=[-1]))}

    def _compute_rollup(self, start_s: float) -> dict | None:
        """A long window from the store's rollups: heatmap columns are time buckets (a gap is a grey
        column), Cpk from the window's mean, average moving range and sigma of every lane."""
        r = window_rollup(self.store, self.history, self.paths, start_s, HEATMAP_COLUMNS,
                          shared=lambda key, compute: shared_result(key, 30.0, compute))
        _, m = lane_matrix(self.store, self.paths, 1)
        if r is None or not (r["n"] > 0).any() or m.shape[1] == 0:
            return None
        has = r["n"] > 0
        s = window_summary(r)
        spec = self.lanes[0].spec
        nan = lambda v: np.nan if v is None else v  # noqa: E731
        cpk = capability_from_moments(s["mean"], s["mr_mean"], s["std"], s["n"], nan(spec.lsl), nan(spec.usl),
                                      self.units).cpk.values
        cpk = np.where(s["n"] >= 10, cpk, np.nan)
        bucket = r["bucket"][1] - r["bucket"][0] if len(r["bucket"]) > 1 else 60 * 10**9
        edges = np.arange(r["bucket"][0], r["bucket"][-1] + bucket, bucket)  # every bucket, empty ones too
        image = np.full((len(self.paths), len(edges)), np.nan)
        image[:, np.searchsorted(edges, r["bucket"])] = np.where(has, r["mean"], np.nan).T
        latest = xr.DataArray(m.T, dims=("time", "lane"), attrs={"units": self.units})
        return {"t0": r["t_first"][has].min() / 1e9, "t1": r["t_last"][has].max() / 1e9,
                "scans": int(s["n"].max()), "m": image, "x": edges[0] / 1e9, "dw": len(edges) * bucket / 1e9,
                "cpk": cpk, **self._latest(latest)}

    def _latest(self, latest: xr.DataArray) -> dict:
        """The CD profile of the latest scan (one row over lane)."""
        prof = cd_profile(latest)
        return {"latest": latest.values[0], "range": float(prof.range[0]), "edge": float(prof.edge_to_centre[0]),
                "smile": float(prof.smile[0])}

    def _stats(self) -> None:
        r = shared_result(f"coating:{self.station.name}:{self.window_s}", STATS_EVERY_S,
                          lambda window_s=self.window_s: self._compute(window_s), refresh_off_loop=True)
        if r is None:
            return
        lanes, cpk = np.arange(1, len(self.paths) + 1), r["cpk"]
        hours = (r["t1"] - r["t0"]) / 3600.0
        self.heat_src.data = {"image": [r["m"]], "x": [r["x"] * 1000.0], "dw": [max(r["dw"] * 1000.0, 1.0)]}
        colors = ["#d33" if c < 1.0 else "#d98a00" if c < 1.33 else "#2e9e44" for c in np.nan_to_num(cpk)]
        self.cpk_src.data = {"lane": lanes, "cpk": np.nan_to_num(cpk), "color": colors}
        self.cd_src.data = {"lane": lanes, "v": r["latest"]}
        worst = int(lanes[np.nanargmin(cpk)]) if np.isfinite(cpk).any() else None
        u = pretty_units(self.units)
        n = r["scans"]
        self.summary.object = (
            f'<div class="lw-sub" data-role="coating-summary" data-scans="{n}" data-hours="{hours:.2f}">'
            f'{n} scans over the last {hours:.1f} h · latest scan: '
            f'range <b>{fmt(r["range"], 3)} {u}</b>, edge−centre <b>{fmt(r["edge"], 3)} {u}</b>, '
            f'smile <b>{fmt(r["smile"], 3)} {u}</b> · lowest Cpk: '
            + (f'lane {worst} (<b>{fmt(float(np.nanmin(cpk)), 3)}</b>)' if worst else "collecting scans…") + "</div>")

    def _offline_compute(self) -> tuple[pd.DataFrame, int]:
        t, m = lane_matrix(self.store, self.paths, self.store.buffers[self.paths[0]].capacity)
        da = xr.DataArray(m.T, dims=("time", "lane"), attrs={"units": self.units},
                          coords={"time": pd.to_datetime(t, unit="s"), "lane": np.arange(1, m.shape[0] + 1)})
        return lane_shifts(da, min_shift=min_shift_of(self.lanes[0])), m.shape[1]  # spec's practical shift

    def _offline(self) -> None:
        job = shared_background(f"offline-changepoints:{self.station.name}", OFFLINE_EVERY_S, self._offline_compute)
        if job.error and job.value is None:
            self.offline.object = f'<p class="lw-sub" data-role="offline-error">{html.escape(job.error)}</p>'
        if job.value is None or job.runs == self._offline_runs:
            return
        self._offline_runs = job.runs
        cp, n_scans = job.value
        newest = cp.iloc[::-1].head(OFFLINE_MARKS)
        self.offline_src.data = {"x": [pd.Timestamp(when).timestamp() * 1000.0 for when in newest.time]}
        self.offline.object = offline_rows(cp, self.units, n_scans)

    def update(self) -> None:
        self.trend.update()
        self._mark_changepoints()
        self._offline()
        if time.monotonic() - self._last_stats >= STATS_EVERY_S:
            self._last_stats = time.monotonic()
            self._stats()

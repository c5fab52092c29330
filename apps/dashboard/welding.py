"""Tab welding: I-MR chart of weld resistance over the window shown (default the last 8 h of history)
with Western Electric rule violations (workbench.spc), histogram against the spec, cold-joint rate
(workbench.weld.cold_joints), and weld resistance against the formation DCIR of the same cells
(workbench.weld.weld_vs_dcir on the store's genealogy source).

The control limits are the approved limit set in force for the tag in the history store
(:func:`workbench.spc.limitsets.in_force`), loaded at start and shown with its id, who approved it, when
and on which window it was fitted. Nothing here fits limits by itself: "Propose limits from this window"
saves a new, unapproved set, which is in force only once someone approves it."""

from __future__ import annotations

import time

import html

import numpy as np
import pandas as pd
import panel as pn
import xarray as xr
from bokeh.models import ColumnDataSource, Range1d, Span

from workbench import spc
from workbench.live import LiveStore
from workbench.units import ureg
from workbench.weld import DCIR_WINDOW, ColdJointRule, cold_joints, weld_vs_dcir

from .background import shared_background
from .common import fmt, genealogy_as_of, html_pane, new_figure, pretty_units, set_html, shared_result
from .history import DEFAULT_WINDOW, WINDOWS_H, downsample, history_url, window_series

EVERY_S = 1.0
LIMITS_EVERY_S = 30.0  # the limit set in force is looked up again this often (an approval elsewhere shows)
DRAW_WELDS = 3000  # the I and MR charts draw at most this many points (rules run on every weld)
DCIR_EVERY_S = 30.0


class WeldingPage:
    title = "Tab welding"

    def __init__(self, store: LiveStore, station=None):
        self.store = store
        self.station = station or next(s for s in store.line.stations if s.kind == "welding")
        self.tag = next((t for t in self.station.tags if t.spec is not None), self.station.tags[0])
        self.energy = next((t for t in self.station.tags if t.path.endswith("laser_energy")), None)
        self.units = self.tag.units
        self.i_src = ColumnDataSource({"n": [], "v": []})
        self.viol_src = ColumnDataSource({"n": [], "v": []})
        self.mr_src = ColumnDataSource({"n": [], "mr": []})
        self.window_s = WINDOWS_H[DEFAULT_WINDOW] * 3600.0
        self.history = history_url()
        self.i_chart = new_figure("Individuals (I) chart: weld resistance", self.units, height=300,
                                  y_range=Range1d(0, 1))
        self.i_chart.line("n", "v", source=self.i_src, line_width=1.5)
        self.i_chart.scatter("n", "v", source=self.i_src, size=4)
        self.i_chart.scatter("n", "v", source=self.viol_src, size=12, color="#d33", marker="x", line_width=3,
                             legend_label="rule violation")
        self.i_chart.legend.location = "top_left"
        self.mr_chart = new_figure("Moving range (MR) chart", self.units, height=220, y_range=Range1d(0, 1))
        self.mr_chart.line("n", "mr", source=self.mr_src, line_width=1.5)
        self.lines = {k: Span(dimension="width", line_color=c, line_dash=d, line_width=2)
                      for k, c, d in (("ucl", "#d33", "dotted"), ("center", "#2e9e44", "solid"),
                                      ("lcl", "#d33", "dotted"))}
        for s in self.lines.values():
            self.i_chart.add_layout(s)
        self.mr_ucl = Span(dimension="width", line_color="#d33", line_dash="dotted", line_width=2)
        self.mr_chart.add_layout(self.mr_ucl)
        self.hist_src = ColumnDataSource({"left": [], "right": [], "count": []})
        self.hist = new_figure("Weld resistance distribution vs spec", "", height=300, x_datetime=False)
        self.hist.quad(left="left", right="right", top="count", bottom=0, source=self.hist_src, alpha=0.8)
        self.hist.xaxis.axis_label = pretty_units(self.units)
        self.hist.yaxis.axis_label = "welds"
        for v in (self.tag.spec.lsl, self.tag.spec.usl) if self.tag.spec else ():
            if v is not None:
                self.hist.add_layout(Span(location=v, dimension="height", line_color="#d33", line_dash="dashed",
                                          line_width=3))
        self.dcir_src = ColumnDataSource({"w": [], "d": []})
        self.dcir_fig = new_figure("Weld resistance vs formation DCIR, per cell", "mohm", height=330,
                                   x_datetime=False)
        self.dcir_fig.scatter("w", "d", source=self.dcir_src, size=6, alpha=0.6)
        self.fit_src = ColumnDataSource({"w": [], "d": []})
        self.dcir_fig.line("w", "d", source=self.fit_src, color="#d33", line_width=2, legend_label="least squares")
        self.dcir_fig.legend.location = "top_left"
        self.dcir_fig.xaxis.axis_label = "weld resistance, sum of the cell's tab welds (µΩ)"
        self.dcir_fig.yaxis.axis_label = "DCIR (mΩ)"
        self.dcir_note = html_pane('<p class="lw-sub">Joining welds with formation DCIR…</p>')
        self.summary = html_pane("")
        self.limit_note = html_pane('<p class="lw-sub">Looking up the limit set in force…</p>')
        self.propose = pn.widgets.Button(name="Propose limits from this window", button_type="default",
                                         width=300, description="Fit Phase I limits on the welds shown and save "
                                         "them as a new limit set (not in force until approved)")
        self.propose.on_click(lambda _: self._propose())
        self.proposal = html_pane("")
        self._last = 0.0
        self._last_dcir = -DCIR_EVERY_S
        self._dcir_runs = -1
        self.view = pn.Column(pn.Row(self.limit_note, pn.Column(self.propose, self.proposal, width=320),
                                     sizing_mode="stretch_width"), self.summary,
                              pn.Row(pn.Column(pn.pane.Bokeh(self.i_chart, sizing_mode="stretch_width"),
                                               pn.pane.Bokeh(self.mr_chart, sizing_mode="stretch_width"),
                                               sizing_mode="stretch_width"),
                                     pn.pane.Bokeh(self.hist, sizing_mode="stretch_width"),
                                     sizing_mode="stretch_width"),
                              pn.Row(pn.pane.Bokeh(self.dcir_fig, sizing_mode="stretch_width"), self.dcir_note,
                                     sizing_mode="stretch_width"),
                              sizing_mode="stretch_width")

    def set_window(self, seconds: float) -> None:
        self.window_s = seconds
        self._last = 0.0

    def _welds(self) -> tuple[np.ndarray, np.ndarray]:
        """(time s, resistance) of every good weld in the window shown (history + live buffer)."""
        t, v = self.store.series(self.tag.path, 1)[:2]
        now = float(t[-1]) if len(t) else time.time()
        t, v = window_series(self.store, self.history, [self.tag.path], now - self.window_s,
                             shared=lambda key, compute: shared_result(key, 30.0, compute))[self.tag.path]
        ok = np.isfinite(v)
        return t[ok], v[ok]

    def limit_set(self):
        """The approved limit set in force for the weld resistance (None: none approved, or no store)."""
        if self.history is None:
            return None
        from workbench.spc import limitsets

        return shared_result(f"limit-set:{self.history}:{self.tag.path}", LIMITS_EVERY_S,
                             lambda: limitsets.in_force(self.history, self.tag.path))

    def _compute(self, window_s: float) -> dict:
        t, v = self._welds()
        found = self.limit_set()
        r = {"t": t, "v": v, "limit_set": found}
        if found is None or len(v) < 2:
            return r
        ds = spc.apply(found.chart_limits(), xr.DataArray(v, dims="time", attrs={"units": self.units}),
                       rules=spc.WESTERN_ELECTRIC)
        welds = xr.Dataset({"weld_resistance": ("weld", v, {"units": self.units})})
        usl = self.tag.spec.usl if self.tag.spec else None
        rule = ColdJointRule(usl=ureg.Quantity(usl, self.units) if usl is not None else None, by=None)
        counts, edges = np.histogram(v, bins=30)
        return {**r, "limits": found.chart_limits(), "alarm": ds.alarm.values.astype(bool), "mr": ds.moving_range.values,
                "counts": counts, "edges": edges, "cold": cold_joints(welds, rule).cold_joint.values,
                "rule": rule.describe(), "rules": [name for name in spc.WESTERN_ELECTRIC if bool(ds[name].values.any())]}

    def _show_limit_set(self, found) -> None:
        if found is None:
            where = (f"in the history store {html.escape(self.history)}" if self.history else
                     "(no history store: start the dashboard with --store so limits persist)")
            set_html(self.limit_note, f'<p class="lw-sub" data-role="no-limit-set">No approved limit set for '
                                      f'{html.escape(self.tag.short_name)} {where}: the I-MR chart has no control '
                                      f'limits until one is fitted and approved.</p>')
            return
        a = {k: html.escape(str(getattr(found, k))) for k in ("id", "version", "approved_by", "approved_at",
                                                               "window_start", "window_end", "fitted_by", "why")}
        when = lambda iso: pd.Timestamp(iso).strftime("%Y-%m-%d %H:%M")  # noqa: E731
        set_html(self.limit_note,
                 f'<div class="lw-sub" data-role="limit-set" data-id="{a["id"]}" data-version="{a["version"]}" '
                 f'data-approved-by="{a["approved_by"]}" data-approved-at="{a["approved_at"]}" '
                 f'data-window-start="{a["window_start"]}" data-window-end="{a["window_end"]}" '
                 f'data-center="{found.center:.6g}" data-ucl="{found.ucl:.6g}" data-lcl="{found.lcl:.6g}">'
                 f'Control limits: limit set <b>{a["id"]}</b> v{a["version"]}, approved by <b>{a["approved_by"]}</b> '
                 f'{when(found.approved_at)} UTC · fitted on {when(found.window_start)} – {when(found.window_end)} UTC '
                 f'({found.samples} welds) by {a["fitted_by"]}: {a["why"]}</div>')

    def _propose(self):
        """Fit limits on the window shown and save them as a new, unapproved set (never put in force here).
        Returns the saved set, or None (the reason is shown)."""
        from workbench.spc import limitsets

        t, _ = self._welds()
        why = None if self.history else "no history store: limit sets are kept in one (--store)"
        why = why or (None if len(t) >= 20 else "too few welds in the window to fit limits")
        saved = None
        if why is None:
            try:
                saved = limitsets.save(self.history, limitsets.fit_limit_set(
                    self.history, self.tag.path, start=pd.Timestamp(t[0], unit="s"), end=pd.Timestamp(t[-1], unit="s"),
                    by=pn.state.user or "dashboard user", why="proposed on the dashboard from the window shown"))
            except Exception as exc:
                why = f"limits not fitted: {exc}"
        text = why or (f"Saved limit set {saved.id} v{saved.version}, NOT in force: approve it with "
                       f"workbench limits approve {saved.id} --store {self.history} --by NAME")
        set_html(self.proposal, f'<p class="lw-sub" data-role="limit-proposal" data-id="{saved.id if saved else ""}">'
                                f'{html.escape(text)}</p>')
        return saved

    def _refresh(self) -> None:
        r = shared_result(f"welding:{self.tag.path}:{self.window_s}", EVERY_S, lambda: self._compute(self.window_s))
        self._show_limit_set(r["limit_set"])
        t, v = r["t"], r["v"]
        if "limits" not in r:
            ts, vs = downsample(t, v, DRAW_WELDS)
            self.i_src.data = {"n": ts * 1000.0, "v": vs}
            if len(v):
                pad = 0.05 * (float(v.max() - v.min()) or 1.0)
                self.i_chart.y_range.start, self.i_chart.y_range.end = float(v.min()) - pad, float(v.max()) + pad
            set_html(self.summary, f'<div class="lw-sub" data-role="welding-summary" data-welds="{len(v)}">'
                                   f'{len(v)} welds in the window · no control limits in force</div>')
            return
        lim, alarm, mr = r["limits"], r["alarm"], r["mr"]
        ts, vs = downsample(t, v, DRAW_WELDS)
        self.i_src.data = {"n": ts * 1000.0, "v": vs}
        self.viol_src.data = {"n": t[alarm] * 1000.0, "v": v[alarm]}
        tm, ms = downsample(t, np.asarray(mr, dtype=float), DRAW_WELDS)
        self.mr_src.data = {"n": tm * 1000.0, "mr": ms}
        for k, span in self.lines.items():
            span.location = float(getattr(lim, k))
        self.mr_ucl.location = float(lim.dispersion_ucl)
        # keep the control limits in view (spans do not widen the auto range)
        lo, hi = min(float(np.nanmin(v)), float(lim.lcl)), max(float(np.nanmax(v)), float(lim.ucl))
        pad = 0.05 * (hi - lo or 1.0)
        self.i_chart.y_range.start, self.i_chart.y_range.end = lo - pad, hi + pad
        self.mr_chart.y_range.start = 0.0
        self.mr_chart.y_range.end = 1.1 * max(float(np.nanmax(mr)), float(lim.dispersion_ucl))
        self.hist_src.data = {"left": r["edges"][:-1], "right": r["edges"][1:], "count": r["counts"]}
        cold = r["cold"]
        hours = (t[-1] - t[0]) / 3600.0
        set_html(self.summary,
            f'<div class="lw-sub" data-role="welding-summary" data-welds="{len(v)}" data-hours="{hours:.2f}">'
            f'{len(v)} welds over the last {hours:.1f} h · centre {fmt(lim.center)} {pretty_units(self.units)}, '
            f'UCL {fmt(lim.ucl)}, LCL {fmt(lim.lcl)} · rule violations: <b>{int(alarm.sum())}</b> '
            f'({", ".join(r["rules"]) or "none"}) · cold-joint rate: <b data-role="cold-joint-rate">'
            f'{100.0 * cold.mean():.2f} %</b> ({int(cold.sum())} welds; {r["rule"]})</div>')

    def _dcir(self) -> None:
        found = genealogy_as_of(self.store, self.dcir_note, "weld resistance cannot be joined with formation DCIR")
        if found is None:
            return
        source, as_of = found
        job = shared_background("weld-dcir", DCIR_EVERY_S, lambda: weld_vs_dcir(source, as_of))
        if job.error and job.value is None:
            set_html(self.dcir_note, f'<p class="lw-sub" data-role="weld-dcir-error">Weld vs DCIR: '
                                     f'{html.escape(job.error)}</p>')
        if job.value is None or job.runs == self._dcir_runs:
            return  # nothing new: do not resend the same points to the browser
        self._dcir_runs = job.runs
        j = job.value
        w, d = j.table.weld_resistance.to_numpy(), j.table.dcir.to_numpy()
        self.dcir_src.data = {"w": w, "d": d}
        xs = np.array([np.nanmin(w), np.nanmax(w)])
        self.fit_src.data = {"w": xs, "d": j.intercept + j.slope * xs}
        per_uohm = j.slope * 1e3  # mΩ/µΩ -> µΩ of DCIR per µΩ of weld (1.0 when the welds add in series)
        set_html(self.dcir_note,
            f'<div class="lw-sub" data-role="weld-dcir" data-n="{j.n}" data-pearson="{j.pearson:.4f}" '
            f'data-slope="{per_uohm:.4f}">{j.n} cells that finished formation in the last '
            f'{DCIR_WINDOW.total_seconds() / 3600:.0f} h · correlation r = <b>{j.pearson:.2f}</b> '
            f'(Spearman {j.spearman:.2f}) · DCIR rises <b>{per_uohm:.2f} µΩ per µΩ</b> of weld resistance '
            f'· genealogy: {html.escape(source.description)}</div>')

    def update(self) -> None:
        if time.monotonic() - self._last >= EVERY_S:
            self._last = time.monotonic()
            self._refresh()
        if time.monotonic() - self._last_dcir >= 2.0:
            self._last_dcir = time.monotonic()
            self._dcir()

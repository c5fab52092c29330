"""Tab welding: I-MR chart of weld resistance with Western Electric rule violations (workbench.spc),
histogram against the spec, cold-joint rate (workbench.weld.cold_joints), and weld resistance against the
formation DCIR of the same cells (workbench.weld.weld_vs_dcir on the store's genealogy source)."""

from __future__ import annotations

import time

import html

import numpy as np
import panel as pn
import xarray as xr
from bokeh.models import ColumnDataSource, Range1d, Span

from workbench import spc
from workbench.live import LiveStore
from workbench.units import ureg
from workbench.weld import DCIR_WINDOW, ColdJointRule, cold_joints, weld_vs_dcir

from .background import shared_background
from .common import GOOD, fmt, genealogy_as_of, html_pane, new_figure, pretty_units, set_html, shared_result

BASELINE_WELDS = 50  # Phase I: the first welds this server saw set the I-MR limits
WINDOW = 300
EVERY_S = 1.0
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
        self.i_chart = new_figure("Individuals (I) chart: weld resistance", self.units, height=300, x_datetime=False,
                                  y_range=Range1d(0, 1))
        self.i_chart.line("n", "v", source=self.i_src, line_width=1.5)
        self.i_chart.scatter("n", "v", source=self.i_src, size=4)
        self.i_chart.scatter("n", "v", source=self.viol_src, size=12, color="#d33", marker="x", line_width=3,
                             legend_label="rule violation")
        self.i_chart.legend.location = "top_left"
        self.i_chart.xaxis.axis_label = "weld #"
        self.mr_chart = new_figure("Moving range (MR) chart", self.units, height=220, x_datetime=False,
                                   y_range=Range1d(0, 1))
        self.mr_chart.line("n", "mr", source=self.mr_src, line_width=1.5)
        self.mr_chart.xaxis.axis_label = "weld #"
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
        self._last = 0.0
        self._last_dcir = -DCIR_EVERY_S
        self._dcir_runs = -1
        self.view = pn.Column(self.summary,
                              pn.Row(pn.Column(pn.pane.Bokeh(self.i_chart, sizing_mode="stretch_width"),
                                               pn.pane.Bokeh(self.mr_chart, sizing_mode="stretch_width"),
                                               sizing_mode="stretch_width"),
                                     pn.pane.Bokeh(self.hist, sizing_mode="stretch_width"),
                                     sizing_mode="stretch_width"),
                              pn.Row(pn.pane.Bokeh(self.dcir_fig, sizing_mode="stretch_width"), self.dcir_note,
                                     sizing_mode="stretch_width"),
                              sizing_mode="stretch_width")

    def _welds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t, v, q = self.store.series(self.tag.path)
        good = q == GOOD
        return t[good], v[good], np.nonzero(good)[0]

    def _compute(self) -> dict:
        t, v, _ = self._welds()
        if len(v) < BASELINE_WELDS:
            return {"baseline": len(v)}
        # Phase I once per server: the first welds it saw (kept while the server runs)
        limits = shared_result(f"weld-limits:{self.tag.path}", float("inf"), lambda: spc.fit(
            xr.DataArray(v[:BASELINE_WELDS], dims="time", attrs={"units": self.units}), chart="imr"))
        total = self.store.buffers[self.tag.path].total
        recent = v[-WINDOW:]
        ds = spc.apply(limits, xr.DataArray(recent, dims="time", attrs={"units": self.units}),
                       rules=spc.WESTERN_ELECTRIC)
        welds = xr.Dataset({"weld_resistance": ("weld", recent, {"units": self.units})})
        usl = self.tag.spec.usl if self.tag.spec else None
        rule = ColdJointRule(usl=ureg.Quantity(usl, self.units) if usl is not None else None, by=None)
        counts, edges = np.histogram(recent, bins=30)
        return {"limits": limits, "recent": recent, "n": np.arange(total - len(recent), total),
                "alarm": ds.alarm.values.astype(bool), "mr": ds.moving_range.values, "counts": counts,
                "edges": edges, "cold": cold_joints(welds, rule).cold_joint.values, "rule": rule.describe(),
                "rules": [name for name in spc.WESTERN_ELECTRIC if bool(ds[name].values.any())]}

    def _refresh(self) -> None:
        r = shared_result(f"welding:{self.tag.path}", EVERY_S, self._compute)
        if "baseline" in r:
            self.summary.object = (f'<div class="lw-sub" data-role="welding-summary">Collecting the Phase I baseline: '
                                   f'{r["baseline"]} of {BASELINE_WELDS} welds…</div>')
            return
        lim, recent, n, alarm = r["limits"], r["recent"], r["n"], r["alarm"]
        self.i_src.data = {"n": n, "v": recent}
        self.viol_src.data = {"n": n[alarm], "v": recent[alarm]}
        self.mr_src.data = {"n": n, "mr": r["mr"]}
        for k, span in self.lines.items():
            span.location = float(getattr(lim, k))
        self.mr_ucl.location = float(lim.dispersion_ucl)
        # keep the control limits in view (spans do not widen the auto range)
        lo, hi = min(float(np.nanmin(recent)), float(lim.lcl)), max(float(np.nanmax(recent)), float(lim.ucl))
        pad = 0.05 * (hi - lo or 1.0)
        self.i_chart.y_range.start, self.i_chart.y_range.end = lo - pad, hi + pad
        self.mr_chart.y_range.start = 0.0
        self.mr_chart.y_range.end = 1.1 * max(float(np.nanmax(r["mr"])), float(lim.dispersion_ucl))
        self.hist_src.data = {"left": r["edges"][:-1], "right": r["edges"][1:], "count": r["counts"]}
        cold = r["cold"]
        self.summary.object = (
            f'<div class="lw-sub" data-role="welding-summary">Last {len(recent)} welds · I-MR limits from the first '
            f'{BASELINE_WELDS}: centre {fmt(lim.center)} {pretty_units(self.units)}, UCL {fmt(lim.ucl)} · '
            f'rule violations: <b>{int(alarm.sum())}</b> ({", ".join(r["rules"]) or "none"}) · cold-joint rate: '
            f'<b data-role="cold-joint-rate">{100.0 * cold.mean():.2f} %</b> ({int(cold.sum())} welds; {r["rule"]})</div>')

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

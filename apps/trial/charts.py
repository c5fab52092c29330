"""The console's charts: the plan against its limits (dry run), the run's response trends with the
changes marked, and the effect estimates with their confidence intervals.

The live trends are the dashboard's :class:`apps.dashboard.common.TrendChart`, fed from the trial's own
recorder (:class:`RecorderFeed`: the readings the estimates are computed from) instead of the line store.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import (
    BoxAnnotation,
    ColumnDataSource,
    HoverTool,
    Label,
    Range1d,
    Span,
    Whisker,
)

from apps.dashboard.common import GOOD, TrendChart, html_pane, new_figure, pretty_units
from data_adapters.trials.profile import PlannedProfile, SetpointProfile

TRIAL_WINDOW_S = 7 * 86400.0  # the trends show the whole trial (a week is longer than any trial plan)

LIMIT, STEP_BAND, RATE, BASE, PLAN, REFUSED, SEGMENT = ("#d33", "#9ecae1", "#e6550d", "#2e9e44", "#1f4e79",
                                                       "#d60000", "#888888")


def _minutes(ts) -> list[float]:
    return [t / 60.0 for t in ts]


def profile_figure(prof: SetpointProfile, segments: list, *, height: int = 380):
    """One setpoint's planned profile (minutes from start) with min/max, step band, rate cones, baseline,
    segment starts and refused writes (red ×, hover for the guard's reason)."""
    units = pretty_units(prof.units)
    fig = new_figure(f"{prof.path.rsplit('/', 1)[-1]} — planned, {prof.off_baseline_s / 60:.1f} min off baseline",
                     prof.units, height=height, x_datetime=False, tools="pan,box_zoom,reset,save")
    fig.xaxis.axis_label = "minutes from start (station time)"
    t, lo, hi = prof.step_band()
    fig.varea_step(x=_minutes(t), y1=lo, y2=hi, step_mode="after", fill_color=STEP_BAND, fill_alpha=0.35,
                   legend_label=f"max step ±{prof.max_step:g} {units}")
    xs = [_minutes(c[0]) + [math.nan] + _minutes(c[0]) for c in prof.rate_cones]
    ys = [list(c[1]) + [math.nan] + list(c[2]) for c in prof.rate_cones]
    if xs:
        fig.multi_line(xs=xs, ys=ys, line_color=RATE, line_dash="dashed", line_width=1.5,
                       legend_label=f"max rate {prof.max_rate:g} {units}/s")
    for v, name in ((prof.min, "min"), (prof.max, "max")):
        fig.add_layout(Span(location=v, dimension="width", line_color=LIMIT, line_dash="dashed", line_width=2))
        fig.add_layout(Label(x=0, y=v, text=f"{name} {v:g}", text_color=LIMIT, text_font_size="13px",
                             y_offset=-16 if name == "max" else 3))
    fig.line(_minutes([t[0], t[-1]]), [prof.baseline] * 2, line_color=BASE, line_width=2, line_dash="dotted",
             legend_label=f"baseline {prof.baseline:g}")
    fig.step(_minutes(prof.t), prof.value, mode="after", line_color=PLAN, line_width=3, legend_label="planned")
    for ts, name, kind in segments:
        if kind in ("step", "ramp", "doe", "hold", "restore"):
            fig.add_layout(Span(location=ts / 60.0, dimension="height", line_color=SEGMENT, line_dash="dotted"))
    if prof.refused:
        src = ColumnDataSource({"t": _minutes([r.t_s for r in prof.refused]), "v": [r.value for r in prof.refused],
                                "step": [r.step for r in prof.refused], "rule": [r.rule for r in prof.refused],
                                "reason": [r.reason for r in prof.refused]})
        marks = fig.scatter("t", "v", source=src, marker="x", size=18, line_width=4, color=REFUSED,
                            legend_label="refused write")
        fig.add_tools(HoverTool(renderers=[marks], tooltips=[("step", "@step"), ("refused", "@rule"),
                                                              ("why", "@reason")]))
        first = prof.refused[0]
        fig.add_layout(Label(x=first.t_s / 60.0, y=first.value, text=f"refused: {first.rule}", x_offset=10,
                             text_color=REFUSED, text_font_size="14px", text_font_style="bold"))
    for lo, hi in ((None, prof.min), (prof.max, None)):  # outside the limits: shaded
        fig.add_layout(BoxAnnotation(bottom=lo, top=hi, fill_color=LIMIT, fill_alpha=0.08))
    near = [*prof.value, prof.baseline, prof.min, prof.max]
    pad = 0.06 * (max(near) - min(near))
    fig.y_range = Range1d(min(near) - pad, max(near) + pad)
    fig.add_layout(fig.legend[0], "right")
    fig.legend.label_text_font_size = "12px"
    return fig


def profile_caption(prof: SetpointProfile) -> str:
    """What the chart shows, in words (and attributes a test can read)."""
    units = pretty_units(prof.units)
    refused = "".join(f"; <b style='color:{REFUSED}'>refused at {r.t_s / 60:.2f} min: {r.value:g} {units} "
                      f"({r.rule})</b>" for r in prof.refused[:3])
    return (f'<div class="lw-sub" data-role="profile" data-setpoint="{prof.path}" data-refused="{len(prof.refused)}">'
            f'<b>{prof.path.rsplit("/", 1)[-1]}</b>: baseline {prof.baseline:g} {units}, limits '
            f'[{prof.min:g}, {prof.max:g}], max step {prof.max_step:g}, max rate {prof.max_rate:g} {units}/s; '
            f'{prof.off_baseline_s / 60:.1f} min off baseline{refused}</div>')


def profile_view(planned: PlannedProfile):
    """A chart per setpoint of the plan (the dry run as a picture), each with its caption."""
    parts = []
    for p in planned.setpoints.values():
        parts += [html_pane(profile_caption(p)),
                  pn.pane.Bokeh(profile_figure(p, planned.segments), sizing_mode="stretch_width")]
    return pn.Column(*parts, sizing_mode="stretch_width", css_classes=["trial-profile"])


class RecorderFeed:
    """The trial recorder seen as the dashboard's :class:`workbench.live.LiveStore` (what a
    :class:`~apps.dashboard.common.TrendChart` reads: ``buffers[path].total``, ``series``, ``since``), with
    times on the trial's clock (s since the epoch) and a reading the guard flagged drawn as a gap."""

    def __init__(self, recorder):
        self.recorder = recorder
        self.buffers = _Totals(recorder)

    def _rows(self, path: str, first: int = 0, last: int | None = None) -> tuple[list, int]:
        with self.recorder._lock:
            rows = self.recorder.readings.get(path, [])
            total = len(rows)
            start = max(first, total - last) if last is not None else first
            return list(rows[start:]), total

    @staticmethod
    def _arrays(rows: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.array([r[3].timestamp() for r in rows], dtype=float)
        v = np.array([r[1] for r in rows], dtype=float)
        q = np.array([GOOD if r[2] else 1 for r in rows], dtype=np.int8)
        return t, v, q

    def series(self, path: str, last: int | None = None):
        return self._arrays(self._rows(path, last=last)[0])

    def since(self, path: str, total_before: int):
        rows, total = self._rows(path, first=total_before)
        return (*self._arrays(rows), total)


class _Totals:
    """``feed.buffers[path].total``: how many readings of ``path`` the recorder holds."""

    def __init__(self, recorder):
        self.recorder = recorder

    def __getitem__(self, path: str):
        with self.recorder._lock:
            return SimpleNamespace(total=len(self.recorder.readings.get(path, [])))


class RunTrends:
    """A live trend per response of the running trial, each change (step, level, DOE run) marked."""

    def __init__(self, ctl, line):
        self.ctl = ctl
        self.feed = RecorderFeed(ctl.recorder)
        self.charts = [TrendChart(self.feed, [line.tag(p)], f"{p.rsplit('/', 1)[-1]} (trial readings)",
                                  height=260, window_s=TRIAL_WINDOW_S, limits=True, history=False) for p in ctl.plan.responses]
        self._marked = 0
        self.markers = html_pane("")
        self.pane = pn.Column(self.markers, *[c.pane for c in self.charts], sizing_mode="stretch_width",
                              css_classes=["trial-trends"])

    def update(self) -> None:
        for c in self.charts:
            c.update()
        segs = list(self.ctl.recorder.segments)
        for seg in segs[self._marked:]:
            color = {"restore": BASE, "baseline": BASE}.get(seg["kind"], REFUSED)
            for c in self.charts:
                ms = seg["start"].timestamp() * 1000.0
                c.fig.add_layout(Span(location=ms, dimension="height", line_color=color, line_width=2,
                                      line_dash="dashed", name="change-marker", tags=[seg["name"]]))
                c.fig.add_layout(Label(x=ms, y=5, y_units="screen", text=seg["name"], text_font_size="12px",
                                       text_color=color, x_offset=3))
        if len(segs) != self._marked:
            t0 = segs[0]["start"]
            self.markers.object = "Changes marked: " + ", ".join(
                f'<span data-role="change-marker" data-segment="{s["name"]}" data-kind="{s["kind"]}">{s["name"]} at '
                f'{(s["start"] - t0).total_seconds() / 60:.1f} min</span>' for s in segs)
        self._marked = len(segs)


def effects_figure(rows: pd.DataFrame, *, height: int = 260):
    """One response's estimates (its gains or main effects if any, else its effects) with their 95 % CIs."""
    what = next((w for w in ("gain", "main effect") if (rows["what"] == w).any()), "effect")
    rows = rows[rows["what"] == what]
    labels = [str(s) for s in rows["segment"]]
    src = ColumnDataSource({"label": labels, "effect": list(rows["estimate"]), "lo": list(rows["ci_low"]),
                            "hi": list(rows["ci_high"])})
    units = rows["units"].iloc[0]
    fig = new_figure(f"{rows['response'].iloc[0].rsplit('/', 1)[-1]}: {what}", "", height=height,
                     x_range=labels, tools="save")
    fig.yaxis.axis_label = f"{what} ± 95 % CI ({units})"
    fig.add_layout(Whisker(source=src, base="label", lower="lo", upper="hi", line_width=2))
    fig.scatter("label", "effect", source=src, size=12, color=PLAN)
    lo, hi = min(rows["ci_low"].min(), 0.0), max(rows["ci_high"].max(), 0.0)
    pad = 0.1 * (hi - lo or 1.0)
    fig.y_range = Range1d(lo - pad, hi + pad)
    fig.add_layout(Span(location=0, dimension="width", line_color="#444"))
    return fig


def effects_table(rows: pd.DataFrame) -> str:
    """The estimates as an HTML table (``data-role=estimate`` rows carry the numbers for tests and eyes)."""
    if rows.empty:
        return '<p class="lw-sub">no estimates (the trial recorded no settled samples)</p>'
    out = ['<table class="lw-table trial-effects"><tr><th>response</th><th>change</th><th>estimate</th>'
           '<th>95 % CI</th><th>units</th><th>n</th></tr>']
    for r in rows.itertuples():
        out.append(f'<tr data-role="estimate" data-response="{r.response}" data-segment="{r.segment}" '
                   f'data-what="{r.what}" data-estimate="{r.estimate:.6g}" data-lo="{r.ci_low:.6g}" '
                   f'data-hi="{r.ci_high:.6g}"><td>{r.response.rsplit("/", 1)[-1]}</td><td>{r.segment}</td>'
                   f'<td>{r.what} {r.estimate:.4g}</td><td>[{r.ci_low:.4g}, {r.ci_high:.4g}]</td>'
                   f'<td>{r.units}</td><td>{r.n}</td></tr>')
    out.append("</table>")
    return "".join(out)


def estimates_view(rows: pd.DataFrame):
    if rows.empty:
        return html_pane(effects_table(rows))
    figs = [pn.pane.Bokeh(effects_figure(group), sizing_mode="stretch_width")
            for _, group in rows.groupby("response", sort=False)]
    return pn.Column(html_pane(effects_table(rows)), pn.GridBox(*figs, ncols=min(2, len(figs)),
                                                                sizing_mode="stretch_width"),
                     sizing_mode="stretch_width")


__all__ = [
    "RecorderFeed",
    "RunTrends",
    "effects_figure",
    "effects_table",
    "estimates_view",
    "profile_figure",
    "profile_view",
]

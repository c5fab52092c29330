"""Formation: live curves of selected channels, dQ/dV of the present charge step (workbench.formation.dqdv),
distribution of the capacity charged so far per channel, and a rack x channel heatmap of the live voltage."""

from __future__ import annotations

import re
import time

import numpy as np
import panel as pn
from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper
from bokeh.palettes import Category10_10, Plasma256

from data_adapters.live import LiveStore
from workbench.formation import FormationDataError, curve_from_arrays, dqdv

from .common import GOOD, TrendChart, fmt, html_pane, new_figure, shared_result

CHANNEL = re.compile(r"/rack(\d+)/ch(\d+)/voltage$")
EVERY_S = 3.0
ANALYSIS_EVERY_S = 10.0  # capacity and dQ/dV: once per process per period, shared by all sessions


def channels(station) -> list[tuple[int, int, str]]:
    """(rack, channel, ISA-95 prefix) of every channel with a voltage tag, in config order."""
    out = []
    for t in station.tags:
        m = CHANNEL.search(t.path)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), t.path.rsplit("/", 1)[0]))
    return out


def channel_curve(store: LiveStore, prefix: str):
    """The buffered curve of one channel as a checked formation curve (capacity integrated from current)."""
    t, v, qv = store.series(f"{prefix}/voltage")
    ti, i, qi = store.series(f"{prefix}/current")
    common, a, b = np.intersect1d(t, ti, return_indices=True)
    ok = (qv[a] == GOOD) & (qi[b] == GOOD) & np.isfinite(v[a]) & np.isfinite(i[b])
    if ok.sum() < 20:
        raise FormationDataError(f"{prefix}: only {int(ok.sum())} good samples buffered yet")
    return curve_from_arrays(time=common[ok] - common[ok][0], voltage=v[a][ok], current=i[b][ok],
                             cell_id=prefix.rsplit("/", 2)[-2] + "/" + prefix.rsplit("/", 1)[-1])


class FormationPage:
    title = "Formation"

    def __init__(self, store: LiveStore, station=None):
        self.store = store
        self.station = station or next(s for s in store.line.stations if s.kind == "formation")
        self.channels = channels(self.station)
        labels = {f"rack {r} ch {c:02d}": p for r, c, p in self.channels}
        self.pick = pn.widgets.MultiChoice(name="Channels to show", options=labels,
                                           value=[p for _, _, p in self.channels[:4]], max_items=8,
                                           sizing_mode="stretch_width")
        self.curves = pn.Column(sizing_mode="stretch_width")
        self.trend: TrendChart | None = None
        self.pick.param.watch(lambda e: self._build_trend(), "value")
        self._build_trend()
        racks = sorted({r for r, _, _ in self.channels})
        chans = sorted({c for _, c, _ in self.channels})
        self.heat_src = ColumnDataSource({"rack": [], "ch": [], "v": [], "label": []})
        self.mapper = LinearColorMapper(palette=Plasma256, low=2.5, high=4.2, nan_color="#555555")
        self.heat = new_figure("Live voltage, rack × channel", "", height=300, x_datetime=False,
                               x_range=[f"{c:02d}" for c in chans], y_range=[f"rack {r}" for r in racks])
        self.heat.rect(x="ch", y="rack", width=0.95, height=0.95, source=self.heat_src,
                       fill_color={"field": "v", "transform": self.mapper}, line_color=None)
        self.heat.text(x="ch", y="rack", text="label", source=self.heat_src, text_align="center",
                       text_baseline="middle", text_font_size="12px", text_color="white")
        self.heat.add_layout(ColorBar(color_mapper=self.mapper, title="V"), "right")
        self.heat.xaxis.axis_label = "channel"
        self.dqdv_fig = new_figure("dQ/dV of the present charge step", "", height=300, x_datetime=False)
        self.dqdv_fig.xaxis.axis_label = "V"
        self.dqdv_fig.yaxis.axis_label = "dQ/dV (Ah/V)"
        self.dqdv_srcs = []
        for k in range(8):
            src = ColumnDataSource({"v": [], "d": []})
            self.dqdv_fig.line("v", "d", source=src, color=Category10_10[k], line_width=2)
            self.dqdv_srcs.append(src)
        self.cap_src = ColumnDataSource({"left": [], "right": [], "count": []})
        self.cap = new_figure("Capacity charged so far, all channels", "", height=300, x_datetime=False)
        self.cap.quad(left="left", right="right", top="count", bottom=0, source=self.cap_src, alpha=0.8)
        self.cap.xaxis.axis_label = "Ah (buffered window)"
        self.cap.yaxis.axis_label = "channels"
        self.note = html_pane("")
        self._last = 0.0
        self.view = pn.Column(self.pick, self.curves, self.note,
                              pn.Row(pn.pane.Bokeh(self.heat, sizing_mode="stretch_width"),
                                     pn.pane.Bokeh(self.dqdv_fig, sizing_mode="stretch_width"),
                                     sizing_mode="stretch_width"),
                              pn.pane.Bokeh(self.cap, sizing_mode="stretch_width"),
                              sizing_mode="stretch_width")

    def _build_trend(self) -> None:
        tags = [self.store.tags[f"{p}/voltage"] for p in self.pick.value]
        self.trend = TrendChart(self.store, tags, "Cell voltage, selected channels", height=300)
        self.curves.objects = [self.trend.pane]
        self._last = 0.0

    def _heatmap(self) -> None:
        paths = [f"{p}/voltage" for _, _, p in self.channels]
        v = self.store.latest_values(paths)
        for k, path in enumerate(paths):
            if self.store.quality(path).value != "good":
                v[k] = np.nan  # stale or disconnected cells are grey, never shown as fresh
        self.heat_src.data = {"rack": [f"rack {r}" for r, _, _ in self.channels],
                              "ch": [f"{c:02d}" for _, c, _ in self.channels], "v": v,
                              "label": [fmt(x, 3) for x in v]}

    def _capacities(self) -> list[float]:
        caps = []
        for _, _, prefix in self.channels:
            try:
                caps.append(float(np.nanmax(channel_curve(self.store, prefix).capacity.values)))
            except FormationDataError:
                continue
        return caps

    def _dqdv(self, prefix: str):
        try:
            curve = channel_curve(self.store, prefix)
            return dqdv(curve, cycle=int(curve.cycle.values[-1]), direction="charge", max_c_rate=None)
        except (FormationDataError, ValueError) as exc:
            return str(exc)

    def _analysis(self) -> None:
        notes = []
        caps = shared_result(f"formation-capacity:{self.station.name}", ANALYSIS_EVERY_S, self._capacities)
        for k, src in enumerate(self.dqdv_srcs):
            prefix = self.pick.value[k] if k < len(self.pick.value) else None
            d = shared_result(f"dqdv:{prefix}", ANALYSIS_EVERY_S, lambda p=prefix: self._dqdv(p)) if prefix else None
            if isinstance(d, str):
                notes.append(f"{prefix.split('/', 2)[-1]}: {d}")
            src.data = {"v": d.voltage.values, "d": d.values} if d is not None and not isinstance(d, str) else \
                {"v": [], "d": []}
        if caps:
            counts, edges = np.histogram(caps, bins=min(20, max(5, len(caps) // 3)))
            self.cap_src.data = {"left": edges[:-1], "right": edges[1:], "count": counts}
        self.note.object = (f'<div class="lw-sub" data-role="formation-summary">{len(caps)} channels with curves '
                            f'buffered' + (f' · dQ/dV not yet available: {"; ".join(notes[:3])}' if notes else "")
                            + "</div>")

    def update(self) -> None:
        self.trend.update()
        self._heatmap()
        if time.monotonic() - self._last >= EVERY_S:
            self._last = time.monotonic()
            self._analysis()

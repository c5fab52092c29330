"""Dry room: dew/frost point per sensor against its alarm limit, excursions (workbench.dewpoint.excursions)
shaded with duration and peak."""

from __future__ import annotations

import html
import time

import numpy as np
import pandas as pd
import panel as pn
import xarray as xr
from bokeh.models import BoxAnnotation

from data_adapters.live import LiveStore
from workbench.dewpoint import excursions
from workbench.units import ureg

from .common import GOOD, TrendChart, fmt, html_pane, shared_result

EXCURSIONS_EVERY_S = 2.0


def sensor_excursions(store: LiveStore, tag) -> pd.DataFrame:
    """Excursions of one sensor above its alarm-high limit, over the buffered window."""
    t, v, q = store.series(tag.path)
    if len(t) < 2 or tag.alarm is None or tag.alarm.high is None:
        return pd.DataFrame()
    times = pd.to_datetime(t, unit="s")
    da = xr.DataArray(np.where(q == GOOD, v, np.nan), dims="time", coords={"time": times},
                      name=tag.short_name, attrs={"units": tag.units, "reports": tag.reports or "frost_point"})
    basis = tag.reports or "frost_point"
    return excursions(da, ureg.Quantity(tag.alarm.high, tag.units), basis=basis)


class DryRoomPage:
    title = "Dry room"

    def __init__(self, store: LiveStore, station=None):
        self.store = store
        self.station = station or next(s for s in store.line.stations if s.kind == "dryroom")
        self.sensors = [t for t in self.station.tags if t.reports]
        self.charts = [TrendChart(store, [t], f"{t.short_name.replace('_', ' ')} ({t.reports.replace('_', ' ')}), "
                                              f"limit {fmt(t.alarm.high) if t.alarm and t.alarm.high is not None else '—'}",
                                  height=250) for t in self.sensors]
        self.boxes: dict[str, list[BoxAnnotation]] = {t.path: [] for t in self.sensors}
        self.table = html_pane("")
        self._last = 0.0
        self.view = pn.Column(pn.GridBox(*[c.pane for c in self.charts], ncols=2, sizing_mode="stretch_width"),
                              pn.pane.Markdown("## Excursions above the limit (buffered window)"), self.table,
                              sizing_mode="stretch_width")

    def _shade(self, chart: TrendChart, tag, ev: pd.DataFrame) -> None:
        boxes = self.boxes[tag.path]
        for i, row in enumerate(ev.itertuples()):
            left = pd.Timestamp(row.start).timestamp() * 1000.0
            right = pd.Timestamp(row.end).timestamp() * 1000.0
            if i < len(boxes):
                boxes[i].left, boxes[i].right = left, right
            else:
                box = BoxAnnotation(left=left, right=right, fill_color="#d33", fill_alpha=0.18)
                chart.fig.add_layout(box)
                boxes.append(box)
        for box in boxes[len(ev):]:
            box.left = box.right = None  # hide spans that scrolled out of the buffer

    def _excursions(self) -> None:
        rows = []
        for chart, tag in zip(self.charts, self.sensors):
            ev = shared_result(f"excursions:{tag.path}", EXCURSIONS_EVERY_S,
                               lambda tag=tag: sensor_excursions(self.store, tag))
            self._shade(chart, tag, ev)
            for row in ev.itertuples():
                mins = pd.Timedelta(row.duration).total_seconds() / 60
                rows.append(f'<tr data-role="excursion"><td>{html.escape(tag.short_name)}</td>'
                            f'<td>{pd.Timestamp(row.start):%H:%M:%S}</td><td class="num">{mins:.1f} min</td>'
                            f'<td class="num">{fmt(float(row.peak), 3)} °C ({row.basis.replace("_", " ")})</td>'
                            f'<td>{"ONGOING" if row.ongoing else "ended"}</td></tr>')
        self.table.object = (
            '<table class="lw-table"><thead><tr><th>sensor</th><th>start</th><th>duration</th><th>peak</th>'
            f'<th>state</th></tr></thead><tbody>{"".join(rows)}</tbody></table>' if rows else
            '<p class="lw-sub" data-role="no-excursions">No excursion above the limit in the buffered window.</p>')

    def update(self) -> None:
        for c in self.charts:
            c.update()
        if time.monotonic() - self._last >= EXCURSIONS_EVERY_S:
            self._last = time.monotonic()
            self._excursions()

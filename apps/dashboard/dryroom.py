"""Dry room: dew/frost point per sensor against its alarm limit, excursions (workbench.exposure.sensor_excursions)
shaded with duration and peak, and the cells, electrode rolls and slurry lots that were in the dry room
during each excursion (workbench.exposure.exposed on the store's genealogy source)."""

from __future__ import annotations

import html
import time

import pandas as pd
import panel as pn
from bokeh.models import BoxAnnotation

from workbench.exposure import exposed, sensor_excursions, sensor_id
from workbench.live import LiveStore

from .background import shared_background
from .common import TrendChart, fmt, genealogy_as_of, html_pane, set_html, shared_result

EXCURSIONS_EVERY_S = 2.0
EXPOSURE_EVERY_S = 5.0
SHADED_EXCURSIONS = 8  # excursions shaded per chart (the newest ones in the buffered window)


def exposure_rows(found: list[dict]) -> str:
    """One table row per excursion: cells (count, first..last), electrode rolls, slurry lots; the window,
    the as-of time and the lists are also data-* attributes (machine-readable, checked by the tests)."""
    if not found:
        return '<p class="lw-sub" data-role="no-exposure">No excursion in the buffered window: nothing exposed.</p>'
    rows = []
    for e in found:
        cells = e["cells"]
        span = f"{cells[0]} … {cells[-1]}" if len(cells) > 1 else (cells[0] if cells else "—")
        attrs = (f'data-sensor="{html.escape(e["tag"])}" data-start="{e["start"].isoformat()}" '
                 f'data-end="{e["end"].isoformat()}" data-asof="{e["as_of"].isoformat()}" '
                 f'data-cells="{len(cells)}" data-lots="{html.escape(",".join(e["lots"]))}" '
                 f'data-rolls="{html.escape(",".join(e["rolls"]))}"')
        rows.append(f'<tr data-role="exposed" {attrs}><td>{html.escape(e["tag"])}</td>'
                    f'<td>{e["start"]:%H:%M:%S}–{e["end"]:%H:%M:%S}</td><td class="num"><b>{len(cells)}</b></td>'
                    f'<td>{html.escape(span)}</td><td>{html.escape(", ".join(e["rolls"]) or "—")}</td>'
                    f'<td>{html.escape(", ".join(e["lots"]) or "—")}</td>'
                    f'<td class="num">{fmt(e["moisture"], 3)}</td></tr>')
    return ('<table class="lw-table" data-role="exposure-table"><thead><tr><th>sensor</th><th>excursion</th>'
            '<th>cells</th><th>cell ids</th><th>electrode rolls</th><th>slurry lots</th>'
            '<th>max moisture (ppmv·h)</th></tr></thead>' f'<tbody>{"".join(rows)}</tbody></table>'
            '<p class="lw-sub">Cells count for the sensor the genealogy places them nearest (stacking and '
            'welding zone); cells whose dry-room stay overlaps the excursion, welded by the time shown.</p>')


class DryRoomPage:
    title = "Dry room"

    def __init__(self, store: LiveStore, station=None):
        self.store = store
        self.station = station or next(s for s in store.line.stations if s.kind == "dryroom")
        self.sensors = [t for t in self.station.tags if t.reports]
        self.charts = [TrendChart(store, [t], f"{t.short_name.replace('_', ' ')} ({t.reports.replace('_', ' ')}), "
                                              f"limit {fmt(t.alarm.high) if t.alarm and t.alarm.high is not None else '—'}",
                                  height=250) for t in self.sensors]
        # the shading boxes exist from the start, hidden: a box added to a figure the browser has already
        # drawn and then moved in the next message can reach it before its view exists ("cannot find a view")
        self.boxes: dict[str, list[BoxAnnotation]] = {}
        for chart, t in zip(self.charts, self.sensors):
            self.boxes[t.path] = [BoxAnnotation(fill_color="#d33", fill_alpha=0.18, visible=False)
                                  for _ in range(SHADED_EXCURSIONS)]
            for box in self.boxes[t.path]:
                chart.fig.add_layout(box)
        self.table = html_pane("")
        self.exposure = html_pane('<p class="lw-sub">Tracing the cells in the dry room…</p>')
        self.source_note = html_pane("")
        self._last = 0.0
        self._events: list[tuple[str, pd.Timestamp, pd.Timestamp]] = []
        self.view = pn.Column(pn.GridBox(*[c.pane for c in self.charts], ncols=2, sizing_mode="stretch_width"),
                              pn.pane.Markdown("## Excursions above the limit (buffered window)"), self.table,
                              pn.pane.Markdown("## Exposed during the excursions: cells, electrode rolls, slurry lots"),
                              self.source_note, self.exposure, sizing_mode="stretch_width")

    def _shade(self, chart: TrendChart, tag, ev: pd.DataFrame) -> None:
        """Shade the newest ``SHADED_EXCURSIONS`` excursions of ``tag``; hide the boxes not needed."""
        boxes = self.boxes[tag.path]
        rows = list(ev.itertuples())[-len(boxes):]
        for box, row in zip(boxes, rows):
            left, right = (pd.Timestamp(row.start).timestamp() * 1000.0, pd.Timestamp(row.end).timestamp() * 1000.0)
            if (box.left, box.right, box.visible) != (left, right, True):
                box.update(left=left, right=right, visible=True)
        for box in boxes[len(rows):]:
            if box.visible:
                box.visible = False  # spans that scrolled out of the buffer

    def _excursions(self) -> None:
        rows, events = [], []
        for chart, tag in zip(self.charts, self.sensors):
            ev = shared_result(f"excursions:{tag.path}", EXCURSIONS_EVERY_S,
                               lambda tag=tag: sensor_excursions(self.store.dataarray(tag.path), tag))
            self._shade(chart, tag, ev)
            for row in ev.itertuples():
                events.append((tag.short_name, pd.Timestamp(row.start), pd.Timestamp(row.end)))
                mins = pd.Timedelta(row.duration).total_seconds() / 60
                rows.append(f'<tr data-role="excursion"><td>{html.escape(tag.short_name)}</td>'
                            f'<td>{pd.Timestamp(row.start):%H:%M:%S}</td><td class="num">{mins:.1f} min</td>'
                            f'<td class="num">{fmt(float(row.peak), 3)} °C ({row.basis.replace("_", " ")})</td>'
                            f'<td>{"ONGOING" if row.ongoing else "ended"}</td></tr>')
        self.table.object = (
            '<table class="lw-table"><thead><tr><th>sensor</th><th>start</th><th>duration</th><th>peak</th>'
            f'<th>state</th></tr></thead><tbody>{"".join(rows)}</tbody></table>' if rows else
            '<p class="lw-sub" data-role="no-excursions">No excursion above the limit in the buffered window.</p>')
        self._events = events

    def _trace(self, events: list, as_of: pd.Timestamp) -> list[dict]:
        """Runs in the shared analysis thread: the exposure of every excursion."""
        source = self.store.genealogy
        found = [(name, exposed(source, start, end, as_of, sensor_id(name))) for name, start, end in events]
        return [dict(tag=name, start=e.start, end=e.end, as_of=e.as_of, cells=e.cells, rolls=e.rolls, lots=e.lots,
                     moisture=float(e.moisture.m)) for name, e in found]

    def _exposure(self) -> None:
        found = genealogy_as_of(self.store, self.exposure, "exposed lots and cells cannot be traced")
        if found is None:
            return
        source, as_of = found
        events = list(self._events)
        job = shared_background(f"exposure:{self.station.name}", EXPOSURE_EVERY_S,
                                lambda: self._trace(events, as_of))
        set_html(self.source_note, f'<div class="lw-sub" data-role="genealogy-source">Genealogy: '
                                   f'{html.escape(source.description)}</div>')
        if job.error:
            set_html(self.exposure, f'<div class="lw-banner lw-alarm" data-role="exposure-error">Tracing failed: '
                                    f'{html.escape(job.error)}</div>')
        elif job.value is not None:
            set_html(self.exposure, exposure_rows(job.value))

    def update(self) -> None:
        for c in self.charts:
            c.update()
        if time.monotonic() - self._last >= EXCURSIONS_EVERY_S:
            self._last = time.monotonic()
            self._excursions()
            self._exposure()

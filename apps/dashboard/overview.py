"""Overview: a tile per station, the newest alarms and the newest change points."""

from __future__ import annotations

import panel as pn

from workbench.live import LiveStore

from .common import Tile
from .common import html_pane
from .tables import alarm_rows, changepoint_rows


class OverviewPage:
    title = "Overview"

    def __init__(self, store: LiveStore):
        self.store = store
        self.tiles = [Tile(store, s) for s in store.line.stations]
        self.alarms = html_pane("")
        self.changepoints = html_pane("")
        self._seen = (-1, -1)
        self.view = pn.Column(
            pn.GridBox(*[t.pane for t in self.tiles], ncols=min(4, max(1, len(self.tiles))),
                       sizing_mode="stretch_width"),
            # one above the other: the alarm table is wider than half a screen and overflowed a side-by-side row
            "## Newest alarms", self.alarms,
            "## Newest change points", self.changepoints,
            sizing_mode="stretch_width")
        self.update()

    def update(self) -> None:
        for tile in self.tiles:
            tile.update()
        seen = (self.store.alarms.version, len(self.store.changepoints) and id(self.store.changepoints[-1]))
        if seen != self._seen:
            self._seen = seen
            self.alarms.object = alarm_rows(self.store, self.store.alarms.active(), limit=8)
            self.changepoints.object = changepoint_rows(self.store, list(self.store.changepoints), limit=8)

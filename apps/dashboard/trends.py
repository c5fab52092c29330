"""Live trends: one card per station of the line (tile + trend of its key tags)."""

from __future__ import annotations

import panel as pn

from data_adapters.live import LiveStore

from .common import Tile, TrendChart, trend_tags


class TrendsPage:
    """One card per station: its tile (state, key value, freshness, alarms) and a live trend."""

    title = "Live trends"

    def __init__(self, store: LiveStore):
        self.store = store
        self.tiles, self.charts = [], []
        cards = []
        for station in store.line.stations:
            tile = Tile(store, station)
            tags = trend_tags(station)
            chart = TrendChart(store, tags, f"{station.title or station.name}", height=300,
                               markers=station.kind == "welding")
            self.tiles.append(tile)
            self.charts.append(chart)
            cards.append(pn.Column(tile.pane, chart.pane, sizing_mode="stretch_width",
                                   css_classes=["lw-card"], name=station.name))
        self.view = pn.GridBox(*cards, ncols=2, sizing_mode="stretch_width")

    def update(self) -> None:
        for tile in self.tiles:
            tile.update()
        for chart in self.charts:
            chart.update()

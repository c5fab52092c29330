"""Live trends: one card per station of the line (tile + trend of its key tags)."""

from __future__ import annotations

import panel as pn

from workbench.live import LiveStore

from .common import Tile, TrendChart, trend_tags

TITLES = {"coating": "Areal mass, edge, quarter and centre lanes", "dryroom": "Dew/frost point per sensor",
          "welding": "Resistance of each weld", "formation": "Cell voltage, first channels"}


def trend_title(station, tags) -> str:
    return TITLES.get(station.kind) or ", ".join(t.short_name for t in tags[:4])


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
            chart = TrendChart(store, tags, trend_title(station, tags), height=300,
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

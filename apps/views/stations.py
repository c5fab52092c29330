"""The station views: one ``param.Parameterized`` per station kind, displayable anywhere Panel is.

A view over a history Dataset builds a :class:`~workbench.live.LiveStore` of the line, seeds it with
the Dataset's samples (as the dashboard server seeds its buffers from the store at start) and draws the
station's page from it once; a view over the dashboard's live store draws and then refreshes
(:meth:`StationView.update`). Either way the panels, analyses and limits are the same code.
"""

from __future__ import annotations

import importlib

import panel as pn
import param
import xarray as xr

from workbench.live import LiveStore
from workbench.config import LineConfig, default_config_path, load_line_config


class StationView(pn.viewable.Viewer):
    """A station's panels over a Dataset from history (``data``) or the live store (``live``).

    A :class:`panel.viewable.Viewer` (a ``param.Parameterized`` with ``__panel__``): a notebook shows it
    inline as the last expression of a cell, ``pn.Column(view, ...)`` composes it, ``.servable()`` serves it.
    """

    data = param.ClassSelector(class_=xr.Dataset, default=None, allow_None=True,
                               doc="the station's history: one variable per tag, attrs['path'] (open_station)")
    live = param.ClassSelector(class_=LiveStore, default=None, allow_None=True,
                               doc="the dashboard's live store (instead of data)")
    store = param.String(default=None, allow_None=True,
                         doc="history store: windows longer than the data, approved control limits")
    station = param.String(default=None, allow_None=True, doc="station name (default: the line's first of this kind)")
    window_hours = param.Number(default=8.0, bounds=(0.01, None), doc="hours of history shown")
    config = param.Parameter(default=None, doc="line config (LineConfig or YAML path; default: the virtual line)")

    kind = ""  # station kind of the line config
    page = ("", "")  # (module of apps.dashboard, class)

    def __init__(self, **params):
        super().__init__(**params)
        if self.data is None and self.live is None:
            raise ValueError(f"{type(self).__name__}: give data= (a history Dataset, e.g. "
                             "workbench.history.open_station(store, station)) or live= (the dashboard's LiveStore)")
        self._page = None

    def line(self) -> LineConfig:
        if self.live is not None:
            return self.live.line
        cfg = self.config
        return cfg if isinstance(cfg, LineConfig) else load_line_config(cfg or default_config_path())

    def live_store(self) -> LiveStore:
        """The store the page reads: the live one, or one seeded from ``data`` (sized to hold all of it)."""
        if self.live is not None:
            return self.live
        from apps.dashboard.history import seed_from_dataset

        n = max(int(self.data.sizes.get("time", 0)), 2)
        store = LiveStore(self.line(), capacity=n, spc=False)
        seed_from_dataset(store, self.data)
        return store

    @property
    def panels(self):
        """The page object behind the view (built on first use)."""
        if self._page is None:
            module, cls = self.page
            page_class = getattr(importlib.import_module(f"apps.dashboard.{module}"), cls)
            live = self.live_store()
            station = next((s for s in live.line.stations if s.name == self.station), None) if self.station else None
            self._page = page_class(live, station)
            if self.store is not None or self.live is None:
                for obj in [self._page, *_charts(self._page)]:
                    if hasattr(obj, "history"):
                        obj.history = self.store
            self.set_window(self.window_hours * 3600.0)
        return self._page

    def set_window(self, seconds: float) -> None:
        from apps.dashboard.common import charts_of

        page = self.panels
        if hasattr(page, "set_window"):
            page.set_window(seconds)
        else:
            for chart in charts_of(page):
                chart.set_window(seconds)

    @property
    def view(self):
        return self.panels.view

    def update(self) -> None:
        """Redraw from the store (the dashboard calls this on each refresh)."""
        self.panels.update()

    def __panel__(self):
        page = self.panels
        if self.live is None:  # a history view is drawn once, with everything it can compute now
            page.update()
        return page.view


def _charts(page):
    from apps.dashboard.common import charts_of

    return charts_of(page)


class CoatingView(StationView):
    """Coating: lane x time heatmap, lane trends against spec with change points, Cpk per lane, CD profile."""

    kind, page = "coating", ("coating", "CoatingPage")


class DryRoomView(StationView):
    """Dry room: dew/frost point per sensor with excursions, and what was in the room during each."""

    kind, page = "dryroom", ("dryroom", "DryRoomPage")


class WeldingView(StationView):
    """Tab welding: I-MR chart against the approved limit set, distribution vs spec, weld vs DCIR."""

    kind, page = "welding", ("welding", "WeldingPage")


class FormationView(StationView):
    """Formation: channel voltages, channel health, dQ/dV of a selected channel."""

    kind, page = "formation", ("formation", "FormationPage")


VIEWS = {v.kind: v for v in (CoatingView, DryRoomView, WeldingView, FormationView)}


def view_for_kind(kind: str) -> type[StationView]:
    """The view class of a station kind (coating, dryroom, welding, formation)."""
    try:
        return VIEWS[kind]
    except KeyError:
        raise ValueError(f"no station view for kind {kind!r}; kinds with a view: {sorted(VIEWS)}") from None


__all__ = ["StationView", "CoatingView", "DryRoomView", "WeldingView", "FormationView", "view_for_kind", "VIEWS"]

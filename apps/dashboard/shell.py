"""The dashboard shell: template, navigation between pages, kiosk cycling, dark theme, live refresh.

URL options: ``?page=overview|trends|coating|dryroom|welding|formation|alarms``, ``?theme=dark``,
``?kiosk=20`` (cycle the pages every 20 s). The template and every style are served by the app itself.
"""

from __future__ import annotations

import logging
import os
import time
import importlib

import panel as pn

from data_adapters.live import Acquisition, shared_acquisition

from .alarms import AlarmsPage
from .common import CSS, set_html
from .overview import OverviewPage
from .trends import TrendsPage

log = logging.getLogger(__name__)

REFRESH_MS = int(os.environ.get("WORKBENCH_REFRESH_MS", "200"))  # check for new data this often
FULL_REFRESH_S = 1.0  # redraw at least this often even without new data (freshness, stale marking)


STATION_PAGES = {  # station kind -> (page key, title, module, class)
    "coating": ("coating", "Coating", "coating", "CoatingPage"),
    "dryroom": ("dryroom", "Dry room", "dryroom", "DryRoomPage"),
    "welding": ("welding", "Tab welding", "welding", "WeldingPage"),
    "formation": ("formation", "Formation", "formation", "FormationPage"),
}


def station_pages(kinds: set[str]) -> dict[str, tuple[str, type]]:
    """Pages for the station kinds present in the line config, in line order of kinds above."""
    pages: dict[str, tuple[str, type]] = {}
    for kind, (key, title, module, cls) in STATION_PAGES.items():
        if kind not in kinds:
            continue
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ImportError as exc:  # the page's model module has not landed: leave it out, say so in the log
            log.warning("dashboard: %s page unavailable: %s", title, exc)
            continue
        pages[key] = (title, getattr(mod, cls))
    return pages


def page_registry(acq: Acquisition) -> dict[str, tuple[str, type]]:
    kinds = {s.kind for s in acq.line.stations}
    pages = {"overview": ("Overview", OverviewPage), "trends": ("Live trends", TrendsPage)}
    pages.update(station_pages(kinds))
    pages["alarms"] = ("Alarms", AlarmsPage)
    return pages


def _arg(name: str, default: str) -> str:
    vals = pn.state.session_args.get(name) if pn.state.session_args else None
    return vals[0].decode() if vals else default


class Dashboard:
    """One browser session: builds pages lazily, refreshes the visible one from the shared store."""

    def __init__(self, acq: Acquisition | None = None):
        self.acq = acq or shared_acquisition()
        self.store = self.acq.store
        self.pages = page_registry(self.acq)
        first = _arg("page", "overview")
        first = first if first in self.pages else "overview"
        self._built: dict[str, object] = {}
        self._fresh = False
        self._seen_version, self._last_full = -1, 0.0
        self.nav = pn.widgets.RadioButtonGroup(
            options={title: key for key, (title, _) in self.pages.items()}, value=first,
            orientation="vertical", button_type="primary", button_style="outline", sizing_mode="stretch_width",
            stylesheets=[":host { font-size: 20px; } .bk-btn { font-size: 20px; padding: 10px; }"])
        self.container = pn.Column(sizing_mode="stretch_width", min_height=400)
        self.clock = pn.pane.HTML("", stylesheets=[CSS])
        self.nav.param.watch(lambda e: self.show(e.new), "value")
        kiosk = _arg("kiosk", "")
        self.kiosk_s = float(kiosk) if kiosk.replace(".", "", 1).isdigit() and float(kiosk) > 0 else None
        self._last_switch = time.monotonic()
        theme = _arg("theme", "default")
        self.template = pn.template.BootstrapTemplate(
            title=f"Line Workbench · {self.acq.line.name}", theme="dark" if theme == "dark" else "default",
            sidebar=[self.nav, self.clock], main=[self.container], sidebar_width=260, header_background="#1f4e79",
            collapsed_sidebar=self.kiosk_s is not None)
        self.show(first)
        self._doc = pn.state.curdoc
        self.callback = pn.state.add_periodic_callback(self.tick, period=REFRESH_MS)

    def page(self, key: str):
        if key not in self._built:
            self._built[key] = self.pages[key][1](self.store)
        return self._built[key]

    def show(self, key: str) -> None:
        """Swap the page in. Its data arrive with the next refresh, in a message of their own: streaming
        into models in the same message that adds them can reach the browser before the models do."""
        self.container.loading = True
        try:
            page = self.page(key)
            self.container.objects = [pn.pane.HTML(f"<h1 data-page='{key}' style='margin:4px 0'>{self.pages[key][0]}</h1>",
                                                   stylesheets=[CSS]), page.view]
        finally:
            self.container.loading = False
        if pn.state.location is not None:
            pn.state.location.update_query(page=key)
        self.current = key
        self._fresh = True

    def tick(self) -> None:
        try:
            if self._fresh:  # the page was just swapped in: let that message go first
                self._fresh = False
                return
            if self.kiosk_s and time.monotonic() - self._last_switch >= self.kiosk_s:
                keys = list(self.pages)
                self._last_switch = time.monotonic()
                nxt = keys[(keys.index(self.current) + 1) % len(keys)]
                # swap pages in a callback of its own, as a click would: changes made inside the periodic
                # callback are batched, and the browser may get data for models it has not been sent yet
                self._doc.add_next_tick_callback(lambda: setattr(self.nav, "value", nxt))
                return
            version = self.store.version
            if version == self._seen_version and time.monotonic() - self._last_full < FULL_REFRESH_S:
                return  # nothing new: the cheap path, so a short period costs little
            self._seen_version, self._last_full = version, time.monotonic()
            # no pn.io.hold() here: held events can be flushed after a page swap and then name models
            # the browser has already dropped ("reference ... isn't known")
            self.page(self.current).update()
            set_html(self.clock, f'<div class="lw-sub">{len(self.store.alarms.unacknowledged())} '
                                 f'unacknowledged alarm(s)</div>')
        except Exception:  # a failing refresh must not kill the session's callback
            log.exception("dashboard refresh failed")


def serve_dashboard():
    pn.extension(reconnect=True, notifications=True, loading_indicator=True, design="bootstrap",
                 disconnect_notification="Connection to the dashboard server lost: values shown are NOT live. "
                                         "Reconnecting…",
                 raw_css=[CSS])
    return Dashboard().template

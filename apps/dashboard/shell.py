"""The dashboard shell: template, navigation between pages, kiosk cycling, dark theme, live refresh.

URL options: ``?page=overview|trends|coating|dryroom|welding|formation|alarms``, ``?theme=dark``,
``?kiosk=20`` (cycle the pages every 20 s), ``?window=8`` (hours of history shown: 1, 8, 24 or 168; the
time-range picker in the sidebar). The template and every style are served by the app itself.
"""

from __future__ import annotations

import asyncio
import importlib
from contextlib import nullcontext
import logging
import os
import time

import panel as pn
from panel.io.state import set_curdoc

from data_adapters.acquisition import Acquisition, shared_acquisition

from .alarms import AlarmsPage
from .common import CSS, Heartbeat, charts_of, set_html
from .history import DEFAULT_WINDOW, WINDOWS_H
from .page_html import kiosk_seconds, template_look
from .overview import OverviewPage
from .trends import TrendsPage

log = logging.getLogger(__name__)

WATCH_S = 0.02  # the process-wide watcher looks at the store's version this often (one int compare)
# redraw a session at most this often: once a second, as SCADA screens do (at 4 a second, without flow
# control, the live-trends page kept half a core busy in Chromium, 0.18 now; a kiosk PC has little to spare).
# WORKBENCH_REFRESH_MS=250 for a faster screen; flow control (common.Heartbeat) keeps a slow browser from
# falling behind either way
PUSH_MIN_S = int(os.environ.get("WORKBENCH_REFRESH_MS", "1000")) / 1000.0
FULL_REFRESH_S = 1.0  # redraw at least this often even without new data (freshness, stale marking, kiosk)
SPARE_AFTER_S = 3.0  # a spare page is built this long after one was taken, if its session is not ready sooner
SWAP_SETTLE_MS = 300  # a page swap waits this long after the last refresh of the old page
ACK_WAIT_S = 5.0  # a refresh the browser has not answered (Heartbeat.drawn) holds the next one this long at most
# (under Heartbeat.stall_s: a held page still gets its heartbeat and is not taken for lost)


STATION_PAGES = {  # station kind -> (page key, title); each is the station's view (apps.views)
    "coating": ("coating", "Coating"),
    "dryroom": ("dryroom", "Dry room"),
    "welding": ("welding", "Tab welding"),
    "formation": ("formation", "Formation"),
}


def station_pages(kinds: set[str]) -> dict[str, tuple[str, object]]:
    """The station views (the notebook's too) for the kinds present in the line config, in the order above:
    page key -> (title, factory taking the live store)."""
    from apps.views import view_for_kind

    pages: dict[str, tuple[str, object]] = {}
    for kind, (key, title) in STATION_PAGES.items():
        if kind not in kinds:
            continue
        view = view_for_kind(kind)
        try:
            importlib.import_module(f"{__package__}.{view.page[0]}")
        except ImportError as exc:  # the page's model module has not landed: leave it out, say so in the log
            log.warning("dashboard: %s page unavailable: %s", title, exc)
            continue
        pages[key] = (title, lambda store, view=view: view(live=store))
    return pages


def page_registry(acq: Acquisition) -> dict[str, tuple[str, type]]:
    kinds = {s.kind for s in acq.line.stations}
    pages = {"overview": ("Overview", OverviewPage), "trends": ("Live trends", TrendsPage)}
    pages.update(station_pages(kinds))
    pages["alarms"] = ("Alarms", AlarmsPage)
    return pages


class Pusher:
    """Pushes new data to the sessions of one store as it arrives: one watcher task per server process.

    Sessions do not poll: the watcher sees the store's version change (on the server's event loop) and
    schedules each session's refresh with ``doc.add_next_tick_callback``, the thread-safe way into a
    session. A burst of readings is drawn once (after one quiet look, at the latest ``PUSH_MIN_S`` after
    it began) and no session is redrawn more often than every ``PUSH_MIN_S``.
    """

    _by_store: dict[int, "Pusher"] = {}

    def __init__(self, store):
        self.store = store
        self.sessions: dict[int, "Dashboard"] = {}
        self.task: asyncio.Task | None = None
        self.pushes = 0

    @classmethod
    def of(cls, store) -> "Pusher":
        """The one pusher of ``store`` (the process-wide acquisition's)."""
        pusher = cls._by_store.get(id(store))
        if pusher is None or pusher.store is not store:
            pusher = cls._by_store[id(store)] = cls(store)
        return pusher

    def add(self, dash: "Dashboard") -> None:
        self.sessions[id(dash)] = dash
        if self.task is None or self.task.done():
            self.task = asyncio.get_event_loop().create_task(self._run(), name="dashboard-pusher")

    def remove(self, dash: "Dashboard") -> None:
        self.sessions.pop(id(dash), None)

    async def _run(self) -> None:
        pushed = seen = self.store.version
        changed_at = last_push = 0.0
        while self.sessions:
            await asyncio.sleep(WATCH_S)
            now, version = time.monotonic(), self.store.version
            if version != seen:  # still arriving
                if seen == pushed:
                    changed_at = now
                seen = version
                if now - changed_at < PUSH_MIN_S:
                    continue
            if seen == pushed or now - last_push < PUSH_MIN_S:
                continue
            pushed, last_push = seen, now
            self.pushes += 1
            for dash in list(self.sessions.values()):
                dash.push()


class Spares:
    """A page of each kind built ahead for the next session, in a worker thread between sessions.

    Building a page's Bokeh and Panel models is most of what a new session costs the server (a few hundred
    ms of pure Python); a session that opens a page takes the spare (models not yet in any document, no
    data drawn) and a new spare is built off the event loop for the one after: as soon as the session that
    took it has its document in the browser (:meth:`Dashboard._on_ready`: the server is idle while the
    browser draws), else SPARE_AFTER_S later. Built on a timer alone, screens opened a few seconds apart (a
    shift's displays, kiosk reloads) found no spare every other time: 190-510 ms to the page's HTML instead
    of 130 ms (coating page, measured in the demo). Spares are process-wide (one per page key and store)
    and hold no session state: the window and data come with the session.
    """

    _ready: dict[tuple[str, int], object] = {}
    _building: set[tuple[str, int]] = set()

    @classmethod
    def take(cls, key: str, factory, store):
        spare = cls._ready.pop((key, id(store)), None)
        page = spare if spare is not None else factory(store)
        cls.build_later(key, factory, store, SPARE_AFTER_S)  # if the session never gets ready (build_soon)
        return page

    @classmethod
    def build_soon(cls, key: str, factory, store) -> None:
        """The session that took ``key``'s spare has its document in the browser: build the next one now."""
        cls.build_later(key, factory, store, 0.0)

    @classmethod
    def build_later(cls, key: str, factory, store, delay_s: float) -> None:
        """Build a spare ``key`` page in a worker thread ``delay_s`` from now, unless one is there or being
        built by then."""
        slot = (key, id(store))

        def build():
            try:
                page = factory(store)
                getattr(page, "view", None)  # a station view builds its panels on first use
                cls._ready[slot] = page
            except Exception:  # the next session builds its own
                log.exception("dashboard: building a spare %s page failed", key)
            finally:
                cls._building.discard(slot)

        def start():
            if slot in cls._building or slot in cls._ready:
                return
            cls._building.add(slot)
            loop.run_in_executor(None, build)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a test building a session by hand): no spare
            return
        loop.call_later(delay_s, start)


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
        self._last_full = 0.0
        self._last_beat = 0.0
        self.nav = pn.widgets.RadioButtonGroup(
            options={title: key for key, (title, _) in self.pages.items()}, value=first,
            orientation="vertical", button_type="primary", button_style="outline", sizing_mode="stretch_width",
            stylesheets=[":host { font-size: 20px; } .bk-btn { font-size: 20px; padding: 10px; }"])
        self.container = pn.Column(sizing_mode="stretch_width", min_height=400)
        self.clock = pn.pane.HTML("", stylesheets=[CSS])
        self.heartbeat = Heartbeat(height=0, width=0, margin=0)
        self._sent_at = 0.0  # when the last refresh went out (flow control: see refresh)
        self._held = False  # a refresh waits for the browser's answer to the previous one
        self.heartbeat.param.watch(self._on_drawn, "drawn")
        # how much history every trend, SPC chart and table of the session shows (?window=HOURS too)
        window = next((k for k, h in WINDOWS_H.items() if _arg("window", DEFAULT_WINDOW) in (k, f"{h:g}")),
                      DEFAULT_WINDOW)
        self.window_s = WINDOWS_H[window] * 3600.0
        self.range = pn.widgets.RadioButtonGroup(
            name="Time range", options=list(WINDOWS_H), value=window,
            button_type="default", sizing_mode="stretch_width", css_classes=["lw-range"],
            stylesheets=[":host { font-size: 16px; }"])
        self.range.param.watch(lambda e: self.set_window(WINDOWS_H[e.new] * 3600.0), "value")
        self._swapping = False
        self.nav.param.watch(lambda e: self.request_show(e.new), "value")
        # the two arguments that change the page's HTML (sessions of one look share it: page_html.session_key)
        theme, kiosk = template_look(pn.state.session_args or {})
        self.kiosk_s = kiosk_seconds(pn.state.session_args or {})
        self._last_switch = time.monotonic()
        self.template = pn.template.BootstrapTemplate(
            title=f"Line Workbench · {self.acq.line.name}", theme="dark" if theme == "dark" else "default",
            sidebar=[self.nav, pn.pane.HTML('<div class="lw-sub">Time range</div>', stylesheets=[CSS]),
                     self.range, self.clock, self.heartbeat], main=[self.container], sidebar_width=260, header_background="#1f4e79",
            collapsed_sidebar=kiosk)
        self._doc = None
        self.show(first)
        # the first page is drawn with its data before the browser pulls the document: the first paint
        # comes with the one document sync, not with a refresh message after it
        self._draw_first()
        self._doc = pn.state.curdoc
        self._pending = False
        self._ready = False
        self.callback = None
        self.pusher = Pusher.of(self.store)
        pn.state.on_session_destroyed(lambda ctx: self.pusher.remove(self))
        # nothing is changed in the document until Panel knows the browser has it (see _on_ready)
        pn.state.onload(self._on_ready)

    def _on_ready(self) -> None:
        """The browser has rendered the document (Panel's onload, on its ``document_ready``): start the
        kiosk, the live refresh and any page clicked meanwhile.

        Until then Panel drops the model changes of a held batch (ours and those inside its own layout
        updates), taking them to travel with the whole document on connect; but the browser pulled the
        document when its websocket opened, seconds earlier on a loaded machine. A page swapped in then
        never reached the browser and the next change to one of its models failed there ("reference ...
        isn't known"); streamed samples and heartbeats were lost the same way."""
        self._ready = True
        self._last_switch = time.monotonic()  # the first page shows for a whole kiosk period
        if self.nav.value != self.current:
            self.show(self.nav.value)
        # data are pushed (Pusher); this slow tick only redraws freshness/staleness and cycles kiosk pages.
        # Bokeh's own periodic callback: Panel's marks the session busy on every run, which spins the
        # template's busy indicator (a CSS animation, a browser repaint per frame) once a second
        if self._doc is not None:
            self.callback = self._doc.add_periodic_callback(self.tick, int(FULL_REFRESH_S * 1000))
            self.pusher.add(self)
        for key in self._built:  # the next session's pages, while this browser draws
            Spares.build_soon(key, self.pages[key][1], self.store)

    def page(self, key: str):
        if key not in self._built:
            self._built[key] = page = Spares.take(key, self.pages[key][1], self.store)
            self._apply_window(page)
        return self._built[key]

    def _apply_window(self, page) -> None:
        if hasattr(page, "set_window"):
            page.set_window(self.window_s)
        else:
            for chart in charts_of(page):
                chart.set_window(self.window_s)

    def set_window(self, seconds: float) -> None:
        """The time-range picker: every page of the session shows the last ``seconds`` from its next refresh."""
        self.window_s = seconds
        for page in self._built.values():
            self._apply_window(page)
        self.push()

    def request_show(self, key: str) -> None:
        """A click or the kiosk asks for a page: stop refreshing the old page, swap once its last updates
        are out. Panel may queue a refresh's message to be written on a later loop turn; a swap written
        before it would drop models that message still names ("reference ... isn't known" in the browser).
        Before the session is ready (a click during the first paint) the page is shown by :meth:`_on_ready`."""
        if not self._ready:
            return
        self._swapping = True
        self.container.loading = True  # the spinner shows while the page is built (tens of ms to seconds)
        self._doc.add_timeout_callback(lambda: self._swap(key), SWAP_SETTLE_MS)

    def _swap(self, key: str) -> None:
        self._swapping = False
        if self.nav.value == key:  # a later click wins
            self.show(key)

    def show(self, key: str) -> None:
        """Swap the page in, in one message. Its data arrive with the next refresh, in a message of their
        own: streaming into models in the same message that adds them can reach the browser before the
        models do."""
        page = self.page(key)
        heading = pn.pane.HTML(f"<h1 data-page='{key}' style='margin:4px 0'>{self.pages[key][0]}</h1>", stylesheets=[CSS])
        # one message: the new page's models travel with the children change, so nothing sent about them
        # (a tile's first values) can overtake their definitions ("reference ... isn't known")
        with pn.io.hold(self._doc) if self._doc is not None else nullcontext():
            self.container.objects = [heading, page.view]
            self.container.loading = False
            if pn.state.location is not None:
                pn.state.location.update_query(page=key)
        self.current = key
        self._fresh = self._doc is not None  # the session's first page is drawn by _draw_first instead

    def _draw_first(self) -> None:
        """Draw the first page's data into the document being built (no browser has it yet, so nothing
        can overtake the models' definitions)."""
        try:
            self.page(self.current).update()
            self._last_full = time.monotonic()
        except Exception:  # the periodic refresh tries again
            log.exception("dashboard: first draw of %s failed", self.current)

    def push(self) -> None:
        """New data in the store: refresh in this session's own next tick (called by the Pusher)."""
        if self._pending or not self._ready:  # before the browser is ready a refresh would be lost (_on_ready)
            return
        self._pending = True
        try:
            self._doc.add_next_tick_callback(self.refresh)
        except Exception:  # the session is going away
            self._pending = False
            self.pusher.remove(self)

    def _connected(self) -> bool:
        """Whether a browser holds this session now. A closed tab's session lives on until the server's
        unused-session check removes it (seconds); refreshing it meanwhile is work for nobody, taken from
        the sessions being opened. True when the server does not say (a document outside a server)."""
        session = getattr(getattr(self._doc, "session_context", None), "_session", None)
        return session is None or session.connection_count > 0

    def _on_drawn(self, event) -> None:
        """The browser painted a refresh: a refresh held back for it goes out now."""
        if self._held and event.new >= self.heartbeat.seq:
            self._held = False
            self.push()

    def _browser_behind(self) -> bool:
        """Whether the browser has not yet painted the last refresh sent (and it went out less than
        ACK_WAIT_S ago: a lost answer must not freeze the page)."""
        return (self.heartbeat.drawn < self.heartbeat.seq
                and time.monotonic() - self._sent_at < ACK_WAIT_S)

    def tick(self) -> None:
        """Every FULL_REFRESH_S: the kiosk's next page, else a redraw if nothing was pushed meanwhile."""
        try:
            if self.kiosk_s and time.monotonic() - self._last_switch >= self.kiosk_s:
                keys = list(self.pages)
                self._last_switch = time.monotonic()
                nxt = keys[(keys.index(self.current) + 1) % len(keys)]
                # swap pages in a callback of its own, as a click would, never inside a held refresh:
                # the browser must get the new page's models before data streamed into them
                self._doc.add_next_tick_callback(lambda: setattr(self.nav, "value", nxt))
                return
            if time.monotonic() - self._last_full >= FULL_REFRESH_S * 0.9:
                self.refresh()
        except Exception:  # a failing refresh must not kill the session's callback
            log.exception("dashboard refresh failed")

    def refresh(self) -> None:
        """Redraw the visible page from the store, all changes in ONE websocket message (one repaint)."""
        self._pending = False
        try:
            if not self._connected():  # the browser left (or has not connected yet): draw nothing for nobody
                return
            if self._swapping:  # a page swap is waiting for the old page's last message: draw after it
                return
            if self._fresh:  # the page was just swapped in: let that message go first, draw just after
                self._fresh = False
                self._doc.add_timeout_callback(self.refresh, 150)
                return
            if self._browser_behind():  # flow control (Heartbeat): the answer to the last one sends the next
                self._held = True
                return
            self._last_full = self._sent_at = time.monotonic()
            # one held batch per refresh (a message per changed model would cost a browser repaint each);
            # safe because page swaps never happen inside it (see tick and show)
            with set_curdoc(self._doc), pn.io.hold(self._doc):
                self.page(self.current).update()
                self.heartbeat.seq += 1
                if time.monotonic() - self._last_beat >= FULL_REFRESH_S:  # in the same message as the data
                    self._last_beat = time.monotonic()
                    self.heartbeat.beat += 1
                set_html(self.clock, f'<div class="lw-sub">{len(self.store.alarms.unacknowledged())} '
                                     f'unacknowledged alarm(s)</div>')
        except Exception:  # a failing refresh must not kill the session
            log.exception("dashboard refresh failed")


def serve_dashboard():
    """The session's template, ready to be served (see :func:`serve_into`)."""
    # after a lost connection the page reloads once the server answers again (Heartbeat): a restarted server
    # does not know the old session, so reconnecting that document is not attempted
    pn.extension(reconnect=False, notifications=True, loading_indicator=True, design="bootstrap",
                 disconnect_notification="Connection to the dashboard server lost: values shown are NOT live. "
                                         "The page reloads when the server answers again…",
                 raw_css=[CSS])
    return Dashboard().template


def serve_into(doc) -> None:
    """Build a session's dashboard into ``doc`` with ONE model-graph walk: Bokeh re-walks every model of a
    document on each root added (the template adds a dozen), a third of a session's start-up on the server."""
    with doc.models.freeze():
        serve_dashboard().servable(title="Line Workbench")

"""The live dashboard in a real browser: `workbench demo` on 127.0.0.1 (the session's ``demo`` fixture, with
the events of browser_support.EVENTS), Debian's Chromium via Playwright.

Every page renders without console errors or failed requests, no request leaves 127.0.0.1 (air-gapped
plant networks: no CDN, no web fonts), values change, an injected dew-point excursion raises the
frost-point alarm, which an operator acknowledges by name. Screenshots of each page go to
artifacts/screenshots/ and docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import time

import pytest
from browser_support import Watch, go, shot, text_of, wait_until

pytestmark = pytest.mark.browser

TITLES = {"overview": "Overview", "trends": "Live trends", "coating": "Coating", "dryroom": "Dry room",
          "welding": "Tab welding", "formation": "Formation", "alarms": "Alarms"}
FROST = "frost_point_s1"  # the injected dew-point excursion (browser_support.EVENTS) raises its alarm


@pytest.fixture(scope="module")
def page(browser):
    """One browser tab for the whole module: pages are reached through the navigation, like an operator."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    watch = Watch(pg)
    yield pg, watch
    ctx.close()


def test_every_page_renders_locally_without_errors(demo, page):
    pg, watch = page
    pg.goto(f"{demo.url}/")
    pg.wait_for_selector(".lw-tile[data-station=coating]")
    nav = [b.strip() for b in pg.locator(".bk-btn-group button").all_inner_texts()]
    assert nav == list(TITLES.values()) + ["1 h", "8 h", "24 h", "7 days"]  # the pages, then the time range
    for key, title in TITLES.items():
        go(pg, title, key)
        if key not in ("overview", "alarms"):  # plots drawn (bounded wait for their canvases) before the screenshot
            assert wait_until(lambda: pg.locator("canvas").count() > 0, 15), f"{key}: no plot drawn"
        assert wait_until(lambda: pg.locator(".pn-loading").count() == 0, 15), f"{key}: still loading"
        shot(pg, key)
    assert watch.external() == [], f"requests left 127.0.0.1: {watch.external()}"
    assert watch.failed == [], watch.failed
    assert watch.errors == [], watch.errors


def test_values_change_and_are_marked_live(demo, page):
    pg, watch = page
    go(pg, "Live trends", "trends")
    for station in ("coating", "dryroom", "welding", "formation"):
        sel = f"[data-role=value][data-station={station}]"
        pg.wait_for_selector(sel)
        assert wait_until(lambda: text_of(pg, sel) not in ("", "—"), 20), f"{station}: no value shown"
        first = text_of(pg, sel)
        assert wait_until(lambda: text_of(pg, sel) != first, 20), f"{station}: value {first} never changed"
        assert wait_until(lambda: text_of(pg, f".lw-tile[data-station={station}] [data-role=state]") == "LIVE", 10)
    assert watch.errors == [] and watch.failed == [] and watch.external() == []


def test_injected_excursion_raises_an_alarm_that_an_operator_acknowledges(demo, page):
    pg, watch = page
    go(pg, "Alarms", "alarms")
    row = f"tr[data-kind=high]:has-text('{FROST}')"
    assert wait_until(lambda: pg.locator(row).count() > 0, 60), "frost-point alarm never appeared"
    alarm_id = pg.locator(row).first.get_attribute("data-alarm-id")
    # active, or already returned to normal: either way it waits for an operator's acknowledgement
    assert pg.locator(row).first.get_attribute("data-state") in ("active", "cleared")
    # acknowledging needs a name: without one the page says so and nothing changes
    choice = pg.locator(".lw-alarm-choice select")

    def pick() -> bool:  # the list follows the alarms live: choose ours, check it stuck (bounded retries)
        opt = choice.locator(f"option:text-matches('^#{alarm_id} ')")
        if opt.count() == 0:
            return False
        label = opt.first.inner_text()
        choice.select_option(label=label)
        return choice.evaluate("e => e.options[e.selectedIndex] && e.options[e.selectedIndex].text") == label

    assert wait_until(pick, 15), f"alarm #{alarm_id} not selectable"
    pg.get_by_role("button", name="Acknowledge", exact=True).click()
    pg.wait_for_selector("[data-role=action-error]")
    pg.locator(".lw-user input").fill("Maria K.")
    pg.get_by_role("button", name="Acknowledge", exact=True).click()
    pg.wait_for_selector("[data-role=action-ok]")
    sel = f"tr[data-alarm-id='{alarm_id}']"
    # active -> acknowledged (stays listed); cleared -> acknowledged closes it (leaves the open list)
    assert wait_until(lambda: pg.locator(sel).count() == 0
                      or pg.locator(sel).first.get_attribute("data-state") == "acknowledged", 10)
    assert "Maria K." in text_of(pg, "[data-role=alarm-history]")
    shot(pg, "alarms_acknowledged")
    assert watch.errors == [] and watch.failed == [] and watch.external() == []


def test_kiosk_mode_cycles_pages_in_the_dark_theme(demo, browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    watch = Watch(pg)
    try:
        pg.goto(f"{demo.url}/?kiosk=3&theme=dark")
        pg.wait_for_selector("[data-page=overview]")
        shot(pg, "overview_dark")
        moved = lambda: pg.locator("[data-page]").count() > 0 and pg.locator(
            "[data-page]").first.get_attribute("data-page") != "overview"
        assert wait_until(moved, 30), "kiosk did not move on from the overview"
        assert wait_until(lambda: "page=" in pg.url, 10)  # the URL follows the page shown
        assert watch.errors == [] and watch.failed == [] and watch.external() == []
    finally:
        ctx.close()



def test_live_page_gets_one_batched_message_per_refresh(demo, browser):
    """New data are pushed as one PATCH-DOC per refresh (tile text and chart samples together), at most
    a few per second, whatever the sim's rate: a message per changed model cost the browser a repaint each."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    frames: list[tuple[float, str]] = []
    answers: list[str] = []  # the browser's flow-control answers (common.Heartbeat.drawn)

    def on_ws(ws):
        ws.on("framereceived", lambda f: frames.append((time.monotonic(), f)) if isinstance(f, str) else None)
        ws.on("framesent", lambda f: answers.append(f) if isinstance(f, str) and '"drawn"' in f else None)

    pg.on("websocket", on_ws)
    try:
        pg.goto(f"{demo.url}/?page=trends")
        pg.wait_for_selector("[data-role=value][data-station=coating]")
        pg.wait_for_timeout(2000)  # past the first full draw
        t0 = time.monotonic()
        pg.wait_for_timeout(4000)
        window = [f for t, f in frames if t >= t0]
        patches = [f for f in window if '"msgtype": "PATCH-DOC"' in f]
        contents = [f for f in window if f.startswith('{"events"')]
        assert patches, "no update reached the page"
        assert len(patches) <= 4 * 6, f"{len(patches)} PATCH-DOC messages in 4 s: refreshes are not batched"
        both = [c for c in contents if "ColumnsStreamed" in c and '"attr":"reading"' in c]
        assert both, "tile values and chart samples never arrived in the same message"
        assert answers, "the browser never answered a refresh (Heartbeat.drawn): the server holds its updates"
    finally:
        ctx.close()


def test_pusher_draws_a_burst_once_and_caps_the_redraw_rate(monkeypatch):
    """The process-wide watcher behind the live pages (no browser): a burst of readings is pushed to every
    session once, soon after it ends; a steady stream is pushed at most every PUSH_MIN_S; it stops when
    the last session leaves."""
    import asyncio

    import numpy as np

    from apps.dashboard import shell

    class Store:
        version = 0

    class Session:
        def __init__(self):
            self.times: list[float] = []

        def push(self):
            self.times.append(time.monotonic())

    monkeypatch.setattr(shell, "PUSH_MIN_S", 0.25)  # WORKBENCH_REFRESH_MS=250: four pushes fit in 1 s

    async def scenario():
        store, a, b = Store(), Session(), Session()
        pusher = shell.Pusher(store)
        pusher.add(a)
        pusher.add(b)
        t0 = time.monotonic()
        for _ in range(5):  # one subscription notification after another
            store.version += 1
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.15)
        assert len(a.times) == len(b.times) == 1, (a.times, b.times)
        assert a.times[0] - t0 < 0.5
        t1 = time.monotonic()
        while time.monotonic() - t1 < 1.0:  # a change every 10 ms for 1 s
            store.version += 1
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        steady = a.times[1:]
        assert 2 <= len(steady) <= 1.0 / shell.PUSH_MIN_S + 1, steady
        assert float(np.diff(a.times).min()) >= 0.9 * shell.PUSH_MIN_S
        pusher.remove(a)
        pusher.remove(b)
        await asyncio.sleep(5 * shell.WATCH_S)
        assert pusher.task.done()

    run_scenario(scenario)


def run_scenario(scenario) -> None:
    """Run the coroutine function ``scenario`` on an event loop in a thread of its own (Playwright's sync
    API, the module's browser, keeps an event loop in this one), bounded to 20 s; its failure is raised here."""
    import asyncio
    import threading

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(scenario(), 20))
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the scenario did not end in 30 s"
    if failure:
        raise failure[0]


def test_a_session_changes_nothing_until_the_browser_has_its_document():
    """Until Panel's onload (the browser's document_ready) Panel drops held model changes, taking them to
    travel with the whole document, which the browser pulled already: a page swapped in then never reached
    it ("reference ... isn't known" at the next change). The kiosk tick, the pushed refresh and a click
    wait for onload; a click made meanwhile is shown then. No browser: a document with a session context."""
    from bokeh.document import Document
    from panel.io.document import MockSessionContext
    from panel.io.state import set_curdoc

    from apps.dashboard import shell
    from data_adapters.acquisition import Acquisition
    from workbench.config import default_config_path, load_line_config

    acq = Acquisition(load_line_config(default_config_path()), adapters=[], capacity=50)

    async def scenario() -> None:
        doc = Document()
        context = MockSessionContext(document=doc)
        doc._session_context = lambda: context  # a served session's document, not yet ready in a browser
        with set_curdoc(doc):
            dash = shell.Dashboard(acq)
            assert dash.callback is None, "the kiosk/refresh tick runs before the browser has the document"
            assert id(dash) not in dash.pusher.sessions, "data are pushed before the browser has the document"
            dash.push()
            assert not dash._pending
            dash.nav.value = "trends"  # a click during the first paint
            assert dash.current == "overview" and not dash._swapping
            dash._on_ready()  # what pn.state.onload calls on document_ready
            assert dash.current == "trends" and dash.callback is not None
            assert id(dash) in dash.pusher.sessions
            dash.pusher.remove(dash)

    run_scenario(scenario)


def test_the_next_sessions_page_is_built_as_soon_as_this_one_is_in_the_browser(monkeypatch):
    """Spares: the page a session took is built again for the next session once this session's browser
    has its document (``_on_ready``), not on a timer that screens opened a few seconds apart outran (every
    other one then built its page inline: 190-510 ms to the HTML instead of 130 ms). The timer is pushed
    out of reach here, so only the ready signal can build the spare; the next session takes that object."""
    import asyncio

    from bokeh.document import Document
    from panel.io.document import MockSessionContext
    from panel.io.state import set_curdoc

    from apps.dashboard import shell
    from data_adapters.acquisition import Acquisition
    from workbench.config import default_config_path, load_line_config

    acq = Acquisition(load_line_config(default_config_path()), adapters=[], capacity=50)
    monkeypatch.setattr(shell, "SPARE_AFTER_S", 3600.0)
    slot = ("overview", id(acq.store))
    delays: list[float] = []  # every spare build the sessions ask for, by its delay
    build_later = shell.Spares.build_later.__func__
    monkeypatch.setattr(shell.Spares, "build_later", classmethod(
        lambda cls, key, factory, store, delay_s: (delays.append(delay_s), build_later(cls, key, factory, store, delay_s))))

    def session() -> shell.Dashboard:
        doc = Document()
        context = MockSessionContext(document=doc)
        doc._session_context = lambda: context
        with set_curdoc(doc):
            return shell.Dashboard(acq)

    async def scenario() -> None:
        shell.Spares._ready.pop(slot, None)
        loop = asyncio.get_running_loop()
        builds: asyncio.Queue = asyncio.Queue()  # the spares' worker-thread builds, as they start
        run_in_executor = loop.run_in_executor

        def watched(executor, fn, *args):
            future = run_in_executor(executor, fn, *args)
            if fn.__qualname__.startswith("Spares."):
                builds.put_nowait(future)
            return future

        loop.run_in_executor = watched
        first = session()  # no spare yet: its page is built inline
        assert delays == [3600.0], "a spare was asked for before the session was ready"
        first._on_ready()
        assert delays == [3600.0, 0.0]
        first.pusher.remove(first)
        build = await asyncio.wait_for(builds.get(), 15)  # the ready signal started a build ...
        await asyncio.wait_for(build, 15)  # ... and it finished
        spare = shell.Spares._ready.get(slot)
        assert spare is not None, "the spare build finished without a page"
        second = session()
        assert second.page("overview") is spare and slot not in shell.Spares._ready

    run_scenario(scenario)


def test_a_browser_that_has_not_painted_the_last_refresh_gets_no_next_one():
    """Flow control (common.Heartbeat): a refresh goes out only after the browser answered that it painted
    the previous one, so a slow or loaded browser never queues a backlog of old messages (a CI run's browser
    stayed deaf to a click for 30 s behind one). A lost answer holds the page at most ACK_WAIT_S, and the
    answer does not mark the session busy. No browser: the answer is fed in as Panel receives it."""
    from bokeh.document import Document
    from panel.io.document import MockSessionContext
    from panel.io.state import set_curdoc
    from panel.io.state import state as pn_state

    from apps.dashboard import shell
    from data_adapters.acquisition import Acquisition
    from workbench.config import default_config_path, load_line_config

    acq = Acquisition(load_line_config(default_config_path()), adapters=[], capacity=50)

    async def scenario() -> None:
        doc = Document()
        context = MockSessionContext(document=doc)
        doc._session_context = lambda: context
        with set_curdoc(doc):
            dash = shell.Dashboard(acq)
            dash._on_ready()
            dash.pusher.remove(dash)
            dash._fresh = False
            dash.refresh()
            assert dash.heartbeat.seq == 1 and not dash._held
            dash.refresh()  # not painted yet: held, nothing sent
            assert dash.heartbeat.seq == 1 and dash._held
            busy: list[bool] = []
            watcher = pn_state.param.watch(lambda e: busy.append(e.new), "busy")
            dash.heartbeat._process_events({"drawn": 1})  # the browser's answer, as Panel receives it
            pn_state.param.unwatch(watcher)
            assert not dash._held and dash._pending  # it sends the held refresh (next tick)
            assert True not in busy, "the answer marked the session busy: the template's spinner per refresh"
            dash.refresh()
            assert dash.heartbeat.seq == 2
            dash._sent_at -= shell.ACK_WAIT_S  # no answer for ACK_WAIT_S: the next refresh goes out anyway
            dash.refresh()
            assert dash.heartbeat.seq == 3

    run_scenario(scenario)

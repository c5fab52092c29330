"""The station pages' analyses in a real browser, against `workbench demo` on 127.0.0.1 (Debian's Chromium).

One demo server for the module, with injected events whose answers are known: a dew-point excursion (the
cells, rolls and lots in the dry room during it must match the virtual line's genealogy), a die-lip streak
on lane 7 (an offline change point on that lane), a weak formation channel on rack 3 channel 2 (the only
channel flagged), laser-window contamination a day earlier (the welds of cells that have since finished
formation are cold: weld resistance and DCIR correlate, DCIR rising ~1 µΩ per µΩ of weld). The last test
kills the dashboard server and starts it again on the same port: the open page reconnects by itself and
shows new values without a reload. Every wait is bounded; the checks are on values, not on timings.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from test_dashboard_browser import (CHROMIUM, REPO, Watch, browser, free_port, go, shot, text_of,
                                   wait_until)  # noqa: F401 (browser: the module-scoped Chromium fixture)

browser_test = pytest.mark.browser
APPS = REPO / "apps"

SPEED = 30
STREAK_LANE, WEAK_RACK, WEAK_CHANNEL = 7, 3, 2
# offsets like "8min" count from the dashboard's start; "-30h" from the virtual line's day start (3 h earlier)
EVENTS = f"""\
- {{kind: dewpoint_excursion, start: 2min, end: 12min, magnitude: 12}}
- {{kind: die_lip_streak, start: 8min, end: 3h, magnitude: -3.0, lane: {STREAK_LANE}}}
- {{kind: weak_formation_channel, start: -10D, end: 10D, magnitude: -3.0, rack: {WEAK_RACK}, channel: {WEAK_CHANNEL}}}
- {{kind: laser_window_contamination, start: -30h, end: -20h, magnitude: -25.0}}
"""


class DemoServer:
    """`workbench demo` in its own process group (it starts `panel serve` as a child), on a fixed port."""

    def __init__(self, tmp: Path):
        self.port, self.tmp = free_port(), tmp
        self.events = tmp / "events.yaml"
        self.events.write_text(EVENTS)
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        self.starts += 1
        self.log_path = self.tmp / f"demo{self.starts}.log"
        self.log = open(self.log_path, "w+")
        env = dict(os.environ, PYTHONUNBUFFERED="1", BOKEH_LOG_LEVEL="warn")
        self.proc = subprocess.Popen([sys.executable, "-m", "apps", "demo", "--port", str(self.port),
                                      "--speed", str(SPEED), "--events", str(self.events)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                     start_new_session=True)
        if not wait_until(lambda: "open http://localhost" in self.output() or self.proc.poll() is not None, timeout) \
                or self.proc.poll() is not None:
            out = self.output()
            self.kill()
            pytest.fail(f"workbench demo did not start:\n{out[-3000:]}", pytrace=False)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the demo and its panel server (a crash: nothing gets to close its sockets cleanly)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(15)
            self.log.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc is not None:
            self.log.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Debian's Chromium is required at {CHROMIUM} (apt-get install chromium)", pytrace=False)
    server = DemoServer(tmp_path_factory.mktemp("pages"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(browser, demo):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1400})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    watch = Watch(pg)
    pg.goto(f"{demo.url}/")
    pg.wait_for_selector(".lw-tile[data-station=coating]")
    yield pg, watch
    ctx.close()


def attrs(pg, selector: str) -> list[dict]:
    """The data-* attributes of every element matching ``selector``, read in one go (one consistent DOM)."""
    return pg.eval_on_selector_all(selector, "els => els.map(e => Object.assign({}, e.dataset))")


def clean(watch: Watch) -> None:
    assert watch.errors == [], watch.errors
    assert watch.failed == [], watch.failed
    assert watch.external() == [], watch.external()


def settle_and_shoot(pg, key: str) -> None:
    assert wait_until(lambda: pg.locator(".pn-loading").count() == 0, 15), f"{key}: still loading"
    shot(pg, key)


def the_virtual_line(demo: DemoServer, description: str):
    """The demo's virtual line, rebuilt here from what the page says (seed, day start) and the events file."""
    from data_adapters.acquisition import load_events
    from workbench.simulate import virtual_line

    m = re.search(r"seed (\d+), day began (\S+ \S+) UTC", description)
    assert m, f"genealogy source not described: {description!r}"
    epoch = pd.Timestamp(m.group(2))
    events = load_events(demo.events, (epoch + pd.Timedelta(hours=3)).to_pydatetime())  # the live start
    return virtual_line(seed=int(m.group(1)), start=epoch, events=events)


@browser_test
def test_dry_room_lists_the_cells_rolls_and_lots_exposed_during_the_excursion(demo, page):
    from workbench.simulate import genealogy
    from workbench.trace import cells_from

    pg, watch = page
    go(pg, "Dry room", "dryroom")
    row = "tr[data-role=exposed][data-sensor=frost_point_s2]"  # the genealogy puts the stacking cell near s2
    enough = 10  # cells are welded every 40 s: wait until the line has welded some of those exposed
    assert wait_until(lambda: any(int(a["cells"]) >= enough for a in attrs(pg, row)), 90), \
        f"no exposed cells listed: {attrs(pg, row)} {text_of(pg, '[data-role=exposure-table]')}"
    shown = next(a for a in attrs(pg, row) if int(a["cells"]) >= enough)
    vl = the_virtual_line(demo, text_of(pg, "[data-role=genealogy-source]"))
    start, end, as_of = (pd.Timestamp(shown[k]) for k in ("start", "end", "asof"))
    # the excursion the page found is the injected one (truth table, as the sensor sees it)
    truth = vl.truth(vl.seconds(start) - 3600, vl.seconds(end) + 3600)
    dew = truth[truth.kind == "dewpoint_excursion"].iloc[0]
    assert start < dew.observed_end and end > dew.observed_start
    # the same question asked of the virtual line's genealogy, independently of the page
    g = genealogy.build(vl, vl.seconds(start) - 4 * 3600, vl.seconds(as_of))
    expected = cells_from(g, excursion=(start, end))
    expected = expected[expected.sensor == "s2"]
    assert int(shown["cells"]) == len(expected) >= enough
    assert shown["lots"].split(",") == sorted(expected.lot_id.unique())
    assert shown["rolls"].split(",") == sorted(expected.roll_id.unique())
    settle_and_shoot(pg, "dryroom")
    clean(watch)


@browser_test
def test_welding_joins_weld_resistance_with_formation_dcir(page):
    pg, watch = page
    go(pg, "Tab welding", "welding")
    assert wait_until(lambda: attrs(pg, "[data-role=weld-dcir]"), 60), text_of(pg, "[data-role=weld-dcir-error]")
    j = attrs(pg, "[data-role=weld-dcir]")[0]
    assert int(j["n"]) > 200  # the cells that finished formation in the last 8 h of the line
    # the contaminated laser window left cold welds: they show up as high DCIR (welds add in series, 1:1)
    assert float(j["pearson"]) > 0.5
    assert 0.8 < float(j["slope"]) < 1.25
    # the I-MR chart waits for its Phase I baseline of welds (a few wall seconds at this speed)
    assert wait_until(lambda: "Collecting" not in text_of(pg, "[data-role=welding-summary]"), 60)
    settle_and_shoot(pg, "welding")
    clean(watch)


@browser_test
def test_formation_heatmap_flags_the_weak_channel_and_no_other(page):
    pg, watch = page
    go(pg, "Formation", "formation")
    assert wait_until(lambda: attrs(pg, "[data-role=weak-channel]") or attrs(pg, "[data-role=no-weak-channel]"), 60), \
        text_of(pg, "[data-role=health-error]")
    flagged = [(int(a["rack"]), int(a["channel"])) for a in attrs(pg, "[data-role=weak-channel]")]
    assert flagged == [(WEAK_RACK, WEAK_CHANNEL)]
    settle_and_shoot(pg, "formation")
    clean(watch)


@browser_test
def test_coating_marks_offline_change_points_on_the_streak_lane(page):
    pg, watch = page
    go(pg, "Coating", "coating")

    def streak_found():
        return [a for a in attrs(pg, "tr[data-role=offline-cp]") if int(a["lane"]) == STREAK_LANE
                and float(a["shift"]) < -0.2]  # -3 % of 17.2 mg/cm²: about -0.5

    assert wait_until(streak_found, 90), f"no offline change point on lane {STREAK_LANE}: " \
                                         f"{attrs(pg, 'tr[data-role=offline-cp]')}"
    # the streak is the biggest shift found (other lanes only wander: the heavy edges, lot to lot)
    found = attrs(pg, "tr[data-role=offline-cp]")
    biggest = min(found, key=lambda a: float(a["shift"]))
    assert int(biggest["lane"]) == STREAK_LANE, found
    assert int(attrs(pg, "[data-role=offline-summary]")[0]["scans"]) > 40
    settle_and_shoot(pg, "coating")
    clean(watch)


@browser_test
def test_page_reconnects_after_the_dashboard_server_is_killed_and_restarted(demo, browser):
    """Runs last: it restarts the module's server. The check is a new value after reconnecting in the same
    page (a marker set in the page survives, so it was not reloaded), within bounded waits."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    watch = Watch(pg)
    value = "[data-role=value][data-station=welding]"
    try:
        pg.goto(f"{demo.url}/?page=trends")  # a fresh page: its session token is new (tokens expire)
        pg.wait_for_selector(value)
        assert wait_until(lambda: text_of(pg, value) not in ("", "—"), 30)
        pg.evaluate("window.__lw_marker = 'same page'")
        demo.kill()
        assert wait_until(lambda: pg.locator(".notyf__disconnect").count() > 0, 10), "no disconnect notice"
        frozen = text_of(pg, value)
        errors_before = len(watch.errors)
        demo.start()  # same port; restart at once: the browser retries at 0, 2, 6, 14 and 30 s
        assert wait_until(lambda: text_of(pg, value) not in ("", "—", frozen), 60), \
            f"no new value after the restart (still {frozen!r}): {watch.errors[-3:]}"
        assert pg.evaluate("window.__lw_marker") == "same page"  # reconnected, not reloaded
        after = text_of(pg, value)
        assert wait_until(lambda: text_of(pg, value) != after, 30), "values stopped after reconnecting"
        # while the server was down the browser's connection attempts fail (expected); none after
        late = [e for e in watch.errors[errors_before:] if "WebSocket" not in e and "websocket" not in e
                and "Lost websocket" not in e]
        assert late == [], late
        assert [f for f in watch.failed if not f.startswith("ws://")] == []  # nothing but the outage's retries
        assert watch.external() == []  # the reconnected session's stylesheets come from this server too
    finally:
        ctx.close()


# --- without a browser: the genealogy sources, the "not configured" state, the docstring examples ----------
def test_pages_without_a_genealogy_source_say_so_instead_of_failing():
    from apps.dashboard.dryroom import DryRoomPage
    from apps.dashboard.formation import FormationPage
    from apps.dashboard.welding import WeldingPage
    from data_adapters.base import Reading
    from data_adapters.acquisition import genealogy_source
    from workbench.live import LiveStore
    from workbench.config import default_config_path, load_line_config

    store = LiveStore(load_line_config(default_config_path()), capacity=50)
    store.genealogy = genealogy_source([], environ={})  # an OPC UA line without WORKBENCH_GENEALOGY
    assert store.genealogy is None
    t = pd.Timestamp("2026-01-05 06:00", tz="UTC").to_pydatetime()
    store.ingest(Reading("plant1/dryroom/room1/hygrometer/frost_point_s1", -38.0, "degC", t), now=t)
    dry, weld, form = DryRoomPage(store), WeldingPage(store), FormationPage(store)
    dry._exposure()
    weld._dcir()
    form._health()
    for pane in (dry.exposure, weld.dcir_note, form.health_note):
        assert 'data-role="no-genealogy"' in pane.object and "No genealogy source configured" in pane.object


def test_docstring_examples_of_the_page_analyses():
    """The analyses behind the pages live in the library (and their examples run); the pages only draw."""
    import doctest
    import importlib

    for name in ("apps.dashboard.tables", "apps.dashboard.common", "apps.dashboard.background",
                 "data_adapters.acquisition", "workbench.live.store", "workbench.live.alarms", "workbench.genealogy",
                 "workbench.spc.monitors", "workbench.exposure", "workbench.display", "workbench.models.channel_health",
                 "workbench.models.coating_shifts", "workbench.models.weld"):
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, name

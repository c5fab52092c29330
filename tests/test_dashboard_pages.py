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

import re

import pandas as pd
import pytest
from browser_support import (
    REPO,
    STREAK_LANE,
    WEAK_CHANNEL,
    WEAK_RACK,
    DemoServer,
    Watch,
    go,
    shot,
    text_of,
    wait_until,
)

browser_test = pytest.mark.browser
APPS = REPO / "apps"

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
    events = load_events(demo.events)  # absolute times, and offsets from the day start
    return virtual_line(seed=int(m.group(1)), start=epoch, events=events)


WELD_TAG = "plant1/assembly/weld1/welder/weld_resistance"


def history_shown(pg) -> dict:
    """Hours and samples of history the coating and welding pages say they show, and the limit set in force."""
    out = {}
    for key, title, role in (("coating", "Coating", "coating-summary"), ("welding", "Tab welding", "welding-summary")):
        pg.get_by_role("button", name=title, exact=True).click(timeout=120_000)  # a first build on a busy machine
        pg.wait_for_selector(f"[data-page={key}]", timeout=120_000)
        assert wait_until(lambda: attrs(pg, f"[data-role={role}][data-hours]"), 60), text_of(pg, f"[data-role={role}]")
        out[key] = float(attrs(pg, f"[data-role={role}]")[0]["hours"])
        out[f"{key}_text"] = text_of(pg, f"[data-role={role}]")
    assert wait_until(lambda: attrs(pg, "[data-role=limit-set]"), 30), text_of(pg, "[data-role=no-limit-set]")
    out["limit_set"] = attrs(pg, "[data-role=limit-set]")[0]
    return out


@browser_test
def test_a_fresh_demo_opens_on_hours_of_history_with_the_stored_limit_set(demo, page):
    """The first screen already shows a shift: >= 4 h on the coating and welding pages, and the weld
    resistance's control limits are the approved limit set the store holds (read here independently)."""
    from workbench.spc import limitsets

    pg, watch = page
    shown = history_shown(pg)
    assert shown["coating"] >= 4.0 and shown["welding"] >= 4.0, shown
    stored = limitsets.in_force(demo.store, WELD_TAG)
    assert stored is not None, "the demo approved no limit set"
    ls = shown["limit_set"]
    assert (ls["id"], ls["approvedBy"], ls["windowStart"]) == (stored.id, stored.approved_by, stored.window_start)
    assert float(ls["ucl"]) == pytest.approx(stored.ucl, rel=1e-5)
    assert "collecting" not in shown["welding_text"].lower() and "collecting" not in shown["coating_text"].lower()
    assert "lowest Cpk: lane" in shown["coating_text"], shown["coating_text"]  # Cpk from the first screen
    clean(watch)


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
    # the I-MR chart draws the window's welds against the approved limit set at once (no baseline to collect)
    assert attrs(pg, "[data-role=limit-set]") and int(attrs(pg, "[data-role=welding-summary]")[0]["welds"]) > 500
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
def test_page_reloads_after_a_restart_with_the_same_history_and_limits(demo, browser):
    """Runs last: it kills the module's server and starts it again on the same port and store. The open page
    reloads by itself once the server answers (a marker set in the page is gone) and shows new values, the
    same limit set and at least as much history as before. Bounded waits; checks on values, not timings."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    watch = Watch(pg)
    value = "[data-role=value][data-station=welding]"
    try:
        pg.goto(f"{demo.url}/?page=trends")  # a fresh page: its session token is new (tokens expire)
        pg.wait_for_selector(value)
        assert wait_until(lambda: text_of(pg, value) not in ("", "—"), 30)
        before = history_shown(pg)
        go(pg, "Live trends", "trends")
        pg.evaluate("window.__lw_marker = 'old page'")
        demo.kill()
        assert wait_until(lambda: pg.locator(".notyf__disconnect").count() > 0, 15), "no disconnect notice"
        frozen = text_of(pg, value)
        demo.start()  # same port, same store
        def reloaded():
            try:  # while the page reloads its JavaScript context goes away for a moment
                return pg.evaluate("window.__lw_marker === undefined") and pg.locator(value).count() > 0
            except Exception:
                return False

        assert wait_until(reloaded, 90), "the page did not reload after the restart"
        assert wait_until(lambda: text_of(pg, value) not in ("", "—", frozen), 60), \
            f"no new value after the restart (still {frozen!r}): {watch.errors[-3:]}"
        after = history_shown(pg)
        assert after["limit_set"]["id"] == before["limit_set"]["id"], (before["limit_set"], after["limit_set"])
        assert after["coating"] >= min(before["coating"], 7.5) and after["welding"] >= min(before["welding"], 7.5), \
            (before, after)
        # while the server was down the page's requests fail (expected); none after the reload
        assert [f for f in watch.failed if not f.startswith("ws://") and "/liveness" not in f  # the outage's polls
                and "ERR_CONNECTION_REFUSED" not in f and "ERR_EMPTY_RESPONSE" not in f] == []
        assert watch.external() == []
    finally:
        ctx.close()


# --- without a browser: the genealogy sources, the "not configured" state, the docstring examples ----------
def test_pages_without_a_genealogy_source_say_so_instead_of_failing():
    from apps.dashboard.dryroom import DryRoomPage
    from apps.dashboard.formation import FormationPage
    from apps.dashboard.welding import WeldingPage
    from data_adapters.acquisition import genealogy_source
    from data_adapters.base import Reading
    from workbench.config import default_config_path, load_line_config
    from workbench.live import LiveStore

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

    for name in ("apps.dashboard.history", "apps.dashboard.coating", "apps.dashboard.common", "apps.dashboard.background",
                 "data_adapters.acquisition", "workbench.live.store", "workbench.live.alarms", "workbench.genealogy",
                 "workbench.spc.monitors", "workbench.exposure", "workbench.display", "workbench.models.channel_health",
                 "workbench.models.coating_shifts", "workbench.models.weld"):
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, name

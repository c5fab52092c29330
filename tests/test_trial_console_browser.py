"""The trial console in a real browser (Debian's Chromium via Playwright, never `playwright install`).

On the virtual line: nothing is fetched from outside 127.0.0.1; viewing needs a login; the plan's live
values show before arming; every example plan dry-runs into a profile chart as soon as it is chosen; a
write over max_step is marked on the chart and the plan cannot be armed; a full pump step at speed shows
the response trends with the change marked and ends with a gain estimate whose CI holds the virtual
line's true gain; a user without the write role cannot arm. Against the OPC UA server: arm, start,
abort, and the baseline is back on the server. Screenshots go to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from browser_support import CHROMIUM, Watch, free_port, shot, wait_until

from data_adapters.trials.runner import TrialController
from workbench.config import default_config_path

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
PLANS = REPO / "examples" / "trials"
LASER_SP = "plant1/assembly/weld1/welder/laser_power_setpoint"
LASER = "plant1/assembly/weld1/welder/laser_power"
PUMP_SP = "plant1/electrode/coat1/coater/pump_rate_setpoint"
AREAL = "plant1/electrode/coat1/gauge/areal_mass_lane12"
USERS = {"ann": "correct-horse-trial", "vic": "viewer-only-pass"}


def until(cond, timeout: float, what: str):
    assert wait_until(cond, timeout, 0.1), f"timed out after {timeout} s waiting for {what}"


def serve(tmp: Path, env_extra: dict):
    """``panel serve apps/trial_console.py`` with basic auth on a free loopback port, started in ``tmp``
    (not the checkout); yields its URL and folder."""
    (tmp / "users.json").write_text(json.dumps(USERS))
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", BOKEH_LOG_LEVEL="warn", TRIAL_CONSOLE_DIR=str(tmp / "var"),
               TRIAL_CONSOLE_WRITERS="ann", **env_extra)
    env["BOKEH_RESOURCES"] = "inline"  # set by the environment: the script itself must keep the page off the CDN
    log = open(tmp / "console.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(REPO / "apps" / "trial_console.py"),
                             "--address", "127.0.0.1", "--port", str(port),
                             "--allow-websocket-origin", f"127.0.0.1:{port}",
                             "--basic-auth", str(tmp / "users.json"), "--cookie-secret", "trial-console-test-secret",
                             "--basic-login-template", str(REPO / "apps" / "assets" / "trial_login.html")],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)

    def listening():
        import socket

        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return proc.poll() is not None

    wait_until(listening, 120)
    if proc.poll() is not None:
        log.seek(0)
        pytest.fail(f"panel serve exited:\n{log.read()[-3000:]}", pytrace=False)
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}/trial_console", dir=tmp)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl+C, as an operator stops it; killed if it hangs
        if not wait_until(lambda: proc.poll() is not None, 15):
            proc.kill()
        proc.wait(5)
        log.close()


@pytest.fixture(scope="module")
def sim_console(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Debian's Chromium is required at {CHROMIUM} (apt-get install chromium)", pytrace=False)
    yield from serve(tmp_path_factory.mktemp("sim-console"), {"TRIAL_CONSOLE_PLANS": str(PLANS),
                                                              "TRIAL_CONSOLE_SPEED": "60"})


@pytest.fixture
def tab(browser):
    ctx = browser.new_context(viewport={"width": 1600, "height": 1200})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    watch = Watch(pg)
    yield pg, watch
    ctx.close()
    assert watch.external() == [], f"requests left 127.0.0.1: {watch.external()}"
    assert watch.failed == [], watch.failed


def login(pg, url: str, user: str) -> None:
    pg.goto(url)
    pg.fill("input[name=username]", user)
    pg.fill("input[name=password]", USERS[user])
    pg.click("button[type=submit]", no_wait_after=True)
    # the first session of a server imports the trial stack (tens of seconds on a loaded machine)
    pg.get_by_text("Logged in as").first.wait_for(timeout=240_000)


def attr(pg, selector: str, name: str):
    loc = pg.locator(selector)
    return loc.first.get_attribute(name) if loc.count() else None


def choose(pg, plan: str) -> None:
    pg.locator("select").first.select_option(plan)


def test_viewing_needs_a_login_and_nothing_leaves_loopback(sim_console, tab):
    pg, watch = tab
    pg.goto(sim_console.url)
    assert pg.locator("input[name=password]").count() == 1  # the login page, not the console
    login(pg, sim_console.url, "ann")
    pg.locator("[data-role=dry-run]").first.wait_for()
    assert watch.errors == [], watch.errors


def test_live_values_show_before_arming(sim_console, tab):
    pg, _ = tab
    login(pg, sim_console.url, "ann")
    choose(pg, "pump_step.yaml")
    for path in (PUMP_SP, AREAL):
        row = f"tr[data-tag='{path}']"
        until(lambda row=row: attr(pg, row, "data-quality") == "good", 60, f"a good live value of {path}")
        value = pg.locator(f"{row} [data-role=live-value]").first.inner_text()
        assert value not in ("", "—") and float(value) > 0
    assert attr(pg, "[data-role=trial-state]", "data-state") == "idle"


def test_every_example_plan_draws_its_profile(sim_console, tab):
    pg, watch = tab
    login(pg, sim_console.url, "ann")
    for f in sorted(PLANS.glob("*.yaml")):
        sp = next(iter(yaml.safe_load(f.read_text())["baseline"]["expected"]))
        choose(pg, f.name)
        until(lambda sp=sp: attr(pg, "[data-role=profile]", "data-setpoint") == sp, 30, f"{f.name}: the profile of {sp}")
        assert attr(pg, "[data-role=dry-run]", "data-ok") == "true"
        assert attr(pg, "[data-role=profile]", "data-refused") == "0"
        until(lambda: pg.locator(".trial-profile canvas").count() > 0, 30, f"{f.name}: the chart drawn")
        if f.name == "laser_doe.yaml":
            shot(pg.locator(".trial-profile").first, "trial_dry_run")
    assert watch.errors == [], watch.errors


def test_a_write_over_max_step_is_marked_and_the_plan_cannot_be_armed(sim_console, tab):
    pg, _ = tab
    login(pg, sim_console.url, "ann")
    plan = {"name": "pump ramp too coarse", "baseline": {"hold_s": 60, "expected": {PUMP_SP: 2911}},
            "responses": [AREAL], "sequence": [{"ramp": {"delta": {PUMP_SP: 300}, "rate": {PUMP_SP: 10}},
                                                "write_every_s": 20, "name": "coarse ramp", "dwell_s": 120}]}
    pg.locator("textarea").first.fill(yaml.safe_dump(plan, sort_keys=False))  # typed: no Load, no button
    until(lambda: attr(pg, "[data-role=dry-run]", "data-ok") == "false", 30, "the refused dry run")
    until(lambda: int(attr(pg, "[data-role=profile]", "data-refused") or 0) >= 1, 30, "the refused write on the chart")
    assert "max_step" in pg.locator("[data-role=profile]").first.inner_text()
    until(lambda: pg.locator("tr[data-refused=true]").count() >= 1, 30, "the refused write in the table")  # its own message
    pg.get_by_placeholder("why these writes").fill("should not arm")
    arm = pg.get_by_role("button", name="Arm", exact=True)
    assert arm.is_disabled()
    shot(pg.locator(".trial-profile").first, "trial_dry_run_refused")


def test_full_pump_step_shows_trend_markers_and_a_gain_whose_ci_holds_the_true_gain(sim_console, tab):
    from workbench.simulate import virtual_line

    pg, watch = tab
    login(pg, sim_console.url, "ann")
    choose(pg, "pump_step.yaml")
    until(lambda: attr(pg, "[data-role=profile]", "data-setpoint") == PUMP_SP, 30, "the pump step's profile")
    until(lambda: pg.get_by_role("button", name="Arm", exact=True).is_enabled(), 30, "arming enabled")
    pg.get_by_placeholder("why these writes").fill("areal-mass gain of the pump (browser test)")
    pg.get_by_placeholder("why these writes").press("Enter")
    pg.get_by_role("button", name="Arm", exact=True).click()
    until(lambda: attr(pg, "[data-role=trial-state]", "data-state") == "armed", 60, "armed")
    pg.get_by_role("button", name="Start", exact=True).click()
    until(lambda: attr(pg, "[data-role=change-marker][data-segment='pump +90']", "data-kind") == "step", 120,
          "the step marked on the trend")
    until(lambda: pg.locator(".trial-trends canvas").count() >= 2, 30, "a trend per response")
    until(lambda: pg.locator("[data-role=result]").count() > 0, 240, "the result")
    assert attr(pg, "[data-role=trial-state]", "data-state") == "completed"
    row = f"tr[data-role=estimate][data-what=gain][data-response='{AREAL}']"
    lo, hi = float(attr(pg, row, "data-lo")), float(attr(pg, row, "data-hi"))
    coater = virtual_line(seed=0, events=None).coater
    p = coater.p  # mass balance: m_A = w_s * pump / (W * U) / 10, shaped by lane 12's cross-direction profile
    true_gain = p.solids_fraction / (p.coated_width_m * p.line_speed_m_min) / 10 * coater.profile[11]
    assert lo < true_gain < hi, (lo, hi, true_gain)
    with pg.expect_download() as dl:
        pg.get_by_text("Download the report (HTML)").first.click()
    report = Path(dl.value.path()).read_text()
    assert "ann" in report and "areal-mass gain of the pump" in report and "hash chain intact" in report
    with pg.expect_download() as dl:
        pg.get_by_text("Download the result (NetCDF)").first.click()
    assert Path(dl.value.path()).read_bytes()[:3] in (b"CDF", b"\x89HD")
    until(lambda: pg.locator(".trial-trends canvas").count() >= 2, 10, "trends still drawn")
    # the audit panel: both writes of the trial (the step and the restore) beside the presses
    until(lambda: "restore" in pg.locator(".trial-audit").first.inner_text(), 30, "the restore in the audit panel")
    assert pg.locator(".trial-audit").first.inner_text().count("pump_rate_setpoint") == 2
    pg.locator("[data-role=result]").first.scroll_into_view_if_needed()
    shot(pg, "trial_finished")
    assert watch.errors == [], watch.errors


def test_a_user_without_the_write_role_cannot_arm(sim_console, tab):
    pg, _ = tab
    login(pg, sim_console.url, "vic")
    assert pg.get_by_text("view only").count() > 0
    choose(pg, "pump_step.yaml")
    until(lambda: attr(pg, "[data-role=dry-run]", "data-ok") == "true", 30, "the dry run (viewing is allowed)")
    for name in ("Arm", "Start", "Abort"):
        assert pg.get_by_role("button", name=name, exact=True).is_disabled()


@pytest.fixture(scope="module")
def opcua_console(tmp_path_factory, opcua_line):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Debian's Chromium is required at {CHROMIUM} (apt-get install chromium)", pytrace=False)
    tmp = tmp_path_factory.mktemp("console")
    raw = yaml.safe_load(default_config_path().read_text())
    for st in raw["stations"]:
        if st["name"] == "welding":
            st["adapter"] = {"kind": "opcua", "url": opcua_line.url, "security": "Basic256Sha256_SignAndEncrypt",
                             "username": "operator", "password_env": "TRIAL_CONSOLE_OPCUA_PASSWORD",
                             "certificate": str(opcua_line.pki.client_cert),
                             "private_key": str(opcua_line.pki.client_key),
                             "server_certificate": str(opcua_line.pki.server_cert)}
    (tmp / "line.yaml").write_text(yaml.safe_dump(raw))
    plans = tmp / "plans"
    plans.mkdir()
    (plans / "laser_step.yaml").write_text(yaml.safe_dump({
        "name": "laser step", "responses": [LASER], "sequence": [
            {"step": {"delta": {LASER_SP: 100}}, "name": "plus100", "dwell_s": 600}]}))
    yield from serve(tmp, {"TRIAL_CONSOLE_CONFIG": str(tmp / "line.yaml"), "TRIAL_CONSOLE_PLANS": str(plans),
                           "TRIAL_CONSOLE_OPCUA_PASSWORD": opcua_line.users["operator"]})


@pytest.mark.timeout(240)
def test_arm_start_abort_restores_baseline_on_the_opcua_server(opcua_console, opcua_line, line_config, tmp_path, tab):
    from data_adapters.opcua import opcua_adapter

    pg, _ = tab
    probe_adapter = opcua_adapter([line_config.tag(LASER_SP)], opcua_line.settings(secure=False), name="probe")
    probe = TrialController(probe_adapter, line_config, journal=tmp_path / "probe.sqlite")
    probe.connect()
    read_sp = lambda: probe.call(probe_adapter.read([LASER_SP]))[LASER_SP].value
    baseline = read_sp()
    try:
        login(pg, opcua_console.url, "ann")
        # live from the OPC UA server before arming: the plan has no baseline.expected, so the dry run
        # can only start from the live setpoint
        until(lambda: attr(pg, f"tr[data-tag='{LASER_SP}']", "data-quality") == "good", 60, "the live setpoint")
        until(lambda: attr(pg, "[data-role=dry-run]", "data-ok") == "true", 60, "the dry run from the live value")
        pg.get_by_placeholder("why these writes").fill("browser test of the console")
        pg.get_by_placeholder("why these writes").press("Enter")
        pg.get_by_role("button", name="Arm", exact=True).click()
        until(lambda: attr(pg, "[data-role=trial-state]", "data-state") == "armed", 60, "armed")
        pg.get_by_role("button", name="Start", exact=True).click()
        until(lambda: abs(read_sp() - (baseline + 100)) < 1e-6, 60, "the step on the server")
        pg.get_by_role("button", name="Abort", exact=True).click()
        until(lambda: attr(pg, "[data-role=trial-state]", "data-state") == "aborted", 60, "aborted")
        until(lambda: "baseline restored" in pg.locator(".trial-state").first.inner_text(), 30, "baseline restored")
        until(lambda: attr(pg, "[data-role=audit-status]", "data-ok") == "true", 30, "the audit chain checked")
        assert read_sp() == pytest.approx(baseline)  # the baseline is back on the server
        from data_adapters.audit import AuditLog

        entries = AuditLog(opcua_console.dir / "var" / "audit.sqlite").entries()
        writes = [e for e in entries if e["tag"] == LASER_SP]
        assert [e["requested"] for e in writes[-2:]] == [pytest.approx(baseline + 100), pytest.approx(baseline)]
        presses = [(e["tag"].rsplit("/", 1)[-1], e["user"]) for e in entries if e["tag"].startswith("trial-console/")]
        assert presses == [("arm", "ann"), ("start", "ann"), ("abort", "ann")]
        assert all(e["user"] == "ann" for e in writes)
    finally:
        probe.close()

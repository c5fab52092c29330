"""The trial console in a real browser against the OPC UA server: log in, load, dry run, arm, start, abort;
the baseline is back on the server. Debian's Chromium via Playwright (never `playwright install`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from data_adapters.trials.runner import TrialController
from workbench.config import default_config_path, load_line_config

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LASER_SP = "plant1/assembly/weld1/welder/laser_power_setpoint"
LASER = "plant1/assembly/weld1/welder/laser_power"
PASSWORD = "correct-horse-trial"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(cond, timeout, what):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def console(tmp_path_factory, opcua_line):
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
    (tmp / "users.json").write_text(json.dumps({"ann": PASSWORD}))
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", BOKEH_LOG_LEVEL="warn", TRIAL_CONSOLE_CONFIG=str(tmp / "line.yaml"),
               TRIAL_CONSOLE_DIR=str(tmp / "var"), TRIAL_CONSOLE_PLANS=str(plans),
               TRIAL_CONSOLE_OPCUA_PASSWORD=opcua_line.users["operator"])
    log = open(tmp / "console.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(REPO / "apps" / "trial_console.py"),
                             "--address", "127.0.0.1", "--port", str(port),
                             "--allow-websocket-origin", f"127.0.0.1:{port}",
                             "--basic-auth", str(tmp / "users.json"), "--cookie-secret", "trial-console-test-secret"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)

    def listening():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return proc.poll() is not None

    _until(listening, 120, "panel serve")
    if proc.poll() is not None:
        log.seek(0)
        pytest.fail(f"panel serve exited:\n{log.read()[-3000:]}", pytrace=False)
    yield f"http://127.0.0.1:{port}/trial_console", tmp
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    log.close()


@pytest.mark.timeout(240)
def test_login_dry_run_arm_start_abort_restores_baseline_on_the_server(console, opcua_line, line_config, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, tmp = console
    from data_adapters.opcua import opcua_adapter

    probe_adapter = opcua_adapter([line_config.tag(LASER_SP)], opcua_line.settings(secure=False), name="probe")
    probe = TrialController(probe_adapter, line_config, journal=tmp_path / "probe.sqlite")
    probe.connect()
    read_sp = lambda: probe.call(probe_adapter.read([LASER_SP]))[LASER_SP].value  # noqa: E731
    baseline = read_sp()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.fill("input[name=username]", "ann")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.get_by_text("Logged in as").first).to_be_visible(timeout=30_000)
            page.get_by_role("button", name="Load", exact=True).click()
            expect(page.get_by_text("plan 'laser step' loaded").first).to_be_visible(timeout=30_000)
            page.get_by_role("button", name="Dry run", exact=True).click()
            expect(page.get_by_text("dry run OK").first).to_be_visible(timeout=30_000)
            page.get_by_placeholder("why these writes").fill("browser test of the console")
            page.get_by_placeholder("why these writes").press("Enter")
            page.get_by_role("button", name="Arm", exact=True).click()
            expect(page.get_by_text("armed by ann").first).to_be_visible(timeout=30_000)
            page.get_by_role("button", name="Start", exact=True).click()
            expect(page.locator(".trial-state")).to_contain_text("running", timeout=30_000)
            _until(lambda: abs(read_sp() - (baseline + 100)) < 1e-6, 60, "the step on the server")
            page.get_by_role("button", name="Abort", exact=True).click()
            expect(page.locator(".trial-state")).to_contain_text("aborted", timeout=60_000)
            expect(page.locator(".trial-state")).to_contain_text("baseline restored", timeout=30_000)
            expect(page.get_by_text("audit log OK").first).to_be_visible(timeout=30_000)
            browser.close()
        assert read_sp() == pytest.approx(baseline)  # the baseline is back on the server
        from data_adapters.audit import AuditLog

        entries = AuditLog(tmp / "var" / "audit.sqlite").entries()
        assert [e["requested"] for e in entries[-2:]] == [pytest.approx(baseline + 100), pytest.approx(baseline)]
        assert all(e["user"] == "ann" for e in entries[-2:])
    finally:
        probe.close()

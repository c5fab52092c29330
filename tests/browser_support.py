"""What the browser tests share: Debian's Chromium, the `workbench demo` server they drive, and small helpers.

The fixtures (``browser``, ``demo``) live in conftest.py, session-scoped: one Chromium and one demo server
per pytest worker, shared by the dashboard's browser test files (tests/conftest.py keeps those files on one
worker, one after the other). Every wait here is a deadline, not a duration.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "artifacts" / "screenshots"
DOC_SHOTS = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

SPEED = 30
STREAK_LANE, WEAK_RACK, WEAK_CHANNEL = 7, 3, 2
# absolute times (UTC) a few minutes after the test starts: the demo fills its history up to its start and
# then runs live at SPEED, so these happen live, seconds after the page opens; "-24.5h" counts from the
# virtual line's day start (the demo's history begins 8.5 h before it goes live)
EVENTS = """\
- {{kind: dewpoint_excursion, start: "{t[3]}", end: "{t[13]}", magnitude: 12}}
- {{kind: die_lip_streak, start: "{t[9]}", end: "{t[180]}", magnitude: -3.0, lane: %d}}
- {{kind: weak_formation_channel, start: -10D, end: 10D, magnitude: -3.0, rack: %d, channel: %d}}
- {{kind: laser_window_contamination, start: -24.5h, end: -14.5h, magnitude: -25.0}}
""" % (STREAK_LANE, WEAK_RACK, WEAK_CHANNEL)


def events_from_now() -> str:
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    return EVENTS.format(t={m: (now + pd.Timedelta(minutes=m)).isoformat() for m in (3, 9, 13, 180)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout: float, step: float = 0.25):
    """Poll ``cond`` (bounded in time); returns its last value."""
    deadline = time.monotonic() + timeout
    value = cond()
    while not value and time.monotonic() < deadline:
        time.sleep(step)
        value = cond()
    return value


class Watch:
    """Every request, failed request and console error of a page."""

    def __init__(self, page):
        self.requests, self.failed, self.errors = [], [], []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def external(self) -> list[str]:
        out = []
        for url in self.requests:
            u = urlparse(url)
            if u.scheme in ("data", "blob", "about"):
                continue
            if u.hostname not in ("127.0.0.1",):
                out.append(url)
        return out


def go(pg, title: str, key: str) -> None:
    """Open a page through the navigation, like an operator; a failure says what the browser showed."""
    try:
        pg.get_by_role("button", name=title, exact=True).click()
        pg.wait_for_selector(f"[data-page={key}]")
    except Exception as exc:
        raise AssertionError(f"could not open the {title!r} page: {page_state(pg)}") from exc


DEMO_LOGS: list[Path] = []  # the demo servers' logs, newest last (failure messages quote the newest)


def page_state(pg) -> str:
    """What a page shows, for a failure message: URL, page on screen, navigation, a lost connection, and
    the end of the newest demo server's log."""
    try:
        shown = pg.locator("[data-page]")
        state = (f"url {pg.url}; page shown {shown.first.get_attribute('data-page') if shown.count() else None}; "
                 f"{pg.locator('.bk-btn-group button').count()} navigation buttons; "
                 f"disconnect notice {'shown' if pg.locator('.notyf__disconnect').count() else 'absent'}")
    except Exception as exc:  # the page itself may be gone
        state = f"page state unavailable ({exc})"
    tail = "\n".join(DEMO_LOGS[-1].read_text(errors="replace").splitlines()[-15:]) if DEMO_LOGS else ""
    return f"{state}\n--- demo log (end) ---\n{tail}"


def shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path))
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    from PIL import (
        Image,  # the README copy: 256-colour PNG, a fraction of the size, same look
    )

    with Image.open(path) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            DOC_SHOTS / f"{name}.png", optimize=True)


def text_of(pg, selector: str) -> str:
    loc = pg.locator(selector)
    return loc.first.inner_text() if loc.count() else ""


class DemoServer:
    """`workbench demo` in its own process group (it starts `panel serve` as a child), on a fixed port."""

    def __init__(self, tmp: Path):
        self.port, self.tmp = free_port(), tmp
        self.events = tmp / "events.yaml"
        self.events.write_text(events_from_now())
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240) -> None:
        """Start and wait until it serves (a deadline: seeding the history and `panel serve` take minutes on
        a loaded machine)."""
        self.starts += 1
        self.log_path = self.tmp / f"demo{self.starts}.log"
        DEMO_LOGS.append(self.log_path)
        self.log = open(self.log_path, "w+")
        # BOKEH_RESOURCES=inline, as some environments set it: the page must still take its CSS from this
        # server, not the CDN (a CI machine with it set saw every page fetch Panel's CSS from cdn.holoviz.org)
        env = dict(os.environ, PYTHONUNBUFFERED="1", BOKEH_LOG_LEVEL="warn", BOKEH_RESOURCES="inline")
        self.store = self.tmp / "store"
        self.proc = subprocess.Popen([sys.executable, "-m", "apps", "demo", "--port", str(self.port),
                                      "--speed", str(SPEED), "--events", str(self.events), "--store", str(self.store)],
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
        """SIGINT (a clean stop), SIGKILL after 15 s; stopping a stopped server does nothing."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc is not None:
            self.log.close()



"""Shared pytest setup. Fixtures that start real peers (OPC UA server, mosquitto, panel serve) live in
fixtures_*.py modules beside this file and are loaded as plugins here."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["fixtures_servers"]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# Files whose tests are independent of each other and long (a notebook each): under pytest-xdist they are
# spread over the workers test by test. Every other file stays on one worker (its module-scoped servers
# and stores are then started once), see scripts/test.sh's `--dist loadgroup`.
SPREAD_BY_TEST = {"test_notebooks.py"}
# Files that serve pages to Chromium: a server and a browser each keep ~1.5 cores busy, so two at once
# starve a 2-core machine. They run on one worker, one after the other, first (the longest chain), and
# share one Chromium and one demo server (the session fixtures below); the dashboard pages' test that
# restarts the demo runs after every other user of it.
SERVED_TO_A_BROWSER = ("test_dashboard_browser.py", "test_dashboard_pages.py", "test_trial_console_browser.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SERVED_TO_A_BROWSER:
            item.add_marker(pytest.mark.xdist_group("served-to-a-browser"))
        elif item.path.name not in SPREAD_BY_TEST:
            item.add_marker(pytest.mark.xdist_group(item.path.name))
    rank = {name: i for i, name in enumerate(SERVED_TO_A_BROWSER)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept otherwise


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real reference data beside the checkout (../shared/data). Missing data fails, never skips."""
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"reference data not found at {SHARED_DATA}: clone the project with shared/ beside it "
            "(the test command requires it; see README 'Reference data')",
            pytrace=False,
        )
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _quiet_env():
    os.environ.setdefault("BOKEH_LOG_LEVEL", "warn")  # bokeh accepts warn, not warning
    yield


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium (never a downloaded one), one per worker."""
    from browser_support import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Debian's Chromium is required at {CHROMIUM} (apt-get install chromium)", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """`workbench demo` on 127.0.0.1 with the injected events of :data:`browser_support.EVENTS`, one per
    worker, shared by the dashboard's browser tests."""
    from browser_support import DemoServer

    server = DemoServer(tmp_path_factory.mktemp("demo"))
    server.start()
    yield server
    server.stop()

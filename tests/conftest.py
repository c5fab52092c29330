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


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name not in SPREAD_BY_TEST:
            item.add_marker(pytest.mark.xdist_group(item.path.name))


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

"""Shared pytest setup. Fixtures that start real peers (OPC UA server, mosquitto, panel serve) live in
fixtures_*.py modules beside this file and are loaded as plugins here."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["fixtures_servers"]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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

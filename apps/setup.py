"""Server start-up for ``panel serve --setup apps/setup.py``: start the one acquisition task of this
process before any browser connects, and import the page modules (and their analysis libraries) once,
so the first screen does not wait for them."""

import importlib
import logging
from data_adapters.acquisition import shared_acquisition

for _page in ("overview", "trends", "coating", "dryroom", "welding", "formation", "alarms"):
    try:
        importlib.import_module(f"apps.dashboard.{_page}")
    except ImportError as exc:  # the shell leaves that page out and logs why
        logging.getLogger("dashboard").warning("page %s unavailable: %s", _page, exc)

shared_acquisition()

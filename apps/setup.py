"""Server start-up for ``panel serve --setup apps/setup.py``: start the one acquisition task of this
process before any browser connects (history-backed when ``$WORKBENCH_HISTORY`` names a store: see
:mod:`apps.dashboard.recording`), and import the page modules (and their analysis libraries) once, so
the first screen does not wait for them. Pages load only the BokehJS they draw with
(:mod:`apps.dashboard.page_html`)."""

import importlib
import logging

import panel as pn
from bokeh.settings import settings as bokeh_settings

from apps.dashboard.page_html import lean_bundles, serve_locally
from apps.dashboard.recording import history_acquisition
from data_adapters.acquisition import shared_acquisition

for _page in ("overview", "trends", "coating", "dryroom", "welding", "formation", "alarms"):
    try:
        importlib.import_module(f"apps.dashboard.{_page}")
    except ImportError as exc:  # the shell leaves that page out and logs why
        logging.getLogger("dashboard").warning("page %s unavailable: %s", _page, exc)

serve_locally()  # before any page: the assets come from this server whatever the environment says
lean_bundles()
# Bokeh checks every new session's document for modelling mistakes (a plot without renderers...) before
# the page goes out: a tenth of a session's start on the event loop, for warnings about our own code that
# the tests see (tests/test_dashboard_views.py validates every station page's document)
bokeh_settings.perform_document_validation.set_value(False)
shared_acquisition(factory=history_acquisition)

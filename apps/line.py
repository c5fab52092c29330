"""The Line Workbench shop-floor dashboard: ``panel serve apps/line.py`` (or ``workbench demo``).

The line config comes from $WORKBENCH_LINE_CONFIG (default: the virtual line). One acquisition task per
server process feeds every browser session.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard.shell import serve_dashboard  # noqa: E402

import panel as pn  # noqa: E402

if pn.state.served:
    serve_dashboard().servable(title="Line Workbench")

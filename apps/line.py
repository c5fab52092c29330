"""The Line Workbench shop-floor dashboard: ``panel serve apps/line.py``, ``workbench serve`` (or ``workbench demo``).

The line config comes from $WORKBENCH_LINE_CONFIG (default: the virtual line). One acquisition task per
server process feeds every browser session.
"""

import panel as pn

from apps.dashboard.shell import serve_into

if pn.state.served:
    serve_into(pn.state.curdoc)

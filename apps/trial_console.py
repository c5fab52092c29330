"""The trial console: ``panel serve apps/trial_console.py --basic-auth users.json --cookie-secret ...``.

The page and its server-wide state live in ``apps.trial``; this script only serves them. Like the
dashboard it is served air-gapped: BokehJS and Panel's assets come from this server, never a CDN.
"""

import panel as pn

from apps.dashboard.page_html import serve_locally
from apps.trial.console import page

serve_locally()  # read per request by bokeh: no CDN, no web fonts, whatever the environment says

if pn.state.served:
    page().servable(title="Trial console")

"""The trial console: ``panel serve apps/trial_console.py --basic-auth users.json --cookie-secret ...``.

The page and its server-wide state live in ``apps.trial``; this script only serves them.
"""

import panel as pn

from apps.trial.console import page

if pn.state.served:
    page().servable(title="Trial console")

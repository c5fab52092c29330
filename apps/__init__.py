"""The composition layer: the ``workbench`` command line (``apps.cli``), the shop-floor dashboard
(``apps.dashboard``, served by ``apps/line.py``) and the trial console (``apps.trial``, served by ``apps/trial_console.py``).

Layers (checked by import-linter, see pyproject.toml): ``workbench`` (analysis, no station I/O) <-
``data_adapters`` (stations, guard, audit, trials) <- ``apps``. Nothing below imports from here.
"""

from pathlib import Path

APPS_DIR = Path(__file__).resolve().parent
"""Where the Panel app scripts live, in a checkout or an installed wheel alike."""

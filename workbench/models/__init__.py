"""Process models (xarray with units): one module per station.

``coating``, ``dewpoint``, ``weld`` and ``formation`` each hold a schema-aware set of pure functions
and a thin xarray accessor; the public names are re-exported as ``workbench.<model>``.
Import the module you need (``from workbench.models import formation``); nothing is imported here
so that one model's dependencies never slow down or break another.
"""

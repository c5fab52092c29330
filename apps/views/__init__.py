"""Station views shared by the notebook and the shop-floor dashboard.

Each station's panels are one view object (``param.Parameterized`` with ``__panel__``) that takes a Dataset
from the history store or the dashboard's live store. In a notebook it displays inline; the dashboard
composes the same objects (``apps.dashboard.shell``):

>>> from workbench import history
>>> from apps.views import CoatingView
>>> ds = history.open_station("var/history", "coating", start="2026-01-05 06:00", end="2026-01-05 14:00")  # doctest: +SKIP
>>> CoatingView(data=ds, store="var/history")      # heatmap, lane trends, Cpk, CD profile  # doctest: +SKIP

``data``: a station's history, one variable per tag with ``attrs['path']`` (what
:func:`workbench.history.open_station` returns); ``live``: the dashboard's
:class:`workbench.live.LiveStore` instead; ``store``: the history store the view reads windows longer
than its data and the approved control limits from (optional).
"""

from apps.views.stations import (CoatingView, DryRoomView, FormationView, StationView, WeldingView,
                                  view_for_kind)

__all__ = ["StationView", "CoatingView", "DryRoomView", "WeldingView", "FormationView", "view_for_kind"]

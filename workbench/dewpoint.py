"""Public dew-point / frost-point API of Line Workbench (re-exported from :mod:`workbench.models.dewpoint`).

Importing it registers the ``ds.dewpoint`` Dataset accessor (to_basis, excursions, minutes_above).

>>> from workbench.dewpoint import ppmv_from_frost_point
>>> from workbench.units import ureg
>>> round(float(ppmv_from_frost_point(ureg.Quantity(-40, "degC")).m))
127
"""

from workbench.models import dewpoint as _model
from workbench.models.dewpoint import *  # noqa: F401,F403  (the public names, listed once in the model)

__all__ = list(_model.__all__)

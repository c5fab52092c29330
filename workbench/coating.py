"""Public coating API of Line Workbench (re-exported from :mod:`workbench.models.coating`).

Importing it registers the ``ds.coating`` Dataset accessor.

>>> from workbench.coating import expected_areal_mass
>>> from workbench.units import ureg
>>> round(float(expected_areal_mass(ureg.Quantity(2911, "g/min"), ureg.Quantity(65, "%"),
...                                 ureg.Quantity(550, "mm"), ureg.Quantity(20, "m/min")).m), 2)
17.2
"""

from workbench.models import coating as _model
from workbench.models import coating_accessor as _accessor  # registers ds.coating
from workbench.models.coating import *  # noqa: F401,F403  (the public names, listed once in the model)
from workbench.models.coating_accessor import *  # noqa: F401,F403

__all__ = list(_model.__all__) + list(_accessor.__all__)

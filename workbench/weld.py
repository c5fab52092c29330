"""Public tab-welding API of Line Workbench (re-exported from :mod:`workbench.models.weld`).

>>> from workbench.weld import ColdJointRule
>>> from workbench.units import ureg
>>> ColdJointRule(usl=ureg.Quantity(60, "uohm"), mad_k=None).describe()
'resistance > 60 uohm'
"""

from workbench.models import weld as _model
from workbench.models.weld import *  # noqa: F401,F403  (the public names, listed once in the model)

__all__ = list(_model.__all__)

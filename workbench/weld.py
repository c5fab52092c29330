"""Public tab-welding API of Line Workbench (re-exported from :mod:`workbench.models.weld`).

>>> from workbench.weld import ColdJointRule
>>> from workbench.units import ureg
>>> ColdJointRule(usl=ureg.Quantity(60, "uohm"), mad_k=None).describe()
'resistance > 60 uohm'
"""

from workbench.models.weld import (  # noqa: F401
    RESISTANCE_UNITS,
    ColdJointRule,
    EnergyResistanceFit,
    WeldDcirJoin,
    WeldInputError,
    cold_joints,
    energy_resistance_fit,
    join_dcir,
    resistance_summary,
    weld_capability,
)

__all__ = [
    "RESISTANCE_UNITS",
    "WeldInputError",
    "ColdJointRule",
    "resistance_summary",
    "weld_capability",
    "cold_joints",
    "EnergyResistanceFit",
    "energy_resistance_fit",
    "WeldDcirJoin",
    "join_dcir",
]

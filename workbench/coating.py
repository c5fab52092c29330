"""Public coating API of Line Workbench (re-exported from :mod:`workbench.models.coating`).

Importing it registers the ``ds.coating`` Dataset accessor.

>>> from workbench.coating import expected_areal_mass
>>> from workbench.units import ureg
>>> round(float(expected_areal_mass(ureg.Quantity(2911, "g/min"), ureg.Quantity(65, "%"),
...                                 ureg.Quantity(550, "mm"), ureg.Quantity(20, "m/min")).m), 2)
17.2
"""

from workbench.models.coating import (  # noqa: F401
    AREAL_MASS_UNITS,
    D2,
    CoatingAccessor,
    CoatingInputError,
    along_web,
    areal_capacity,
    areal_mass,
    capability,
    cd_profile,
    coating_only,
    convert_sides,
    dry_thickness,
    example_dataset,
    expected_areal_mass,
    mass_balance,
    md_trend,
)

__all__ = [
    "AREAL_MASS_UNITS",
    "D2",
    "CoatingAccessor",
    "CoatingInputError",
    "areal_mass",
    "convert_sides",
    "coating_only",
    "expected_areal_mass",
    "mass_balance",
    "cd_profile",
    "md_trend",
    "capability",
    "along_web",
    "dry_thickness",
    "areal_capacity",
    "example_dataset",
]

"""Public dew-point / frost-point API of Line Workbench (re-exported from :mod:`workbench.models.dewpoint`).

Importing it registers the ``ds.dewpoint`` Dataset accessor (to_basis, excursions, minutes_above).

>>> from workbench.dewpoint import ppmv_from_frost_point
>>> from workbench.units import ureg
>>> round(float(ppmv_from_frost_point(ureg.Quantity(-40, "degC")).m))
127
"""

from workbench.models.dewpoint import (  # noqa: F401
    ENHANCEMENT_FACTOR,
    STANDARD_PRESSURE,
    DewpointAccessor,
    HumidityValueError,
    dew_point,
    dew_point_from_frost_point,
    dew_point_from_rh,
    excursions,
    frost_point,
    frost_point_from_dew_point,
    frost_point_from_ppmv,
    frost_point_from_rh,
    humidity_ratio,
    minutes_above,
    ppmv_from_frost_point,
    saturation_vapour_pressure,
    to_basis,
)

__all__ = [
    "ENHANCEMENT_FACTOR",
    "STANDARD_PRESSURE",
    "HumidityValueError",
    "saturation_vapour_pressure",
    "dew_point",
    "frost_point",
    "dew_point_from_rh",
    "frost_point_from_rh",
    "dew_point_from_frost_point",
    "frost_point_from_dew_point",
    "ppmv_from_frost_point",
    "frost_point_from_ppmv",
    "humidity_ratio",
    "to_basis",
    "excursions",
    "minutes_above",
    "DewpointAccessor",
]

"""The one unit registry of Line Workbench, and the helpers that check units at the boundary.

Everything physical in the workbench carries units: pint Quantities, quantified xarray objects
(pint-xarray), or xarray objects whose ``attrs["units"]`` this registry understands.

Domain units defined here (beyond pint's defaults):

- ``ppmv``: parts per million by volume (mole fraction x 1e6), dimensionless.
- ``mg/cm²`` / ``g/m²`` are plain pint units (1 mg/cm² = 10 g/m²); ``mg_per_cm2`` is an alias.
- ``µΩ`` / ``uohm`` for weld resistance; ``mV/day`` for self-discharge (K-value).

Example
-------
>>> from workbench.units import ureg, as_quantity
>>> (1 * ureg("mg/cm^2")).to("g/m^2")
<Quantity(10.0, 'gram / meter ** 2')>
>>> as_quantity(12.84, "Pa", name="vapour_pressure")  # bare numbers need an explicit unit
<Quantity(12.84, 'pascal')>
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import numpy as np
import pint
import pint_xarray  # noqa: F401  (registers the .pint accessor)
import xarray as xr

ureg = pint.UnitRegistry(
    autoconvert_offset_to_baseunit=True,
    cache_folder=None,
)
ureg.define("ppmv = 1e-6")
ureg.define("mg_per_cm2 = milligram / centimeter ** 2")
ureg.define("uohm = microohm")
ureg.define("mV_per_day = millivolt / day")
ureg.formatter.default_format = "~P"

pint.set_application_registry(ureg)
pint_xarray.setup_registry(ureg)
pint_xarray.unit_registry = ureg
Quantity = ureg.Quantity

DimensionalityError = pint.DimensionalityError


class MissingUnitError(TypeError):
    """A bare number or unlabelled array was passed where a physical quantity is required."""


def parse_unit(text: str, *, where: str = "") -> pint.Unit:
    """Parse a unit string with this registry, or raise a ValueError naming where it came from.

    >>> parse_unit("mg/cm^2")
    <Unit('milligram / centimeter ** 2')>
    """
    try:
        return ureg.Unit(text)
    except (pint.UndefinedUnitError, AttributeError, TypeError, ValueError, AssertionError) as exc:
        loc = f" at {where}" if where else ""
        raise ValueError(
            f"unknown unit {text!r}{loc}: use a pint unit string such as 'mg/cm^2', 'degC', 'ppmv', "
            f"'uohm', 'Pa' ({exc})"
        ) from None


def _quantity_from_xarray(obj: xr.DataArray, name: str) -> pint.Quantity:
    data = obj.data
    if isinstance(data, pint.Quantity):
        return data
    units = obj.attrs.get("units")
    if units is None:
        raise MissingUnitError(
            f"{name}: DataArray {obj.name!r} has no units; set attrs['units'] (e.g. 'degC') or quantify it"
        )
    return ureg.Quantity(np.asarray(data), parse_unit(units, where=f"{name}.attrs['units']"))


def as_quantity(value: Any, units: str | None = None, *, name: str = "value") -> pint.Quantity:
    """Return ``value`` as a pint Quantity of this registry.

    ``value`` may be a Quantity, an xarray DataArray (quantified or with ``attrs["units"]``), or a
    bare number/array together with an explicit ``units`` string. A bare number without ``units``
    raises :class:`MissingUnitError` naming the argument.
    """
    if isinstance(value, pint.Quantity):
        if value._REGISTRY is not ureg:
            return ureg.Quantity(value.magnitude, str(value.units))
        return value
    if isinstance(value, xr.DataArray):
        return _quantity_from_xarray(value, name)
    if units is None:
        raise MissingUnitError(
            f"{name}: got a bare {type(value).__name__} without units; pass a pint Quantity "
            f"(e.g. ureg.Quantity(x, 'degC')) or an xarray object with attrs['units']"
        )
    return ureg.Quantity(np.asarray(value, dtype=float) if np.ndim(value) else float(value),
                         parse_unit(units, where=name))


def magnitude_in(value: Any, units: str, *, name: str = "value") -> Any:
    """The magnitude of ``value`` expressed in ``units``; raises DimensionalityError naming ``name``.

    >>> round(magnitude_in(ureg.Quantity(-40, "degC"), "K", name="frost_point"), 6)
    233.15
    """
    q = as_quantity(value, name=name)
    try:
        mag = q.to(units).magnitude
        return float(mag) if np.ndim(mag) == 0 else mag  # an offset unit (degC -> K) gives a 0-d array
    except pint.DimensionalityError as exc:
        raise pint.DimensionalityError(
            exc.units1, exc.units2, exc.dim1, exc.dim2,
            extra_msg=f" for argument {name!r} (expected something convertible to {units})",
        ) from None


def to_units(da: xr.DataArray, units: str, *, name: str | None = None) -> xr.DataArray:
    """Return a plain (dequantified) DataArray converted to ``units`` with ``attrs['units']`` set.

    Accepts quantified DataArrays and DataArrays with ``attrs['units']``. Keeps dask laziness.
    """
    label = name or str(da.name)
    if isinstance(da.data, pint.Quantity):
        src = da.data.units
        mag = da.data.magnitude
    else:
        if "units" not in da.attrs:
            raise MissingUnitError(
                f"{label}: DataArray has no units; set attrs['units'] or quantify it with pint-xarray"
            )
        src = parse_unit(da.attrs["units"], where=f"{label}.attrs['units']")
        mag = da.data
    target = parse_unit(units, where=f"target for {label}")
    try:
        factor_q = ureg.Quantity(1.0, src).to(target)
    except pint.DimensionalityError as exc:
        raise pint.DimensionalityError(
            exc.units1, exc.units2, exc.dim1, exc.dim2,
            extra_msg=f" for {label!r} (expected something convertible to {units})",
        ) from None
    if ureg.Quantity(0.0, src).to(target).magnitude != 0.0:  # offset units (degC <-> K)
        offset = ureg.Quantity(0.0, src).to(target).magnitude
        scale = factor_q.magnitude - offset
        new = mag * scale + offset
    else:
        new = mag * factor_q.magnitude
    out = da.copy(data=new)
    out.attrs = {**{k: v for k, v in da.attrs.items() if k != "units"}, "units": units}
    return out


def expects(**arg_units: str):
    """Decorator: check and convert named arguments to units at the boundary.

    Each named argument is converted with :func:`magnitude_in` (Quantities, bare numbers rejected)
    or, for DataArrays, with :func:`to_units` (result is a plain DataArray in the stated unit).

    >>> @expects(temperature="K")
    ... def kelvin(temperature):
    ...     return temperature
    >>> kelvin(ureg.Quantity(0, "degC"))
    273.15
    """

    def decorate(func):
        sig = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            for arg, unit in arg_units.items():
                if arg in bound.arguments and bound.arguments[arg] is not None:
                    val = bound.arguments[arg]
                    if isinstance(val, xr.DataArray):
                        bound.arguments[arg] = to_units(val, unit, name=arg)
                    else:
                        bound.arguments[arg] = magnitude_in(val, unit, name=arg)
            return func(*bound.args, **bound.kwargs)

        return wrapper

    return decorate


def pretty_units(units: str) -> str:
    """Units as an operator reads them (pint's short pretty form): 'mg/cm^2' -> 'mg/cm²', 'uohm' -> 'µΩ'.

    >>> pretty_units("mg/cm^2"), pretty_units("uohm"), pretty_units("dimensionless")
    ('mg/cm²', 'µΩ', '')
    """
    if units in ("dimensionless", ""):
        return ""
    try:
        text = f"{ureg.Unit(units):~P}"
    except Exception:  # a unit pint knows but cannot pretty-print: show it as written
        text = units
    return text.replace("uohm", "µΩ")


__all__ = [
    "ureg",
    "pretty_units",
    "Quantity",
    "DimensionalityError",
    "MissingUnitError",
    "parse_unit",
    "as_quantity",
    "magnitude_in",
    "to_units",
    "expects",
]

"""Per-station Dataset schemas (dims, coords, variables, units) and :func:`validate`.

A schema lists what analysis code may rely on; extra variables and coords are allowed. Units are
checked by *dimensionality* with the one registry (g/m² passes where mg/cm² is expected, degC where
K is expected; ppmv where degC is expected does not). Time coords must be datetime64 (tz-naive UTC).

>>> from workbench.simulate import virtual_line
>>> h = virtual_line(seed=0, events=None).history(hours=0.5)
>>> validate(h.coating) is h.coating
True
>>> try:
...     validate(h.coating.drop_vars("pump_rate"))
... except SchemaError as exc:
...     print(exc)
coating Dataset: variable 'pump_rate' is missing; expected dims ('time',) in g/min (slurry mass flow)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pint
import xarray as xr

from workbench.units import parse_unit, ureg


class SchemaError(ValueError):
    """A Dataset that does not match its station's schema; the message names what and what was expected."""


@dataclass(frozen=True)
class Field:
    """One coord or data variable: its dims, units (None: no unit check) and dtype kind."""

    dims: tuple[str, ...]
    units: str | None = None
    kind: str | None = None          # numpy dtype kinds accepted, e.g. "f" "iu" "M" "UOS"
    description: str = ""
    required: bool = True


@dataclass(frozen=True)
class Schema:
    station: str
    dims: tuple[str, ...]
    coords: dict[str, Field] = field(default_factory=dict)
    data_vars: dict[str, Field] = field(default_factory=dict)
    description: str = ""


TIME = Field(("time",), None, "M", "UTC, tz-naive datetime64")
_NUM = "fiu"
SCHEMAS: dict[str, Schema] = {
    "coating": Schema(
        "coating", ("time", "lane"),
        coords={
            "time": TIME,
            "lane": Field(("lane",), None, "iu", "gauge/slit lane across the web"),
            "roll_id": Field(("time",), None, "UOS", "mother roll being wound"),
            "lot_id": Field(("time",), None, "UOS", "slurry lot of the scanned web"),
            "position": Field(("time",), "m", _NUM, "metres along the mother roll"),
            "lane_centre_mm": Field(("lane",), "mm", _NUM, "lane centre from the web edge", required=False),
        },
        data_vars={
            "areal_mass": Field(("time", "lane"), "mg/cm^2", _NUM, "dry areal mass per side, coating only"),
            "pump_rate": Field(("time",), "g/min", _NUM, "slurry mass flow"),
            "line_speed": Field(("time",), "m/min", _NUM, "web speed"),
            "solids_fraction": Field(("time",), "dimensionless", _NUM, "solids mass fraction"),
            "coated_width": Field((), "m", _NUM, "coated width"),
        },
        description="slot-die coater with a scanning gauge: one row per scan",
    ),
    "dryroom": Schema(
        "dryroom", ("time", "sensor"),
        coords={
            "time": TIME,
            "sensor": Field(("sensor",), None, "UOS", "sensor name"),
            "reports": Field(("sensor",), None, "UOS", "'frost_point' or 'dew_point' per sensor"),
        },
        data_vars={
            "dew_frost_point": Field(("time", "sensor"), "degC", _NUM, "dew or frost point as reported"),
            "temperature": Field(("time",), "degC", _NUM, "room temperature", required=False),
        },
        description="dry-room hygrometers",
    ),
    "welding": Schema(
        "welding", ("weld",),
        coords={
            "weld": Field(("weld",), None, "iu", "weld number"),
            "time": Field(("weld",), None, "M", "weld time, UTC"),
            "cell_id": Field(("weld",), None, "UOS", "cell the tab belongs to"),
            "tab": Field(("weld",), None, "UOS", "tab (pos/neg)", required=False),
        },
        data_vars={
            "weld_resistance": Field(("weld",), "uohm", _NUM, "four-wire weld resistance"),
            "laser_energy": Field(("weld",), "J", _NUM, "pulse energy at the workpiece"),
        },
        description="laser tab welder: one row per weld",
    ),
    "formation": Schema(
        "formation", ("cell",),
        coords={
            "cell_id": Field(("cell",), None, "UOS", "cell id"),
            "rack": Field(("cell",), None, "iu", "formation rack"),
            "channel": Field(("cell",), None, "iu", "formation channel"),
        },
        data_vars={
            "charge_capacity": Field(("cell",), "A*h", _NUM, "first charge capacity"),
            "discharge_capacity": Field(("cell",), "A*h", _NUM, "first discharge capacity"),
            "dcir": Field(("cell",), "mohm", _NUM, "DC internal resistance"),
            "k_value": Field(("cell",), "mV/day", _NUM, "self-discharge", required=False),
            "coulombic_efficiency": Field(("cell",), "dimensionless", _NUM, "discharge/charge", required=False),
        },
        description="formation results: one row per cell",
    ),
    "formation_curves": Schema(
        "formation_curves", ("sample",),
        data_vars={
            "time": Field(("sample",), "s", _NUM, "time since the start of formation"),
            "voltage": Field(("sample",), "V", _NUM, "cell voltage"),
            "current": Field(("sample",), "A", _NUM, "current, positive = charge"),
            "capacity": Field(("sample",), "A*h", _NUM, "capacity throughput", required=False),
            "temperature": Field(("sample",), "degC", _NUM, "cell temperature", required=False),
            "step": Field(("sample",), None, "iu", "step index", required=False),
            "cycle": Field(("sample",), None, "iu", "cycle index", required=False),
        },
        description="one cell's formation curve (BDF-like columns); lengths differ per cell",
    ),
}


def _units_of(var: xr.DataArray) -> str | None:
    if isinstance(var.data, pint.Quantity):
        return str(var.data.units)
    return var.attrs.get("units")


def _check(ds: xr.Dataset, station: str, what: str, name: str, spec: Field) -> None:
    where = f"{station} Dataset: {what} {name!r}"
    expected = f"expected dims {spec.dims}" + (f" in {spec.units}" if spec.units else "") + (
        f" ({spec.description})" if spec.description else "")
    store = ds.coords if what == "coord" else ds.data_vars
    if name not in store:
        if name in ds.variables:
            raise SchemaError(f"{where} is a {'data variable' if what == 'coord' else 'coord'}; {expected}")
        if spec.required:
            raise SchemaError(f"{where} is missing; {expected}")
        return
    var = ds[name]
    if tuple(var.dims) != spec.dims:
        raise SchemaError(f"{where} has dims {tuple(var.dims)}; {expected}")
    data = var.data.magnitude if isinstance(var.data, pint.Quantity) else var.data
    if spec.kind and np.dtype(getattr(data, "dtype", object)).kind not in spec.kind:
        raise SchemaError(f"{where} has dtype {data.dtype}; expected kind {spec.kind!r} ({spec.description})")
    if spec.units is None:
        return
    units = _units_of(var)
    if units is None:
        raise SchemaError(f"{where} has no units; set attrs['units'] to {spec.units!r} (or a compatible unit)")
    try:
        got = parse_unit(units, where=f"{name}.attrs['units']")
    except ValueError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    if ureg.Quantity(1, got).dimensionality != ureg.Quantity(1, spec.units).dimensionality:
        raise SchemaError(f"{where} has units {units!r}; expected {spec.units!r} or a unit of the same dimension")


def validate(ds: xr.Dataset, station: str | None = None) -> xr.Dataset:
    """Return ``ds`` if it matches the schema of ``station`` (default ``ds.attrs["station"]``), else raise
    :class:`SchemaError` naming the missing/wrong dim, coord, variable or unit and what was expected.

    >>> import xarray as xr
    >>> try:
    ...     validate(xr.Dataset(), station="paint_shop")
    ... except SchemaError as exc:
    ...     print(exc)
    no schema for station 'paint_shop'; known: ['coating', 'dryroom', 'formation', 'formation_curves', 'welding']
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"validate: expected an xarray.Dataset, got {type(ds).__name__}")
    station = station or ds.attrs.get("station")
    if station is None:
        raise SchemaError(f"validate: say which station (station='coating'|...) or set ds.attrs['station']; "
                          f"known: {sorted(SCHEMAS)}")
    if station not in SCHEMAS:
        raise SchemaError(f"no schema for station {station!r}; known: {sorted(SCHEMAS)}")
    schema = SCHEMAS[station]
    for dim in schema.dims:
        if dim not in ds.dims:
            raise SchemaError(f"{station} Dataset: dim {dim!r} is missing; expected dims {schema.dims}, "
                              f"got {tuple(ds.dims)}")
    for name, spec in schema.coords.items():
        _check(ds, station, "coord", name, spec)
    for name, spec in schema.data_vars.items():
        _check(ds, station, "variable", name, spec)
    return ds


def describe(station: str) -> str:
    """A readable listing of a station's schema (for docs and error hints).

    >>> print(describe("welding").splitlines()[0])
    welding: laser tab welder: one row per weld; dims ('weld',)
    """
    s = SCHEMAS[station]
    lines = [f"{station}: {s.description}; dims {s.dims}"]
    for what, items in (("coord", s.coords), ("var", s.data_vars)):
        for name, f in items.items():
            opt = "" if f.required else " (optional)"
            lines.append(f"  {what} {name}{f.dims} [{f.units or '-'}] {f.description}{opt}")
    return "\n".join(lines)


__all__ = ["SCHEMAS", "Schema", "Field", "SchemaError", "validate", "describe"]

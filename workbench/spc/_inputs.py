"""Input checks shared by the SPC functions: data, units of parameters, time axis, row kernels."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import pint
import xarray as xr

from workbench.units import parse_unit, ureg


class SPCInputError(ValueError):
    """Bad input to an SPC function; the message names the argument and how to fix it."""


def as_dataarray(x: Any, dim: str, *, where: str) -> xr.DataArray:
    """``x`` as a plain (dequantified) DataArray that has ``dim``; 1-D arrays get ``dim``."""
    if isinstance(x, xr.DataArray):
        da = x.pint.dequantify() if isinstance(x.data, pint.Quantity) else x
    elif isinstance(x, (np.ndarray, list, tuple, pd.Series)):
        arr = np.asarray(x, dtype=float)
        if arr.ndim != 1:
            raise SPCInputError(f"{where}: got a {arr.ndim}-D array; pass 1-D values or a DataArray "
                                f"with a {dim!r} dimension")
        coords = {dim: x.index.values} if isinstance(x, pd.Series) else None
        da = xr.DataArray(arr, dims=(dim,), coords=coords)
    else:
        raise TypeError(f"{where}: expected an xarray DataArray or 1-D array, got {type(x).__name__}")
    if dim not in da.dims:
        raise SPCInputError(f"{where}: data has dims {da.dims}, not {dim!r}; pass dim=<one of "
                            f"{list(da.dims)}>")
    if not (np.issubdtype(da.dtype, np.floating) or np.issubdtype(da.dtype, np.integer)):
        raise TypeError(f"{where}: data must be numeric, got dtype {da.dtype}")
    return da


def delta_units(units: str) -> str:
    """The unit of a *difference* of values in ``units`` (degC -> delta_degC; others unchanged)."""
    q = ureg.Quantity(1.0, parse_unit(units, where="data units"))
    diff = (q - q).units
    return units if diff == q.units else f"{diff:D}"


def param(value: Any, units: str | None, *, name: str, where: str, difference: bool) -> Any:
    """A parameter (float, Quantity or DataArray) as magnitudes in the data's units.

    Bare numbers and unit-less DataArrays are taken to be in the data's units already.
    ``difference=True`` for spreads (sigma, limit widths): offset units become delta units, and a
    spread labelled with an offset unit (a sigma "in degC", as ``da.std()`` keeps it) is read as a
    difference in that unit.
    """
    target = None
    if units is not None:
        target = delta_units(units) if difference else units
    if isinstance(value, xr.DataArray):
        if isinstance(value.data, pint.Quantity):
            value = value.pint.dequantify()
        u = value.attrs.get("units")
        if u is None or target is None:
            return value.astype(float)
        u = delta_units(u) if difference else u
        return value.copy(data=_convert(np.asarray(value.data, float), u, target, name, where))
    if isinstance(value, pint.Quantity):
        if target is None:
            raise SPCInputError(f"{where}: {name} has units {value.units} but the data has no "
                                f"attrs['units']; give the data units or pass {name} as a number")
        u = delta_units(str(value.units)) if difference else str(value.units)
        return float(_convert(value.magnitude, u, target, name, where))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be a number, Quantity or DataArray, got "
                        f"{type(value).__name__}") from None


def _convert(mag: Any, src: str, target: str, name: str, where: str) -> Any:
    try:
        return ureg.Quantity(mag, parse_unit(src, where=name)).to(target).magnitude
    except pint.DimensionalityError:
        raise SPCInputError(f"{where}: {name} is in {src!r}, which cannot be converted to the data "
                            f"units {target!r}; pass {name} in the data's units") from None


def positive(value: Any, name: str, where: str) -> None:
    arr = np.asarray(value.values if isinstance(value, xr.DataArray) else value, dtype=float)
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise SPCInputError(f"{where}: {name} must be finite and > 0, got {value!r}; estimate it "
                            f"from an in-control baseline (workbench.spc.fit)")


def sample_times(obj: xr.DataArray | xr.Dataset, dim: str) -> xr.DataArray | None:
    """The datetime coordinate along ``dim``: ``dim`` itself, else a ``time`` coord on ``dim``
    (e.g. ``time(weld)`` for per-weld data), else None."""
    for name in (dim, "time"):
        c = obj.coords.get(name)
        if c is not None and c.dims == (dim,) and np.issubdtype(c.dtype, np.datetime64):
            return c
    return None


def time_ns(da: xr.DataArray, dim: str, max_gap: Any, *, where: str) -> tuple[np.ndarray, int]:
    """Sample times (int64 ns, or sample index without a datetime coord) and max_gap in ns (-1: off).

    Raises if the datetime coordinate goes backwards: the detectors are causal and need order.
    """
    n = da.sizes[dim]
    coord = sample_times(da, dim)
    is_time = coord is not None
    if is_time:
        t = coord.values.astype("datetime64[ns]").astype(np.int64)
        if n > 1 and np.any(np.diff(t) < 0):
            bad = int(np.argmax(np.diff(t) < 0)) + 1
            raise SPCInputError(f"{where}: {coord.name!r} goes backwards at position {bad} "
                                f"({coord.values[bad]}); sort first: data.sortby({coord.name!r})")
    else:
        t = np.arange(n, dtype=np.int64)
    if max_gap is None:
        return t, -1
    if not is_time:
        raise SPCInputError(f"{where}: max_gap={max_gap!r} needs a datetime64 coordinate {dim!r} "
                            f"or 'time' along {dim!r}; assign one or leave max_gap=None")
    gap = pd.Timedelta(max_gap)
    if gap <= pd.Timedelta(0):
        raise SPCInputError(f"{where}: max_gap must be a positive duration such as '10min', "
                            f"got {max_gap!r}")
    return t, int(gap.value)


def apply_rows(kernel: Callable, x: xr.DataArray, dim: str, per_row: Sequence[Any],
               dtypes: Sequence[type], **kernel_kwargs: Any) -> tuple[xr.DataArray, ...]:
    """Run a row kernel ``kernel(x2d, *rows, **kw) -> tuple of 2-D arrays`` over all other dims.

    Lazy on dask input (``dask="parallelized"``, the core dim rechunked into one chunk).
    ``per_row`` are scalars or DataArrays without ``dim`` (e.g. one target per lane).
    """
    def block(xb, *pb):
        lead, n = xb.shape[:-1], xb.shape[-1]
        x2 = np.ascontiguousarray(xb, dtype=np.float64).reshape(-1, n)
        rows = [np.ascontiguousarray(np.broadcast_to(np.asarray(p, np.float64), lead)).reshape(-1)
                for p in pb]
        outs = tuple(o.reshape(lead + (n,)) for o in kernel(x2, *rows, **kernel_kwargs))
        return outs if len(outs) > 1 else outs[0]  # apply_ufunc wants a bare array for one output

    for p in per_row:
        if isinstance(p, xr.DataArray) and dim in p.dims:
            raise SPCInputError(f"per-row parameters must not vary along {dim!r}")
    if x.chunks is not None:
        x = x.chunk({dim: -1})
    result = xr.apply_ufunc(
        block, x, *per_row,
        input_core_dims=[[dim]] + [[] for _ in per_row],
        output_core_dims=[[dim] for _ in dtypes],
        dask="parallelized", output_dtypes=list(dtypes), keep_attrs=False,
    )
    return result if len(dtypes) > 1 else (result,)

"""``link_events``: name the context (slurry lot, roll, maintenance...) that began near each change point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .detect import ChangepointInputError


def link_events(
    changes: xr.DataArray,
    context: Any,
    *,
    dim: str = "time",
    tolerance: Any = "30min",
    direction: str = "nearest",
) -> pd.DataFrame:
    """One row per change point with the context event that started nearest to it (within ``tolerance``).

    ``changes`` is the bool output of :func:`detect`. ``context`` says where events start; any of:

    - the name of a coordinate of ``changes`` along ``dim`` (e.g. ``"lot_id"``): an event starts wherever
      its value changes (and at the first sample);
    - a 1-D DataArray along ``dim`` or a pandas Series indexed by time, read the same way;
    - a DataFrame of events with a ``start`` column (datetime) and one id column (the first other column);
    - a dict ``{name: any of the above}`` to link several contexts at once.

    Columns: the other dims of ``changes``, ``dim`` (the change's label), then per context ``<name>``
    (the id), ``<name>_start`` and ``<name>_lag`` (change minus event start; negative = the change came
    first). No event within ``tolerance`` (a duration, or a number for a numeric ``dim``) -> NaN/NaT.
    ``direction`` is "nearest", "backward" (events that started before the change) or "forward".

    >>> import pandas as pd, xarray as xr
    >>> t = pd.date_range("2026-01-05 06:00", periods=6, freq="10min")
    >>> ch = xr.DataArray([False, False, False, True, False, False], dims="time",
    ...                   coords={"time": t, "lot_id": ("time", ["L1", "L1", "L2", "L2", "L2", "L2"])})
    >>> link_events(ch, "lot_id")[["time", "lot_id", "lot_id_lag"]].values.tolist()
    [[Timestamp('2026-01-05 06:30:00'), 'L2', Timedelta('0 days 00:10:00')]]
    """
    if not isinstance(changes, xr.DataArray) or changes.dtype != bool:
        raise TypeError("link_events(): changes must be the bool DataArray returned by detect()")
    if dim not in changes.dims:
        raise ChangepointInputError(f"dim {dim!r} is not a dimension of the changes (dims: {list(changes.dims)})")
    if direction not in ("nearest", "backward", "forward"):
        raise ChangepointInputError(f"direction={direction!r}: use 'nearest', 'backward' or 'forward'")
    table = _change_table(changes, dim)
    contexts = context if isinstance(context, dict) else {_context_name(context): context}
    for name, ctx in contexts.items():
        events = _event_starts(changes, ctx, name, dim)
        table = _attach(table, events, name, dim, tolerance, direction)
    return table.reset_index(drop=True)


def _change_table(changes: xr.DataArray, dim: str) -> pd.DataFrame:
    others = [d for d in changes.dims if d != dim]
    plain = changes.reset_coords(drop=True)
    df = plain.to_dataframe(name="_flag").reset_index()
    df = df[df["_flag"]].drop(columns="_flag")
    if dim not in df.columns:  # dim without a coordinate: positions
        df = df.rename(columns={"index": dim})
    return df[[*others, dim]].sort_values(dim, kind="stable")


def _context_name(ctx) -> str:
    if isinstance(ctx, str):
        return ctx
    if isinstance(ctx, (xr.DataArray, pd.Series)) and ctx.name is not None:
        return str(ctx.name)
    if isinstance(ctx, pd.DataFrame):
        cols = [c for c in ctx.columns if c != "start"]
        if cols:
            return str(cols[0])
    return "event"


def _event_starts(changes: xr.DataArray, ctx, name: str, dim: str) -> pd.DataFrame:
    """DataFrame(start, id) of event starts, sorted by start."""
    if isinstance(ctx, str):
        if ctx not in changes.coords or changes[ctx].dims != (dim,):
            raise ChangepointInputError(
                f"context {ctx!r} is not a coordinate of the changes along {dim!r} "
                f"(coords: {[c for c in changes.coords if changes[c].dims == (dim,)]}); pass a DataFrame of starts instead"
            )
        ctx = changes[ctx]
    if isinstance(ctx, xr.DataArray):
        if ctx.dims != (dim,):
            raise ChangepointInputError(f"context {name!r} must be 1-D along {dim!r}, got dims {ctx.dims}")
        ctx = pd.Series(ctx.values, index=ctx[dim].values if dim in ctx.coords else np.arange(ctx.size))
    if isinstance(ctx, pd.Series):
        vals = ctx.to_numpy()
        new = np.r_[True, vals[1:] != vals[:-1]]
        return pd.DataFrame({"start": ctx.index.to_numpy()[new], "id": vals[new]})
    if isinstance(ctx, pd.DataFrame):
        if "start" not in ctx.columns:
            raise ChangepointInputError(
                f"context table {name!r} needs a 'start' column with event start times (columns: {list(ctx.columns)})"
            )
        ids = [c for c in ctx.columns if c != "start"]
        if not ids:
            raise ChangepointInputError(f"context table {name!r} needs an id column beside 'start'")
        return pd.DataFrame({"start": ctx["start"].to_numpy(), "id": ctx[ids[0]].to_numpy()}).sort_values("start")
    raise TypeError(
        f"context {name!r}: expected a coordinate name, DataArray, Series or DataFrame with 'start', got {type(ctx).__name__}"
    )


def _attach(table: pd.DataFrame, events: pd.DataFrame, name: str, dim: str, tolerance, direction) -> pd.DataFrame:
    times = table[dim]
    is_time = np.issubdtype(np.asarray(times).dtype, np.datetime64)
    if is_time:
        try:
            tol = pd.Timedelta(tolerance)
        except (ValueError, TypeError):
            raise ChangepointInputError(f"tolerance={tolerance!r} is not a duration; use e.g. '30min'") from None
        starts = pd.to_datetime(events["start"], utc=False)
        if getattr(starts.dt, "tz", None) is not None:  # history stores naive UTC: compare like with like
            starts = starts.dt.tz_convert("UTC").dt.tz_localize(None)
        events = events.assign(start=starts.astype(np.asarray(times).dtype))
    else:
        tol = tolerance
    ev = events.rename(columns={"start": f"{name}_start", "id": name})
    ev["_key"] = ev[f"{name}_start"]
    left = table.assign(_key=table[dim])
    merged = pd.merge_asof(left.sort_values("_key"), ev.sort_values("_key"), on="_key",
                           direction=direction, tolerance=tol)
    merged[f"{name}_lag"] = merged[dim] - merged[f"{name}_start"]
    return merged.drop(columns="_key")

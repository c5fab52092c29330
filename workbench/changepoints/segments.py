"""``segments``: the piecewise-constant picture behind the change points, one row per segment per series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .detect import ChangepointInputError, _as_plain_dataarray, detect


def segments(da: xr.DataArray, changes: xr.DataArray | None = None, dim: str = "time", **detect_kwargs) -> pd.DataFrame:
    """One row per segment per series: where it starts and ends and its level (mean of valid samples).

    ``changes`` is the bool output of :func:`detect` on ``da``; if omitted, ``detect(da, dim,
    **detect_kwargs)`` is run. Columns: the other dims' labels (one column per dim), ``segment`` (0, 1, ...
    per series), ``start`` and ``end`` (``dim`` labels of the first and last sample), ``start_index`` and
    ``stop_index`` (positions, stop exclusive), ``n`` (valid samples), ``level`` and ``std`` (in
    ``df.attrs["units"]``, da's units). Dask input is computed.

    >>> import numpy as np, xarray as xr
    >>> x = xr.DataArray(np.r_[np.full(30, 20.0), np.full(30, 23.0)], dims="time", attrs={"units": "degC"})
    >>> [tuple(r) for r in segments(x)[["start", "end", "level"]].itertuples(index=False)]
    [(0, 29, 20.0), (30, 59, 23.0)]
    """
    da = _as_plain_dataarray(da)
    if dim not in da.dims:
        raise ChangepointInputError(f"dim {dim!r} is not a dimension of {da.name!r} (dims: {list(da.dims)})")
    if changes is None:
        changes = detect(da, dim, **detect_kwargs)
    elif detect_kwargs:
        raise ChangepointInputError("pass either changes or detect keyword arguments, not both")
    if not isinstance(changes, xr.DataArray) or changes.dtype != bool or changes.sizes != da.sizes:
        raise ChangepointInputError(
            f"changes must be the bool DataArray detect() returned for this data (sizes {dict(da.sizes)})"
        )
    others = [d for d in da.dims if d != dim]
    values = da.transpose(*others, dim).values.astype(np.float64)
    flags = changes.transpose(*others, dim).values
    n = values.shape[-1]
    values = values.reshape(-1, n)
    flags = flags.reshape(-1, n)
    labels = da[dim].values if dim in da.coords else np.arange(n)
    series = pd.MultiIndex.from_product([_labels(da, d) for d in others], names=others) if others else [()]
    rows = []
    for r, key in enumerate(series):
        key = key if isinstance(key, tuple) else (key,)
        starts = np.r_[0, np.flatnonzero(flags[r])]
        stops = np.r_[starts[1:], n]
        for k, (a, b) in enumerate(zip(starts, stops)):
            seg = values[r, a:b]
            ok = seg[np.isfinite(seg)]
            rows.append((*key, k, labels[a], labels[b - 1], int(a), int(b), ok.size,
                         ok.mean() if ok.size else np.nan, ok.std(ddof=1) if ok.size > 1 else np.nan))
    df = pd.DataFrame(rows, columns=[*others, "segment", "start", "end", "start_index", "stop_index", "n", "level", "std"])
    df.attrs["units"] = da.attrs.get("units")
    df.attrs["variable"] = da.name
    return df


def _labels(da: xr.DataArray, d: str):
    return da[d].values if d in da.coords else np.arange(da.sizes[d])

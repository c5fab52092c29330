"""``detect``: change points over any dims of a DataArray, vectorised with ``apply_ufunc`` and Dask-parallel."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .practical import MERGE_REASON, merge_rows
from .rows import LANES, RowInfo, detect_rows, detect_rows_joint, detect_rows_ruptures, detect_rows_shape

METHODS = ("pelt", "shape", "kernelcpd", "binseg", "bottomup", "dynp")
RUPTURES_COSTS = ("l2", "l1", "normal", "rbf", "linear", "ar", "mahalanobis", "rank", "clinear", "cosine")


class ChangepointInputError(ValueError):
    """Bad arguments or data for change-point detection; the message says what, where and how to fix it."""


def detect(
    da: xr.DataArray,
    dim: str = "time",
    *,
    method: str = "pelt",
    cost: str = "l2",
    penalty: str | float = "auto",
    penalty_factor: float = 1.0,
    min_size: int = 5,
    min_duration: Any = None,
    spike_threshold: float | None = 5.0,
    joint: str | None = None,
    n_bkps: int | None = None,
    progress: bool = False,
    min_shift: Any = None,
) -> xr.DataArray:
    """Offline change points in the mean: True at the first sample of each new segment (never index 0).

    Works on every series of ``da`` along ``dim`` (all other dims are vectorised, in parallel with Dask).
    Dask input gives a lazy result; numpy input is computed at once, on the active ``dask.distributed``
    client if there is one (or ``dask.config`` ``scheduler-address``), else on local threads.

    Defaults (no tuning needed, same call for g/m^2, degC or uohm; the policy is ``policy.py``):

    - absurd values (PLC codes |x| >= 1e30, values > 20 robust ranges outside the 1-99 % range) are gaps,
      counted in ``attrs["masked_absurd"]``.
    - ``penalty="auto"``: each series is scaled by a robust *long-run* noise sigma (the larger of an AR(1)
      estimate from differences and a block-means estimate; autocorrelation, quantisation, wander and
      periodic parts cannot shrink it), then penalised per change by 1 + 2 sqrt(log n) + 2 log n (a
      chi-square bound; 25.5 for 10,000 samples; ``penalty_factor`` > 1 for fewer changes). A number is a
      penalty in the data's unit squared, as in ruptures (no scaling, no model choice).
    - a model per series, named with its reason in ``attrs["model"]``/``attrs["model_reason"]``:
      ``mean-shift`` (exact penalised change-in-mean search, compiled FPOP), ``trend`` (a drift plus steps,
      chosen by penalised cost when a mean-shift fit's segments all slope one way), ``curve`` (a smooth
      curved baseline, cubic spline, plus steps, chosen by penalised cost when the staircase is made of
      marginal steps or its segments still slope: a warm-up or a filter loading is one curve, also on a few
      hundred samples; its knots are never close enough to bend through a 3 long-run sigma step, so steps
      riding on it are still found), ``cycle`` (a smooth
      periodic series: changes in the cycles' level, spread, roughness or envelope; never cut inside a
      cycle, segments >= 5 cycles).
    - The default assumes changes are in level (or in what each cycle looks like) under stationary noise,
      and that a drift bends more slowly than the curve model's knot spacing (``policy.curve_spacing``:
      57 samples at n = 450; series of 500 samples or more keep 1-15 knots >= 250 samples apart); a faster bend, or a curved drift on under ~300 samples of
      autocorrelated noise, can still be cut into steps.
      Pick ``method="shape"`` for changes in pattern (nearest-neighbour windows, O(n^2)), a numeric
      ``penalty`` when you know the noise, ``method="binseg"``/``cost=...`` for ruptures' searches.
      Noise whose sd grows along the series is judged by its noisiest sixteenth (fewer changes found
      where it is quiet).
    - ``min_size`` samples, or ``min_duration`` (e.g. ``"10min"``) converted with the median sampling
      interval of ``dim``; the larger wins.
    - ``spike_threshold``: isolated outliers and pulses shorter than a segment (> that many robust sigmas
      off the running median of 2 min(min_size - 1, 4) + 1 samples: a dropout of up to 4 scans) are
      ignored; ``None`` keeps every sample.

    Gaps and irregular sampling: NaN samples are dropped, detection runs on the valid samples in order
    and a change is flagged at the first valid sample of the new segment; an all-NaN (or too short)
    series has none. Spacing in time is not used except to convert ``min_duration``; ``dim`` must be
    monotonic increasing (``da.sortby(dim)``).

    ``joint="lane"``: one segmentation shared by all series along that dim (each scaled by its own noise,
    samples with a NaN in any of them dropped); flags are repeated along it. Other methods/costs
    (``method="binseg"``, ``cost="l1"``, ...) run ruptures' own, slower, searches with the same policy;
    they need a numeric penalty or ``n_bkps`` unless the cost is l2. ``progress=True`` shows a progress bar
    while numpy input is computed (for Dask input, wrap your ``.compute()`` in ``dask.diagnostics.ProgressBar``).

    ``min_shift``: the minimum shift of practical interest, in ``da``'s unit (a number, or a pint quantity
    converted to ``attrs["units"]``). After the search, changes whose step between the neighbouring
    segments' means is smaller are merged away, smallest first, and the remaining change points re-located
    (``practical.py``; rows of the cycle model are left alone; on rows of the trend or curve model a step
    is measured against the drift, refitted within the merged segments; with ``joint=`` a change stays if
    its step reaches ``min_shift`` in any series, a joint drift not taken off); ``attrs["min_shift"]`` and
    ``attrs["merged_small_shifts"]`` (how many, numpy input) say so. Statistically real hour-scale wander of
    a fraction of the tolerance is then not listed; a default from a tag's spec is
    ``workbench.spc.design.min_shift_of(tag)``. None (default): every change the search finds.

    Units: the result is a dimensionless bool DataArray of ``da``'s shape, coords and chunks.

    >>> import numpy as np, xarray as xr, pandas as pd
    >>> t = pd.date_range("2026-01-05", periods=200, freq="1min")
    >>> x = np.r_[np.zeros(120), np.full(80, 3.0)] + np.random.default_rng(0).normal(0, 0.5, 200)
    >>> mass = xr.DataArray(x, dims="time", coords={"time": t}, attrs={"units": "mg/cm^2"})
    >>> flags = detect(mass, min_duration="10min")
    >>> [str(v)[:16] for v in flags.time[flags].values]
    ['2026-01-05T02:00']
    """
    da = _as_plain_dataarray(da)
    _check_dims(da, dim, joint)
    method, cost, pen, engine = _check_method(method, cost, penalty, n_bkps, joint)
    factor = _positive(penalty_factor, "penalty_factor")
    spike = 0.0 if spike_threshold is None else _positive(spike_threshold, "spike_threshold")
    m = max(_min_size(min_size), min_size_from_duration(da, dim, min_duration))
    shift = _min_shift(min_shift, da)
    kwargs = dict(min_size=m, factor=factor, penalty=pen, spike_threshold=spike, method=method, cost=cost,
                  n_bkps=n_bkps, engine=engine, min_shift=shift)
    core = [joint, dim] if joint else [dim]
    attrs = {"long_name": f"change point in {da.name or 'series'}", "method": method, "cost": cost,
             "penalty": str(penalty), "min_size": m}
    if shift > 0:
        attrs.update(min_shift=shift, min_shift_reason=MERGE_REASON)
    if da.chunks is not None:
        return _apply(da.chunk({c: -1 for c in core}), core, kwargs).assign_attrs(attrs)
    client = _active_client()
    if client is None and not progress and engine in ("numba", "shape"):
        return _local_threads(da, core, kwargs).assign_attrs(attrs)
    rows = int(np.prod([s for d, s in da.sizes.items() if d not in core], dtype=np.int64))
    if client is None and rows < 2 and not progress:
        return _apply(da, core, kwargs).assign_attrs(attrs)
    lazy = _apply(_chunk_rows(da, core, client), core, kwargs)
    return _compute(lazy, client, progress).assign_attrs(attrs)


def _flags(arr: np.ndarray, *, joint: bool, engine: str, info: RowInfo | None = None, **kw) -> np.ndarray:
    """apply_ufunc kernel: (..., n) or (..., d, n) float array -> bool flags of the same shape."""
    x = np.asarray(arr, dtype=np.float64)
    lead, n = x.shape[: -2 if joint else -1], x.shape[-1]
    if joint:
        d = x.shape[-2]
        out = detect_rows_joint(x.reshape(-1, d, n), kw["min_size"], kw["factor"], kw["penalty"],
                                kw["spike_threshold"], info, kw["min_shift"])
        return np.broadcast_to(out.reshape(*lead, 1, n), x.shape).copy()
    rows = np.ascontiguousarray(x.reshape(-1, n))
    if engine == "numba":
        return detect_rows(rows, kw["min_size"], kw["factor"], kw["penalty"], kw["spike_threshold"], info,
                           kw["min_shift"]).reshape(x.shape)  # min_shift merged in its row loop
    if engine == "shape":
        out = detect_rows_shape(rows, kw["min_size"], info)
    else:
        out = detect_rows_ruptures(rows, min_size=kw["min_size"], factor=kw["factor"], penalty=kw["penalty"],
                                   spike_threshold=kw["spike_threshold"], method=kw["method"], cost=kw["cost"],
                                   n_bkps=kw["n_bkps"])
    if kw["min_shift"] > 0:  # shape and ruptures searches: the merge afterwards
        out = merge_rows(rows, out, kw["min_shift"], kw["min_size"], kw["penalty"], info, kw["factor"],
                         kw["spike_threshold"])
    return out.reshape(x.shape)


def _info_attrs(infos: list[RowInfo]) -> dict:
    """The policy's record for the result's attrs: models chosen per series (with reasons), values masked."""
    total = RowInfo()
    for i in infos:
        total.merge(i)
    used = {k: v for k, v in sorted(total.models.items()) if v}  # a model every series left (for trend) is not named
    return {"model": ", ".join(f"{k}: {v}" for k, v in used.items()),
            "model_reason": "; ".join(f"{k}: {v}" for k, v in sorted(total.reasons.items()) if k in used),
            "masked_absurd": total.masked, "merged_small_shifts": total.merged}


def _apply(da: xr.DataArray, core: list[str], kwargs: dict) -> xr.DataArray:
    out = xr.apply_ufunc(
        _flags,
        da,
        input_core_dims=[core],
        output_core_dims=[core],
        dask="parallelized",
        output_dtypes=[bool],
        kwargs=dict(kwargs, joint=len(core) == 2),
        keep_attrs=False,
    )
    out = out.transpose(*da.dims)
    out.name = f"{da.name}_change" if da.name is not None else "change"
    return out


def _local_threads(da: xr.DataArray, core: list[str], kwargs: dict) -> xr.DataArray:
    """numpy input, no cluster: the compiled kernel on blocks of rows in a thread pool (it releases the GIL).

    Same flags as the Dask route; skipping the graph, apply_ufunc and the chunk copies saves ~10 % of the
    CPU time on 10 M samples, and blocks are handed out one by one so a busy core just takes fewer.
    """
    others = [d for d in da.dims if d not in core]
    ordered = da.transpose(*others, *core)
    x = np.ascontiguousarray(ordered.values, dtype=np.float64)
    joint = len(core) == 2
    per_row = x.shape[-2:] if joint else x.shape[-1:]
    rows = x.reshape(-1, *per_row)
    out = np.empty(rows.shape, bool)
    workers = _n_workers(None)
    n_blocks = min(rows.shape[0], 4 * workers)
    if rows.shape[0] < LANES * n_blocks:  # few rows (24 lanes): blocks of whole lane groups, one per worker at least
        n_blocks = max(min(workers, rows.shape[0]), rows.shape[0] // LANES)
    bounds = np.linspace(0, rows.shape[0], n_blocks + 1).astype(int)
    if rows.shape[0] >= LANES * n_blocks:  # whole lane groups of the compiled search in each block but the last
        bounds[1:-1] -= bounds[1:-1] % LANES

    infos = [RowInfo() for _ in range(n_blocks)]

    def run(b):
        lo, hi = bounds[b], bounds[b + 1]
        out[lo:hi] = _flags(rows[lo:hi], joint=joint, info=infos[b], **kwargs)

    if n_blocks <= 1 or workers == 1:
        for b in range(n_blocks):
            run(b)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(workers, n_blocks)) as pool:
            list(pool.map(run, range(n_blocks)))
    res = xr.DataArray(out.reshape(x.shape), dims=ordered.dims, coords=ordered.coords)
    res = res.transpose(*da.dims).assign_attrs(_info_attrs(infos))
    res.name = f"{da.name}_change" if da.name is not None else "change"
    return res


def _chunk_rows(da: xr.DataArray, core: list[str], client) -> xr.DataArray:
    """Split numpy input into ~4 blocks per worker along the longest non-core dim (LANES rows a multiple)."""
    others = [d for d in da.dims if d not in core]
    if not others:
        return da.chunk({c: -1 for c in core})
    workers = _n_workers(client)
    longest = max(others, key=lambda d: da.sizes[d])
    per = max(1, math.ceil(da.sizes[longest] / (4 * workers)))
    if per < LANES:  # few rows (24 lanes): chunks of a lane group, one per worker at least
        per = min(LANES, math.ceil(da.sizes[longest] / workers))
    if per >= LANES:  # whole lane groups of the compiled search in each chunk but the last
        per = math.ceil(per / LANES) * LANES
    return da.chunk({**{d: -1 for d in da.dims}, longest: per})


def _n_workers(client) -> int:
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:  # a client that cannot answer still computes; assume two threads
            return 2
    import os

    return max(1, os.cpu_count() or 1)


def _compute(lazy: xr.DataArray, client, progress: bool) -> xr.DataArray:
    if client is not None:
        fut = client.compute(lazy)
        if progress:
            from distributed import progress as dist_progress

            dist_progress(fut)
        return fut.result()
    if progress:
        import sys

        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):  # stderr: keeps stdout clean for tables (CLI) and shows in notebooks
            return lazy.compute(scheduler="threads")
    return lazy.compute(scheduler="threads")


def _active_client():
    """The default dask.distributed client, or one connected to ``dask.config`` ``scheduler-address``."""
    try:
        import distributed
    except ImportError:  # pragma: no cover - distributed is a project dependency
        return None
    try:
        return distributed.default_client()
    except ValueError:
        pass
    import dask

    address = dask.config.get("scheduler-address", None)
    if address:
        return distributed.Client(address)
    return None


def min_size_from_duration(da: xr.DataArray, dim: str, min_duration: Any) -> int:
    """Samples in ``min_duration`` at the median sampling interval of ``da[dim]`` (1 if None).

    ``min_duration`` is a pandas/ISO duration (``"10min"``, ``pd.Timedelta``) for a datetime ``dim``,
    or a number in the coordinate's unit for a numeric one (e.g. metres along ``position``).

    >>> import xarray as xr, pandas as pd
    >>> da = xr.DataArray(range(60), dims="time", coords={"time": pd.date_range("2026-01-05", periods=60, freq="30s")})
    >>> min_size_from_duration(da, "time", "10min")
    20
    """
    if min_duration is None:
        return 1
    if dim not in da.coords:
        raise ChangepointInputError(
            f"min_duration={min_duration!r} needs a coordinate on dim {dim!r} to convert it to samples; "
            f"assign one (da.assign_coords({dim}=...)) or pass min_size in samples instead"
        )
    coord = da[dim].values
    if coord.size < 2:
        return 1
    step = np.median(np.diff(coord))
    if np.issubdtype(coord.dtype, np.datetime64):
        try:
            dur = pd.Timedelta(min_duration)
        except (ValueError, TypeError):
            raise ChangepointInputError(
                f"min_duration={min_duration!r} is not a duration; use e.g. '10min', '2h' or pd.Timedelta"
            ) from None
        ratio = dur / pd.Timedelta(step)
    else:
        if not isinstance(min_duration, (int, float, np.number)):
            raise ChangepointInputError(
                f"min_duration={min_duration!r}: dim {dim!r} is numeric, give a number in its unit"
            )
        ratio = float(min_duration) / float(step)
    if not np.isfinite(ratio) or ratio < 0:
        raise ChangepointInputError(f"min_duration={min_duration!r} must be a non-negative duration")
    return max(1, math.ceil(ratio - 1e-9))


def _as_plain_dataarray(da) -> xr.DataArray:
    if isinstance(da, xr.Dataset):
        raise TypeError(
            f"detect() takes one DataArray, got a Dataset with {list(da.data_vars)}; pick one, e.g. ds['areal_mass']"
        )
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"detect() takes an xarray.DataArray, got {type(da).__name__}; wrap it: xr.DataArray(x, dims='time')")
    if hasattr(da.data, "units") and hasattr(da.data, "magnitude"):  # pint-quantified: the search is unit-free
        da = da.pint.dequantify()
    if not (np.issubdtype(da.dtype, np.number) or da.dtype == bool):
        raise TypeError(f"detect(): {da.name!r} has dtype {da.dtype}; change points need numbers")
    return da


def _check_dims(da: xr.DataArray, dim: str, joint: str | None) -> None:
    if dim not in da.dims:
        raise ChangepointInputError(f"dim {dim!r} is not a dimension of {da.name!r} (dims: {list(da.dims)}); pass dim=...")
    if joint is not None and (joint not in da.dims or joint == dim):
        raise ChangepointInputError(
            f"joint={joint!r} must be another dimension of {da.name!r} than dim={dim!r} (dims: {list(da.dims)})"
        )
    if dim in da.coords and da[dim].size > 1:
        c = da[dim].values
        if (np.issubdtype(c.dtype, np.number) or np.issubdtype(c.dtype, np.datetime64)) and not np.all(c[1:] > c[:-1]):
            raise ChangepointInputError(
                f"coordinate {dim!r} of {da.name!r} is not strictly increasing; sort it first: da.sortby({dim!r}) "
                "(and drop duplicate timestamps)"
            )


def _check_method(method, cost, penalty, n_bkps, joint):
    if method not in METHODS:
        raise ChangepointInputError(f"method={method!r} is not one of {METHODS}")
    if cost not in RUPTURES_COSTS:
        raise ChangepointInputError(f"cost={cost!r} is not one of {RUPTURES_COSTS}")
    if isinstance(penalty, str):
        if penalty != "auto":
            raise ChangepointInputError(f"penalty={penalty!r}: use 'auto' or a positive number (data unit squared)")
        pen = float("nan")
        if cost != "l2" and n_bkps is None:
            raise ChangepointInputError(
                f"penalty='auto' is scaled for cost='l2'; with cost={cost!r} pass a numeric penalty or n_bkps"
            )
    else:
        pen = _positive(penalty, "penalty")
    if n_bkps is not None:
        if isinstance(n_bkps, bool) or not isinstance(n_bkps, (int, np.integer)) or n_bkps < 0 or method == "pelt":
            raise ChangepointInputError(
                f"n_bkps={n_bkps!r}: a fixed number of changes needs a non-negative int and method 'dynp', "
                "'binseg', 'bottomup' or 'kernelcpd'"
            )
        if not isinstance(penalty, str):
            raise ChangepointInputError("give either a numeric penalty or n_bkps, not both")
    engine = "numba" if (method == "pelt" and cost == "l2") else "ruptures"
    if method == "shape":
        if not isinstance(penalty, str) or n_bkps is not None or cost != "l2":
            raise ChangepointInputError("method='shape' takes no penalty, n_bkps or cost: it keeps a split when the "
                                        "windows on each side resemble each other more than chance (see shape.py)")
        engine = "shape"
    if joint and engine != "numba":
        raise ChangepointInputError(f"joint detection is implemented for method='pelt', cost='l2' (got {method!r}, {cost!r})")
    if method == "dynp" and n_bkps is None:
        raise ChangepointInputError("method='dynp' needs n_bkps (a fixed number of changes per series)")
    return method, cost, pen, engine


def _positive(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ChangepointInputError(f"{name}={value!r} must be a positive number") from None
    if not (math.isfinite(v) and v > 0):
        raise ChangepointInputError(f"{name}={value!r} must be a positive number")
    return v


def _min_shift(value, da: xr.DataArray) -> float:
    """``min_shift`` as a number in ``da``'s unit (0: none)."""
    if value is None:
        return 0.0
    if hasattr(value, "units") and hasattr(value, "magnitude"):
        units = da.attrs.get("units")
        if not units:
            raise ChangepointInputError(f"min_shift {value:~P} has a unit but {da.name!r} has none (no "
                                        f"attrs['units'], no units row in a file); give min_shift as a number "
                                        f"in the data's unit")
        try:
            value = value.to(units).magnitude
        except Exception as exc:
            raise ChangepointInputError(f"min_shift {value:~P} cannot be converted to {da.name!r}'s unit "
                                        f"{units!r} ({exc}); give it in a unit of the same kind") from None
    return _positive(value, "min_shift")


def _min_size(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ChangepointInputError(f"min_size={value!r} must be an int >= 1 (samples); for time use min_duration='10min'")
    return int(value)

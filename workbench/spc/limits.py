"""Shewhart control limits in two explicit phases: ``fit`` a baseline (Phase I), ``apply`` (Phase II).

Charts:

- ``"imr"``: individuals and moving range. sigma_within = MR-bar / d2(2) (MR between consecutive
  valid samples), individuals limits center +- 3 sigma_within, MR limits [0, D4(2) MR-bar].
- ``"xbar_r"``: subgroup means and ranges, limits X-double-bar +- A2 R-bar, [D3 R-bar, D4 R-bar],
  sigma_within = R-bar / d2(n).
- ``"xbar_s"``: subgroup means and standard deviations, X-double-bar +- A3 S-bar, [B3 S-bar,
  B4 S-bar], sigma_within = S-bar / c4(n).

Subgrouped data carry the subgroup members along ``subgroup_dim`` (size n = 2..25); a subgroup
with a missing member is skipped as a whole. The fitted limits are floats, or DataArrays over any
extra dims (e.g. one set of limits per lane).

>>> import numpy as np, xarray as xr
>>> base = xr.DataArray([10.0, 12.0, 11.0, 13.0, 12.0], dims="time", attrs={"units": "uohm"})
>>> lim = fit(base, chart="imr")
>>> lim.center, round(lim.sigma_within, 4), lim.sigma_method
(11.6, 1.3293, 'average moving range / d2(2)')
>>> bool(apply(lim, xr.DataArray([11.0, 17.0], dims="time", attrs={"units": "uohm"})).alarm[1])
True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import xarray as xr

from workbench.spc import constants as C
from workbench.spc._inputs import SPCInputError, as_dataarray, delta_units
from workbench.spc.rules import check_rules
from workbench.units import to_units

CHARTS = ("imr", "xbar_r", "xbar_s")
_METHOD = {"imr": "average moving range / d2(2)", "xbar_r": "average range / d2(n)",
           "xbar_s": "average standard deviation / c4(n)"}
_DISPERSION = {"imr": "moving_range", "xbar_r": "range", "xbar_s": "stdev"}
# Phase I wants 20-25 subgroups (Montgomery, Introduction to Statistical Quality Control, 6.2): with
# fewer, the limits' own uncertainty is as large as the shifts the chart should catch.
MIN_BASELINE = 20


class ShortBaselineWarning(UserWarning):
    """A Phase I baseline shorter than MIN_BASELINE samples: the limits are themselves uncertain."""


class SigmaFlooredWarning(UserWarning):
    """sigma_within was below the instrument's resolution and was raised to it (chunky data)."""


@dataclass(frozen=True)
class ChartLimits:
    """Phase I result: center line, limits and sigma_within of a Shewhart chart pair.

    ``lcl``/``center``/``ucl`` are for the plotted location statistic (individual or subgroup
    mean), ``dispersion_*`` for MR, R or S; ``sigma_within`` is the process sigma (per individual
    value) in ``units``. ``baseline`` says where the limits came from.
    """

    chart: str
    center: Any
    lcl: Any
    ucl: Any
    dispersion_center: Any
    dispersion_lcl: Any
    dispersion_ucl: Any
    sigma_within: Any
    sigma_method: str
    subgroup_size: int
    units: str | None
    dim: str
    subgroup_dim: str | None
    baseline: dict = field(default_factory=dict)

    @property
    def sigma_plotted(self) -> Any:
        """Sigma of the plotted location statistic: sigma_within / sqrt(n)."""
        return self.sigma_within / np.sqrt(self.subgroup_size)


def _scalar(v: xr.DataArray) -> Any:
    return float(v) if v.ndim == 0 else v


@dataclass(frozen=True)
class _Stats:
    location: xr.DataArray
    dispersion: xr.DataArray


def _moving_range(x: np.ndarray) -> np.ndarray:
    """|x_i - previous valid x| along the last axis; NaN at missing and first valid samples."""
    out = np.full(x.shape, np.nan)
    flat, res = x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1])
    for r in range(flat.shape[0]):
        idx = np.flatnonzero(np.isfinite(flat[r]))
        res[r, idx[1:]] = np.abs(np.diff(flat[r, idx]))
    return out


def _lag1(x: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation over consecutive valid samples along the last axis."""
    flat = x.reshape(-1, x.shape[-1])
    out = np.full(flat.shape[0], np.nan)
    for r in range(flat.shape[0]):
        v = flat[r][np.isfinite(flat[r])]
        if v.size > 2 and np.std(v) > 0:
            d = v - v.mean()
            out[r] = float(np.sum(d[1:] * d[:-1]) / np.sum(d * d))
    return out.reshape(x.shape[:-1])


def _statistics(da: xr.DataArray, chart: str, dim: str, subgroup_dim: str | None) -> _Stats:
    if chart == "imr":
        x = da.where(np.isfinite(da))
        if x.chunks is not None:
            x = x.chunk({dim: -1})  # the moving range needs the whole series in one chunk
        mr = xr.apply_ufunc(_moving_range, x, input_core_dims=[[dim]], output_core_dims=[[dim]],
                            dask="parallelized", output_dtypes=[float])
        return _Stats(x, mr.transpose(*x.dims))
    complete = np.isfinite(da).all(subgroup_dim)  # a subgroup with a missing member is skipped
    mean = da.mean(subgroup_dim).where(complete)
    if chart == "xbar_r":
        disp = (da.max(subgroup_dim) - da.min(subgroup_dim)).where(complete)
    else:
        disp = da.std(subgroup_dim, ddof=1).where(complete)
    return _Stats(mean, disp)


def _prepare(data: Any, chart: str, dim: str, subgroup_dim: str | None, where: str):
    if chart not in CHARTS:
        raise SPCInputError(f"{where}: chart={chart!r}; use one of {CHARTS}")
    da = as_dataarray(data, dim, where=where)
    if chart == "imr":
        if subgroup_dim is not None:
            raise SPCInputError(f"{where}: an I-MR chart has no subgroups; drop subgroup_dim or "
                                f"use chart='xbar_r'/'xbar_s'")
        return da, 1
    if subgroup_dim is None or subgroup_dim not in da.dims:
        raise SPCInputError(f"{where}: chart={chart!r} needs subgroup_dim naming the dimension "
                            f"of subgroup members (data dims {da.dims})")
    n = da.sizes[subgroup_dim]
    C._check_n(n)
    return da, n


def _sigma_cv(chart: str, n: int, used: int) -> float:
    """Relative standard error of sigma_within from ``used`` samples (normal data, large-sample)."""
    if chart == "imr":  # adjacent moving ranges correlate (rho ~ 0.2): var(MR-bar) ~ (1 + 2 rho) var(MR) / k
        return C.d3(2) / C.d2(2) * np.sqrt(1.449 / (used - 1))
    if chart == "xbar_r":
        return C.d3(n) / (C.d2(n) * np.sqrt(used))
    return np.sqrt(1 - C.c4(n) ** 2) / (C.c4(n) * np.sqrt(used))


def _floor_dispersion(dbar: xr.DataArray, per_sigma: float, resolution: Any, units: str | None,
                      where: str) -> xr.DataArray:
    """Refuse a baseline without variation, or floor sigma at the instrument's resolution and say so.

    A sigma of 0 (constant data, often a quantised signal that never left one step) would make
    ``apply`` alarm on the smallest wiggle. A sigma below the ``resolution`` (the quantisation step)
    is "chunky data": fewer than five possible readings fall inside the limits and the chart alarms on
    one-step flicker (Wheeler, *Understanding Statistical Process Control*, ch. 8). Flooring sigma at one
    resolution step keeps readings within +-2 steps inside the limits; 3 steps still alarm.
    """
    u = f" {units}" if units else ""
    if resolution is None:
        if bool((dbar <= 0).any()):
            raise SPCInputError(
                f"{where}: the baseline has no variation (every value the same): sigma_within would be 0 and "
                f"apply() would alarm on the smallest wiggle; pick a baseline window where the process varies, "
                f"or give resolution=<the instrument's quantisation step{u}> (e.g. the tag's resolution) to "
                "floor sigma_within at one resolution step")
        return dbar
    try:
        resolution = float(resolution)
    except (TypeError, ValueError):
        raise SPCInputError(f"{where}: resolution must be a number in the data units, got {resolution!r}") from None
    if not (np.isfinite(resolution) and resolution > 0):
        raise SPCInputError(f"{where}: resolution must be finite and > 0 (the quantisation step), got {resolution}")
    floor = resolution * per_sigma
    low = dbar < floor
    if bool(low.any()):
        lowest = float((dbar / per_sigma).min())
        warnings.warn(f"{where}: sigma_within {lowest:.3g}{u} is below the resolution {resolution:g}{u} (chunky "
                      f"data: the chart would alarm on one-step flicker); floored at {resolution:g}{u}"
                      f"{' for ' + str(int(low.sum())) + ' series' if low.ndim else ''}", SigmaFlooredWarning,
                      stacklevel=3)
    return dbar.where(~low, floor)


def fit(baseline: Any, *, chart: str = "imr", dim: str = "time", subgroup_dim: str | None = None,
        start: Any = None, end: Any = None, resolution: float | None = None) -> ChartLimits:
    """Phase I: estimate center, sigma_within and control limits from an in-control baseline.

    ``start``/``end`` select the baseline window along ``dim`` (label-based, inclusive); the window
    and the number of samples used are kept in ``limits.baseline``, with the overall sd of the
    plotted values and their lag-1 autocorrelation: Shewhart limits assume independent samples, so
    with |r1| above ~0.3 (slow wander, cycles) sigma_within understates the spread and the chart
    alarms too often -- chart subgroup means or use ``overall_sd``. Units come from
    ``attrs["units"]`` and are kept.

    A baseline with no variation is refused (sigma 0 would alarm on any wiggle) unless the instrument's
    ``resolution`` (quantisation step in the data units; default ``attrs["resolution"]``, which the
    history reader sets) is known: then sigma_within is floored at one resolution step, with a
    :class:`SigmaFlooredWarning`. Fewer than :data:`MIN_BASELINE` samples give a
    :class:`ShortBaselineWarning` stating how uncertain sigma_within is.

    >>> import xarray as xr
    >>> sub = xr.DataArray([[1.0, 3.0], [2.0, 4.0]], dims=("time", "sample"))
    >>> lim = fit(sub, chart="xbar_r", subgroup_dim="sample")
    >>> lim.center, lim.dispersion_center, round(lim.ucl, 3)
    (2.5, 2.0, 6.26)
    """
    where = "workbench.spc.fit"
    da, n = _prepare(baseline, chart, dim, subgroup_dim, where)
    if start is not None or end is not None:
        da = da.sel({dim: slice(start, end)})
    window = "" if start is None and end is None else f" (window {start} .. {end})"
    if da.sizes[dim] == 0 or 0 in da.shape:
        raise SPCInputError(f"{where}: the baseline is empty: 0 samples along {dim!r}{window}; pass the "
                            f"in-control data to fit (at least {MIN_BASELINE} samples)")
    stats = _statistics(da, chart, dim, subgroup_dim)
    used = int(np.isfinite(stats.location).sum(dim).min())
    if used < 2 or (chart == "imr" and used < 3):
        raise SPCInputError(f"{where}: only {used} valid samples in the baseline window{window}; "
                            f"Phase I needs at least {MIN_BASELINE}-25 (and at least 3 to compute anything)")
    if used < MIN_BASELINE:
        warnings.warn(f"{where}: a baseline of {used} {'samples' if chart == 'imr' else 'subgroups'} is short: "
                      f"Phase I wants at least {MIN_BASELINE} (20-25), because with {used} sigma_within is itself "
                      f"uncertain by about +-{_sigma_cv(chart, n, used):.0%} (1 s.e.) and the limits with it",
                      ShortBaselineWarning, stacklevel=2)
    center = stats.location.mean(dim)
    dbar = stats.dispersion.mean(dim)
    per_sigma = C.d2(2) if chart == "imr" else C.d2(n) if chart == "xbar_r" else C.c4(n)  # dbar / sigma
    dbar = _floor_dispersion(dbar, per_sigma, resolution if resolution is not None else da.attrs.get("resolution"),
                             da.attrs.get("units"), where)
    if chart == "imr":
        sigma, a, lo_f, hi_f = dbar / C.d2(2), 3.0 / C.d2(2), C.D3(2), C.D4(2)
    elif chart == "xbar_r":
        sigma, a, lo_f, hi_f = dbar / C.d2(n), C.A2(n), C.D3(n), C.D4(n)
    else:
        sigma, a, lo_f, hi_f = dbar / C.c4(n), C.A3(n), C.B3(n), C.B4(n)
    coord = da[dim].values if dim in da.coords else np.arange(da.sizes[dim])
    return ChartLimits(
        chart=chart, center=_scalar(center), lcl=_scalar(center - a * dbar),
        ucl=_scalar(center + a * dbar), dispersion_center=_scalar(dbar),
        dispersion_lcl=_scalar(lo_f * dbar), dispersion_ucl=_scalar(hi_f * dbar),
        sigma_within=_scalar(sigma), sigma_method=_METHOD[chart], subgroup_size=n,
        units=da.attrs.get("units"), dim=dim, subgroup_dim=subgroup_dim,
        baseline={"start": coord[0] if len(coord) else None,
                  "end": coord[-1] if len(coord) else None, "samples": used,
                  "overall_sd": _scalar(stats.location.std(dim, ddof=1)),
                  "lag1_autocorrelation": _scalar(xr.apply_ufunc(
                      _lag1, stats.location.compute(), input_core_dims=[[dim]]))},
    )


def apply(limits: ChartLimits, data: Any, *, rules: Iterable[str] | str | None = None) -> xr.Dataset:
    """Phase II: plot new data against fitted limits; optional run rules on the location chart.

    Returns ``value`` (individual or subgroup mean), ``center``, ``lcl``, ``ucl``, the dispersion
    statistic (``moving_range``, ``range`` or ``stdev``) with ``dispersion_lcl``/``_ucl``,
    ``alarm_location``, ``alarm_dispersion``, one variable per rule, ``alarm`` (any) and ``missing``.
    Data in other (convertible) units are converted to the limits' units first.
    """
    where = "workbench.spc.apply"
    if not isinstance(limits, ChartLimits):
        raise TypeError(f"{where}: limits must come from workbench.spc.fit(...), got "
                        f"{type(limits).__name__}")
    da, n = _prepare(data, limits.chart, limits.dim, limits.subgroup_dim, where)
    if n != limits.subgroup_size:
        raise SPCInputError(f"{where}: subgroups of {n} but the limits were fitted on subgroups "
                            f"of {limits.subgroup_size}; refit or regroup the data")
    if limits.units is not None and da.attrs.get("units") is not None:
        da = to_units(da, limits.units, name="data")
    stats = _statistics(da, limits.chart, limits.dim, limits.subgroup_dim)
    disp = _DISPERSION[limits.chart]
    ds = xr.Dataset({
        "value": stats.location, "center": limits.center, "lcl": limits.lcl, "ucl": limits.ucl,
        disp: stats.dispersion, "dispersion_lcl": limits.dispersion_lcl,
        "dispersion_ucl": limits.dispersion_ucl,
    })
    ds["alarm_location"] = (stats.location > limits.ucl) | (stats.location < limits.lcl)
    ds["alarm_dispersion"] = (stats.dispersion > limits.dispersion_ucl) | (
        stats.dispersion < limits.dispersion_lcl)
    ds["missing"] = ~np.isfinite(stats.location)
    alarm = ds["alarm_location"] | ds["alarm_dispersion"]
    ds.attrs["rules"] = ""
    if rules is not None:
        rds = check_rules(stats.location, center=limits.center, sigma=limits.sigma_plotted,
                          rules=rules, dim=limits.dim)
        for name in rds.attrs["rules"].split(","):
            ds[name] = rds[name]
            alarm = alarm | rds[name]
        ds.attrs["rules"] = rds.attrs["rules"]
    ds["alarm"] = alarm
    if limits.units is not None:
        for v in ("value", "center", "lcl", "ucl"):
            ds[v].attrs["units"] = limits.units
        for v in (disp, "dispersion_lcl", "dispersion_ucl"):
            ds[v].attrs["units"] = delta_units(limits.units)
    ds.attrs.update(detector=limits.chart, dim=limits.dim, sigma_method=limits.sigma_method)
    return ds

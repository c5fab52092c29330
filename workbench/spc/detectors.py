"""Vectorised online detectors over xarray: tabular CUSUM, EWMA, Shewhart and FOCuS (unknown shift).

Each function takes a DataArray (any dims, one of them ``dim``), a target and sigma from a Phase I
baseline (floats in the data's units, pint Quantities, or DataArrays without ``dim``, e.g. one per
lane), and returns an ``xr.Dataset`` with the statistic(s), the limits and a boolean ``alarm``.
Dask-backed input stays lazy (``xarray.apply_ufunc(..., dask="parallelized")``).

Policy for missing values and sampling (identical in the streaming objects):

- a non-finite value (NaN, +-inf) is *missing*: the statistic is held at its last value, there is
  no alarm at that sample, and ``missing`` is True. EWMA's exact limits count valid samples only.
- the detectors count samples, not seconds: irregular spacing does not change a statistic. With
  ``max_gap`` (e.g. "30min", needs a datetime ``dim`` coordinate) a longer silence between two valid
  samples restarts the detector from its zero state (``restart`` is True at that sample), because
  what happened in the gap is unknown.
- ``reset_on_alarm=True`` restarts the statistic after each alarm (the alarm sample still reports
  the value that crossed); by default it runs on, so an alarm lasts while the shift does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from workbench.spc import _kernels as K
from workbench.spc._inputs import SPCInputError, apply_rows, as_dataarray, param, positive, time_ns

#: FOCuS threshold giving a two-sided zero-state ARL0 of about 489 samples (Monte Carlo, 40,000
#: runs, se 2.4), i.e. >= 465 like the CUSUM k=0.5, h=5 it is compared with. See
#: benchmarks/spc_arl.py and tests/test_spc_unknown_shift.py.
FOCUS_THRESHOLD = 6.08


def _common(x: Any, target: Any, sigma: Any, dim: str, max_gap: Any, where: str):
    da = as_dataarray(x, dim, where=where)
    units = da.attrs.get("units")
    tgt = param(target, units, name="target", where=where, difference=False)
    sig = param(sigma, units, name="sigma", where=where, difference=True)
    positive(sig, "sigma", where)
    if not np.all(np.isfinite(np.asarray(tgt.values if isinstance(tgt, xr.DataArray) else tgt))):
        raise SPCInputError(f"{where}: target must be finite, got {target!r}")
    t, gap = time_ns(da, dim, max_gap, where=where)
    return da, units, tgt, sig, t, gap


def _order(out: xr.DataArray, da: xr.DataArray) -> xr.DataArray:
    return out.transpose(*da.dims, ...)


def _unit_attrs(units: str | None) -> dict:
    return {} if units is None else {"units": units}


def _as_var(value: Any, units: str | None, name: str) -> xr.DataArray:
    v = value if isinstance(value, xr.DataArray) else xr.DataArray(value)
    return v.rename(name).assign_attrs(_unit_attrs(units))


def cusum(x: Any, *, target: Any, sigma: Any, k: float = 0.5, h: float = 5.0, dim: str = "time",
          max_gap: Any = None, reset_on_alarm: bool = False) -> xr.Dataset:
    """Two-sided tabular CUSUM (Page 1954; Montgomery §9.1) with k and h in sigma units.

    C+_i = max(0, C+_{i-1} + x_i - target - k sigma), C-_i = max(0, C-_{i-1} - x_i + target
    - k sigma), alarm when either exceeds H = h sigma. Zero state C+_0 = C-_0 = 0.
    Returns ``upper``, ``lower`` (data units), ``alarm``, ``alarm_upper``, ``alarm_lower``,
    ``missing``, ``restart`` along ``dim`` and ``decision_interval`` H, ``reference_value`` K.

    >>> import numpy as np, xarray as xr
    >>> x = xr.DataArray([0., 0., 3., 3., 3.], dims="time", attrs={"units": "mg/cm^2"})
    >>> ds = cusum(x, target=0.0, sigma=1.0, k=0.5, h=4.0)
    >>> ds.upper.values.tolist(), ds.alarm.values.tolist()
    ([0.0, 0.0, 2.5, 5.0, 7.5], [False, False, False, True, True])
    """
    where = "workbench.spc.cusum"
    if not (np.isfinite(k) and k >= 0 and np.isfinite(h) and h > 0):
        raise SPCInputError(f"{where}: need k >= 0 and h > 0 in sigma units (got k={k}, h={h}); "
                            f"the usual design is k=0.5, h=4 or 5")
    da, units, tgt, sig, t, gap = _common(x, target, sigma, dim, max_gap, where)
    ref, dec = sig * float(k), sig * float(h)
    outs = apply_rows(K.cusum_rows, da, dim, [tgt, ref, dec],
                      [float, float, bool, bool, bool, bool], t=t, max_gap=gap,
                      reset=bool(reset_on_alarm))
    up, lo, a_up, a_lo, miss, rst = (_order(o, da) for o in outs)
    ds = xr.Dataset({
        "upper": up.assign_attrs(_unit_attrs(units), long_name="upper CUSUM C+"),
        "lower": lo.assign_attrs(_unit_attrs(units), long_name="lower CUSUM C-"),
        "alarm": a_up | a_lo, "alarm_upper": a_up, "alarm_lower": a_lo,
        "missing": miss, "restart": rst,
        "decision_interval": _as_var(dec, units, "decision_interval"),
        "reference_value": _as_var(ref, units, "reference_value"),
        "target": _as_var(tgt, units, "target"),
        "sigma": _as_var(sig, units, "sigma"),
    })
    ds.attrs.update(detector="cusum", k=float(k), h=float(h), dim=dim,
                    reset_on_alarm=int(bool(reset_on_alarm)))
    return ds


def ewma(x: Any, *, target: Any, sigma: Any, lam: float = 0.2, L: float = 2.86,
         dim: str = "time", limits: str = "asymptotic", max_gap: Any = None,
         reset_on_alarm: bool = False) -> xr.Dataset:
    """EWMA chart (Roberts 1959; Lucas & Saccucci 1990): z_i = lam x_i + (1-lam) z_{i-1}, z_0 = target.

    Limits target +- L sigma sqrt(lam/(2-lam) [1 - (1-lam)^(2i)]) with ``limits="exact"`` (i =
    valid samples so far), or without the bracket with ``"asymptotic"`` (the ARL tables' design).
    Returns ``ewma``, ``ucl``, ``lcl``, ``alarm``, ``missing``, ``restart``.

    >>> import xarray as xr
    >>> ds = ewma(xr.DataArray([1.0, 1.0], dims="time"), target=0.0, sigma=1.0, lam=0.5, L=3.0)
    >>> ds.ewma.values.tolist(), round(float(ds.ucl), 4)
    ([0.5, 0.75], 1.7321)
    """
    where = "workbench.spc.ewma"
    if not (0 < lam <= 1 and np.isfinite(L) and L > 0):
        raise SPCInputError(f"{where}: need 0 < lam <= 1 and L > 0 (got lam={lam}, L={L}); "
                            f"the usual design is lam=0.2, L=2.86")
    if limits not in ("asymptotic", "exact"):
        raise SPCInputError(f"{where}: limits={limits!r}; use 'asymptotic' or 'exact'")
    da, units, tgt, sig, t, gap = _common(x, target, sigma, dim, max_gap, where)
    exact = limits == "exact"
    outs = apply_rows(K.ewma_rows, da, dim, [tgt, sig], [float, float, bool, bool, bool], t=t,
                      lam=float(lam), big_l=float(L), exact=exact, max_gap=gap,
                      reset=bool(reset_on_alarm))
    z, hw, alarm, miss, rst = (_order(o, da) for o in outs)
    if not exact:  # constant limits: keep them as small as the parameters
        hw = float(L) * sig * np.sqrt(lam / (2.0 - lam))
    ds = xr.Dataset({
        "ewma": z.assign_attrs(_unit_attrs(units), long_name="EWMA statistic"),
        "ucl": _as_var(tgt + hw, units, "ucl"), "lcl": _as_var(tgt - hw, units, "lcl"),
        "alarm": alarm, "missing": miss, "restart": rst,
        "target": _as_var(tgt, units, "target"), "sigma": _as_var(sig, units, "sigma"),
    })
    ds.attrs.update(detector="ewma", lam=float(lam), L=float(L), limits=limits, dim=dim,
                    reset_on_alarm=int(bool(reset_on_alarm)))
    return ds


def shewhart(x: Any, *, target: Any, sigma: Any, L: float = 3.0, dim: str = "time") -> xr.Dataset:
    """Shewhart individuals chart: alarm when a value lies outside target +- L sigma.

    Returns ``value`` (the data), ``center``, ``ucl``, ``lcl``, ``alarm``, ``alarm_upper``,
    ``alarm_lower``, ``missing``. ARL0 = 1/(2 Phi(-L)) = 370.4 for L = 3.

    >>> import xarray as xr
    >>> shewhart(xr.DataArray([0.0, 3.5, -2.0], dims="time"), target=0, sigma=1).alarm.values
    array([False,  True, False])
    """
    where = "workbench.spc.shewhart"
    if not (np.isfinite(L) and L > 0):
        raise SPCInputError(f"{where}: L must be > 0 (got {L}); 3 is the usual choice")
    da, units, tgt, sig, _, _ = _common(x, target, sigma, dim, None, where)
    outs = apply_rows(K.shewhart_rows, da, dim, [tgt, sig], [bool, bool, bool], big_l=float(L))
    a_up, a_lo, miss = (_order(o, da) for o in outs)
    ds = xr.Dataset({
        "value": da.assign_attrs(_unit_attrs(units)),
        "center": _as_var(tgt, units, "center"),
        "ucl": _as_var(tgt + float(L) * sig, units, "ucl"),
        "lcl": _as_var(tgt - float(L) * sig, units, "lcl"),
        "alarm": a_up | a_lo, "alarm_upper": a_up, "alarm_lower": a_lo, "missing": miss,
        "sigma": _as_var(sig, units, "sigma"),
    })
    ds.attrs.update(detector="shewhart", L=float(L), dim=dim)
    return ds


def focus(x: Any, *, target: Any, sigma: Any, threshold: float = FOCUS_THRESHOLD,
          dim: str = "time", max_gap: Any = None, reset_on_alarm: bool = False) -> xr.Dataset:
    """Online detector for a mean shift of *unknown* size and sign (FOCuS / GLR, known target).

    Statistic: max over change points tau of (S_n - S_tau)^2 / (2 (n - tau)) on the standardised
    partial sums S (the generalised likelihood ratio), computed exactly with the pruned convex
    hull of FOCuS (Romano et al. 2023, JMLR 24(81)). Alarm when it exceeds ``threshold``; the
    default gives ARL0 ~ 489 and delays within ~22 % of a CUSUM tuned to the true shift for
    0.5-3 sigma shifts (see benchmarks/spc_arl.py). Returns ``statistic`` (dimensionless),
    ``mean_shift`` (maximum-likelihood shift, data units), ``since`` (samples the shift has lasted),
    ``alarm``, ``missing``, ``restart`` and ``threshold``.

    >>> import xarray as xr
    >>> ds = focus(xr.DataArray([0.0] * 5 + [2.0] * 5, dims="time"), target=0, sigma=1)
    >>> int(ds.alarm.argmax("time")), float(ds.mean_shift[-1]), int(ds.since[-1])
    (8, 2.0, 5)
    """
    where = "workbench.spc.focus"
    if not (np.isfinite(threshold) and threshold > 0):
        raise SPCInputError(f"{where}: threshold must be > 0 (got {threshold}); default "
                            f"{FOCUS_THRESHOLD} gives ARL0 ~ 489")
    da, units, tgt, sig, t, gap = _common(x, target, sigma, dim, max_gap, where)
    outs = apply_rows(K.focus_rows, da, dim, [tgt, sig], [float, float, np.int64, bool, bool, bool],
                      t=t, threshold=float(threshold), max_gap=gap, reset=bool(reset_on_alarm))
    stat, shift, since, alarm, miss, rst = (_order(o, da) for o in outs)
    ds = xr.Dataset({
        "statistic": stat.assign_attrs(units="", long_name="GLR statistic (log-likelihood ratio)"),
        "mean_shift": shift.assign_attrs(_unit_attrs(units), long_name="estimated mean shift"),
        "since": since.assign_attrs(long_name="samples since the estimated change"),
        "alarm": alarm, "missing": miss, "restart": rst,
        "threshold": xr.DataArray(float(threshold)),
        "target": _as_var(tgt, units, "target"), "sigma": _as_var(sig, units, "sigma"),
    })
    ds.attrs.update(detector="focus", dim=dim, reset_on_alarm=int(bool(reset_on_alarm)))
    return ds

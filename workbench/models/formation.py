"""Formation analysis: cycler curves in, capacity / CE / dQ/dV / DCIR / K-value / grades / channel health out.

A *curve* is one cell's record as an ``xr.Dataset`` with dim ``sample`` and variables
``time`` (s), ``voltage`` (V), ``current`` (A, positive = charge), ``capacity`` (Ah, throughput
within the step, 0 at each step start), ``temperature`` (degC, may be NaN), ``step`` (running step
number) and ``cycle``; attrs carry ``cell_id`` and the source. Cells have different lengths, so a
set of cells is a ``dict`` cell_id -> curve (or the CF "contiguous ragged array" form of
:func:`stack_curves`); nothing is padded.

Reading cycler files (BDF, Novonix, Maccor, Neware, BioLogic, Arbin, PEC) and building curves lives in
:mod:`workbench.cyclers`; its public names are re-exported here (:func:`read_curve`, :func:`read_bdf`, ...).

Example
-------
>>> import numpy as np, xarray as xr
>>> t = np.arange(0.0, 7200.0, 60.0)
>>> cur = curve_from_arrays(time=t, voltage=3.5 + t / 36000, current=np.where(t < 3600, 1.0, -1.0))
>>> s = cycle_summary(cur)
>>> round(float(s.coulombic_efficiency.sel(cycle=1)), 3)
1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
import pint
import xarray as xr
from scipy import stats
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import isotonic_regression
from scipy.signal import find_peaks

from workbench.cyclers import read_curve
from workbench.cyclers.bdf import BDF_COLUMNS, curve_from_bdf, read_bdf
from workbench.cyclers.curve import (CURVE_UNITS, FormationDataError, NoPulseError, RestTooShortError,  # noqa: F401
                                     _as_curves, _first_direction, _step_sign, curve_from_arrays, stack_curves,
                                     unstack_curves, validate_curve)
from workbench.cyclers.novonix import NOVONIX_STEP_TYPES, read_novonix  # noqa: F401
from workbench.cyclers.repairs import FormationRepairError
from workbench.models.formation_grading import DEFAULT_GRADES, channel_imbalance, grade
from workbench.units import magnitude_in, to_units, ureg

__all__ = [
    "FormationDataError",
    "FormationRepairError",
    "RestTooShortError",
    "NoPulseError",
    "BDF_COLUMNS",
    "curve_from_arrays",
    "curve_from_bdf",
    "read_bdf",
    "read_novonix",
    "read_curve",
    "validate_curve",
    "stack_curves",
    "unstack_curves",
    "step_table",
    "cycle_summary",
    "dqdv",
    "dqdv_peaks",
    "dcir",
    "k_value",
    "summarise",
    "DEFAULT_GRADES",
    "grade",
    "channel_imbalance",
]


# ------------------------------------------------------------------------------------------------
# Steps and cycles
# ------------------------------------------------------------------------------------------------


def step_table(curve: xr.Dataset) -> pd.DataFrame:
    """One row per step: step, cycle, direction (charge/discharge/rest), start/end index and time (s),
    duration (s), median current (A), throughput (Ah), cc (constant current within 2 %).

    >>> c = curve_from_arrays(time=[0, 60, 120, 180], voltage=[3.6] * 4, current=[1.0, 1.0, -1.0, -1.0])
    >>> step_table(c).direction.tolist()
    ['charge', 'discharge']
    """
    return _prepare(curve).tab.copy()


class _Prepared(NamedTuple):
    """A validated curve and its step table, computed once and shared by the analyses."""

    c: xr.Dataset
    tab: pd.DataFrame


def _prepare(curve) -> _Prepared:
    if isinstance(curve, _Prepared):
        return curve
    c = validate_curve(curve)
    return _Prepared(c, _steps(c))


def _steps(c: xr.Dataset) -> pd.DataFrame:
    t, i, q, st = c.time.values, c.current.values, c.capacity.values, c.step.values
    starts = np.flatnonzero(np.r_[True, st[1:] != st[:-1]])
    ends = np.r_[starts[1:], len(st)] - 1
    sign = _step_sign(i, st)[starts]
    rows = []
    for a, b, s in zip(starts, ends, sign):
        seg = np.abs(i[a:b + 1])
        inner = seg[1:-1] if len(seg) > 4 else seg
        med = float(np.median(i[a:b + 1]))
        cc = bool(s != 0 and np.all(np.abs(inner - abs(med)) <= 0.02 * abs(med) + 1e-12))
        rows.append({"step": int(st[a]), "cycle": int(c.cycle.values[a]),
                     "direction": {1: "charge", -1: "discharge", 0: "rest"}[int(s)],
                     "start": int(a), "end": int(b), "t_start": float(t[a]), "t_end": float(t[b]),
                     "duration": float(t[b] - t[a]), "current": med, "throughput": float(q[b]), "cc": cc})
    return pd.DataFrame(rows)


def cycle_summary(curve: xr.Dataset, *, first: str = "auto") -> xr.Dataset:
    """Charge and discharge capacity per cycle (Ah), coulombic efficiency and loss.

    CE = out / in per cycle, where "in" is the cycle's first direction: discharge / charge for a full
    cell (``first="charge"``), delithiation / lithiation for a graphite-vs-Li half cell
    (``first="discharge"``); "auto" takes the discharge for a curve whose attrs name a half cell
    (``cell_type``, set by the readers), else the curve's first active step. ``loss`` = in - out (Ah);
    the first cycle's loss is the first-cycle (SEI) loss. A cycle lacking either direction has CE NaN.

    >>> import numpy as np
    >>> t = np.arange(0.0, 7200.0, 60.0)
    >>> cur = curve_from_arrays(time=t, voltage=3.5 + t / 36000, current=np.where(t < 3600, 1.0, -0.9))
    >>> round(float(cycle_summary(cur).coulombic_efficiency.sel(cycle=1)), 3)
    0.9
    """
    c, tab = _prepare(curve)
    if first == "auto" and str(c.attrs.get("cell_type", "")).startswith("half cell"):
        first = "discharge"              # an electrode vs Li metal (workbench.cyclers.checks.half_cell)
    sign = (1 if first == "charge" else -1) if first != "auto" else _first_direction(c.current.values, c.step.values)
    cycles = np.array(sorted(tab.cycle.unique()))
    # sum of step throughputs per (cycle, direction); a direction absent from a cycle stays NaN
    per = tab.groupby(["cycle", "direction"]).throughput.sum().unstack().reindex(index=cycles)
    ch = per["charge"].to_numpy(float) if "charge" in per else np.full(cycles.size, np.nan)
    dis = per["discharge"].to_numpy(float) if "discharge" in per else np.full(cycles.size, np.nan)
    q_in, q_out = (ch, dis) if sign > 0 else (dis, ch)
    with np.errstate(invalid="ignore", divide="ignore"):
        ce = q_out / q_in
    return xr.Dataset(
        {
            "charge_capacity": ("cycle", ch, {"units": "A*h"}),
            "discharge_capacity": ("cycle", dis, {"units": "A*h"}),
            "coulombic_efficiency": ("cycle", ce, {"units": "1",
                                                   "definition": "discharge/charge" if sign > 0 else "charge/discharge"}),
            "loss": ("cycle", q_in - q_out, {"units": "A*h", "long_name": "in - out per cycle (cycle 1: first-cycle loss)"}),
        },
        coords={"cycle": cycles},
        attrs={"cell_id": c.attrs.get("cell_id", ""), "first_direction": "charge" if sign > 0 else "discharge"},
    )


# ------------------------------------------------------------------------------------------------
# dQ/dV
# ------------------------------------------------------------------------------------------------


def _pick_cc_step(tab: pd.DataFrame, cycle: int, direction: str) -> pd.Series:
    cand = tab[(tab.cycle == cycle) & (tab.direction == direction) & tab.cc]
    if cand.empty:
        have = tab[tab.cc & (tab.direction != "rest")][["cycle", "direction"]].drop_duplicates().values.tolist()
        raise FormationDataError(f"no constant-current {direction} step in cycle {cycle}; "
                                 f"CC steps present (cycle, direction): {have}")
    return cand.loc[cand.throughput.idxmax()]


def dqdv(curve: xr.Dataset, *, cycle: int = 1, direction: str = "charge", dv: float = 0.001,
         smoothing: float = 0.01, max_c_rate: float | None = 0.2, nominal_capacity: float | None = None
         ) -> xr.DataArray:
    """Incremental capacity dQ/dV (Ah/V) of one CC step on a uniform voltage grid.

    Method (never raw ΔQ/ΔV): take the largest constant-current step of ``direction`` in ``cycle``;
    interpolate V(Q) onto a uniform Q grid; make V monotonic in Q (isotonic regression, which
    removes noise reversals); invert to Q(V) on a uniform grid of step ``dv`` (V); differentiate
    (central differences); smooth with a Gaussian of standard deviation ``smoothing`` (V, default
    0.01 V); ``dv`` and ``smoothing`` are volts or Quantities ("10 mV"). ``max_c_rate`` (1/h) refuses fast steps when a nominal capacity (Ah, argument or
    ``attrs["nominal_capacity_Ah"]``) is known; None switches the check off. Accepts a dict of curves
    and returns dims (cell, voltage), NaN outside each cell's range.

    >>> import numpy as np
    >>> q = np.linspace(0, 1, 2000)
    >>> v = 3.4 + 0.6 * q
    >>> c = curve_from_arrays(time=q * 3600, voltage=v, current=np.ones_like(q))
    >>> round(float(dqdv(c, smoothing=0.02).sel(voltage=3.7, method="nearest")), 2)
    1.67
    """
    if not isinstance(curve, xr.Dataset) or "row_size" in curve.variables:
        cells = _as_curves(curve)
        parts = [dqdv(cur, cycle=cycle, direction=direction, dv=dv, smoothing=smoothing, max_c_rate=max_c_rate,
                      nominal_capacity=nominal_capacity).expand_dims(cell=[cid]) for cid, cur in cells.items()]
        return xr.concat(parts, dim="cell", join="outer")
    if direction not in ("charge", "discharge"):
        raise ValueError(f"direction must be 'charge' or 'discharge', got {direction!r}")
    dv, smoothing = _in_units(dv, "V", "dv"), _in_units(smoothing, "V", "smoothing")
    if dv <= 0 or smoothing < 0:
        raise ValueError(f"dv must be > 0 and smoothing >= 0 (volts), got dv={dv}, smoothing={smoothing}")
    c, tab = _prepare(curve)
    step = _pick_cc_step(tab, cycle, direction)
    cap = nominal_capacity or c.attrs.get("nominal_capacity_Ah")
    c_rate = abs(step.current) / cap if cap and np.isfinite(cap) else np.nan
    if max_c_rate is not None and np.isfinite(c_rate) and c_rate > max_c_rate * 1.02:
        raise FormationDataError(f"step {step.step} runs at C/{1 / c_rate:.1f}; dQ/dV needs C/{1 / max_c_rate:.0f} "
                                 f"or slower (pass max_c_rate=None to override)")
    sl = slice(int(step.start), int(step.end) + 1)
    q, v = c.capacity.values[sl], c.voltage.values[sl]
    q_u, inv = np.unique(q, return_inverse=True)
    if q_u.size < 10:
        raise FormationDataError(f"step {step.step} has only {q_u.size} distinct capacity values; too few for dQ/dV")
    v_u = np.bincount(inv, weights=v) / np.bincount(inv)
    sign = 1.0 if direction == "charge" else -1.0
    q_grid = np.linspace(q_u[0], q_u[-1], max(4 * q_u.size, 400))
    u = isotonic_regression(sign * np.interp(q_grid, q_u, v_u)).x         # monotone V(Q)
    u_u, inv = np.unique(u, return_inverse=True)
    q_of_u = np.bincount(inv, weights=q_grid) / np.bincount(inv)
    lo, hi = np.ceil(u_u[0] / dv) * dv, np.floor(u_u[-1] / dv) * dv
    grid = np.round(np.arange(lo, hi + dv / 2, dv), 9)
    q_v = np.interp(grid, u_u, q_of_u)
    d = np.gradient(q_v, dv)
    if smoothing > 0:
        d = gaussian_filter1d(d, smoothing / dv, mode="nearest")
    volts = sign * grid
    order = np.argsort(volts)
    return xr.DataArray(
        d[order], dims="voltage", coords={"voltage": ("voltage", volts[order], {"units": "V"})}, name="dqdv",
        attrs={"units": "A*h/V", "cycle": int(cycle), "direction": direction, "step": int(step.step),
               "c_rate_per_h": float(c_rate), "grid_V": dv, "smoothing_V": smoothing,
               "method": "V(Q) on a uniform Q grid -> isotonic -> Q(V) on a uniform V grid -> "
                         "central difference -> Gaussian smoothing (sigma = smoothing_V)",
               "cell_id": c.attrs.get("cell_id", "")},
    )


def dqdv_peaks(da: xr.DataArray, *, prominence: float = 0.1) -> xr.DataArray:
    """Voltages (V) of dQ/dV peaks whose prominence exceeds ``prominence`` x the largest value.

    >>> import numpy as np
    >>> v = np.linspace(3, 4, 1001)
    >>> da = xr.DataArray(np.exp(-((v - 3.6) / 0.02) ** 2), dims="voltage", coords={"voltage": v})
    >>> dqdv_peaks(da).values.round(3).tolist()
    [3.6]
    """
    y = np.nan_to_num(da.values, nan=0.0)
    idx, _ = find_peaks(y, prominence=prominence * float(np.max(y)) if y.size else 0.0)
    return xr.DataArray(da.voltage.values[idx], dims="peak", name="peak_voltage", attrs={"units": "V"})


# ------------------------------------------------------------------------------------------------
# DCIR from current pulses
# ------------------------------------------------------------------------------------------------


def _net_charge(c: xr.Dataset, tab: pd.DataFrame) -> np.ndarray:
    """Signed charge (Ah) passed since the start of the record, per sample, from step throughput."""
    sign = np.zeros(c.sizes["sample"])
    done = np.zeros(c.sizes["sample"])
    total = 0.0
    for row in tab.itertuples():
        s = {"charge": 1.0, "discharge": -1.0, "rest": 0.0}[row.direction]
        sign[row.start:row.end + 1] = s
        done[row.start:row.end + 1] = total
        total += s * row.throughput
    return done + sign * c.capacity.values


def dcir(curve: xr.Dataset, *, dt=(1.0, 3.0, 10.0), max_pulse_s: float = 60.0,
         nominal_capacity: float | None = None) -> xr.Dataset:
    """DC internal resistance (mΩ) at each current pulse, after each Δt (s) in ``dt``.

    A pulse is a constant-current step shorter than ``max_pulse_s`` whose current differs from the
    step before by more than 10 % and after which the current returns to that level for at least as long
    as the pulse lasted (or until the record ends). With t0 = its
    first sample and "before" = the last sample of the previous step: DCIR(Δt) = (V(t0+Δt) − V_before) / (I(t0+Δt) − I_before), positive for charge and
    discharge pulses (current positive = charge); V(t0+Δt) is interpolated within the pulse, NaN
    if the pulse is shorter than Δt. Also reported: SOC (%) by coulomb counting from the end of the
    last full discharge before the pulse (else from the record start), over ``nominal_capacity`` (or
    attrs["nominal_capacity_Ah"], else the largest discharge capacity in the record), temperature
    (degC) and current at t0.

    >>> import numpy as np
    >>> t = np.r_[np.arange(0, 60.0, 1.0), 60 + np.arange(0, 10.01, 0.1)]
    >>> i = np.where(t < 60, 0.0, -2.0)
    >>> v = 3.7 + i * 1e-3                           # 1 mΩ, purely ohmic
    >>> round(float(dcir(curve_from_arrays(time=t, voltage=v, current=i)).dcir.sel(dt=1.0)[0]), 3)
    1.0
    """
    prep = _prepare(curve)
    c, tab = prep
    t, v, i, temp = c.time.values, c.voltage.values, c.current.values, c.temperature.values
    dts = np.array([_seconds(d, "dt") for d in np.atleast_1d(np.asarray(dt, dtype=object))])
    pulses = []
    for k in range(1, len(tab)):
        p, prev = tab.iloc[k], tab.iloc[k - 1]
        jump = abs(p.current - i[prev.end])
        if p.direction == "rest" or not p.cc or p.duration > max_pulse_s or jump <= 0.1 * abs(p.current):
            continue
        # a pulse returns to the level it left (a CC step cut short by a voltage limit does not) and stays there
        # at least as long as the pulse lasted, unless the record ends: a charge interrupted for a moment and then
        # continued is no pulse (the voltage it moves is the charge's, e.g. the first seconds of a formation charge)
        nxt = tab.iloc[k + 1] if k + 1 < len(tab) else None
        after = nxt.current if nxt is not None else i[prev.end]
        if abs(after - i[prev.end]) > 0.1 * jump:
            continue
        if nxt is not None and k + 2 < len(tab) and nxt.duration < p.duration:
            continue
        pulses.append((p, prev))
    if not pulses:
        raise NoPulseError(f"{c.attrs.get('cell_id', 'curve')}: no current pulse (a non-rest step shorter than "
                           f"{max_pulse_s} s after a different current); nothing to compute DCIR from")
    net = _net_charge(c, tab)
    ref = nominal_capacity or c.attrs.get("nominal_capacity_Ah")
    if not ref or not np.isfinite(ref):
        dis = cycle_summary(prep).discharge_capacity.values
        ref = float(np.nanmax(dis)) if np.isfinite(dis).any() else np.nan
    rows = []
    for p, prev in pulses:
        a, b, before = int(p.start), int(p.end), int(prev.end)
        t0 = t[a]
        r = []
        for d in dts:
            if t0 + d > t[b] + 1e-9:
                r.append(np.nan)
                continue
            vd, idd = np.interp(t0 + d, t[a:b + 1], v[a:b + 1]), np.interp(t0 + d, t[a:b + 1], i[a:b + 1])
            r.append((vd - v[before]) / (idd - i[before]) * 1e3)
        full = tab[(tab.direction == "discharge") & (tab.duration > max_pulse_s) & (tab.end < a)]
        bottom = int(full.end.iloc[-1]) if len(full) else 0    # last full discharge, else the record start
        soc = 100.0 * (net[before] - net[bottom]) / ref
        rows.append((r, t0, soc, temp[a], i[a], v[before], int(p.step)))
    r, t0, soc, tc, ic, vb, stp = (list(x) for x in zip(*rows))
    return xr.Dataset(
        {
            "dcir": (("pulse", "dt"), np.array(r), {"units": "mohm",
                                                   "definition": "(V(t0+dt) - V_before) / (I(t0+dt) - I_before)"}),
            "t0": ("pulse", np.array(t0), {"units": "s"}),
            "soc": ("pulse", np.array(soc), {"units": "percent", "method": "coulomb counting from the end of "
                                                                           "the last full discharge"}),
            "temperature": ("pulse", np.array(tc), {"units": "degC"}),
            "current": ("pulse", np.array(ic), {"units": "A"}),
            "v_before": ("pulse", np.array(vb), {"units": "V"}),
            "step": ("pulse", np.array(stp)),
        },
        coords={"pulse": np.arange(len(rows)), "dt": ("dt", dts, {"units": "s"})},
        attrs={"cell_id": c.attrs.get("cell_id", ""), "soc_reference_Ah": float(ref)},
    )


# ------------------------------------------------------------------------------------------------
# K-value from an OCV rest
# ------------------------------------------------------------------------------------------------


def _in_units(x, units: str, name: str) -> float:
    """A float in ``units`` from a bare number (taken as ``units``), a Quantity, a unit string
    ('12 h', '10 mV') or a pd.Timedelta (durations). Wrong kinds raise DimensionalityError naming ``name``."""
    if isinstance(x, (int, float, np.floating, np.integer)):
        return float(x)
    if isinstance(x, pd.Timedelta):
        x = ureg.Quantity(x.total_seconds(), "s")
    if isinstance(x, str):
        try:
            x = ureg.Quantity(x)
        except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, ValueError, AttributeError) as exc:
            raise ValueError(f"{name}: {x!r} is not a quantity in {units} (e.g. '12 h', '10 mV'): {exc}") from None
    return float(magnitude_in(x, units, name=name))


def _seconds(x, name: str) -> float:
    return _in_units(x, "s", name)


def _ocv_at(t: np.ndarray, v: np.ndarray, at: float, window: float) -> float:
    near = np.abs(t - at) <= window / 2
    return float(np.mean(v[near])) if near.any() else float(np.interp(at, t, v))


def k_value(curve: xr.Dataset, *, t1="1 day", t2=None, min_relaxation="12 h", min_span="1 day",
            window="30 min") -> xr.Dataset:
    """Self-discharge K-value (mV/day) from the longest open-circuit rest: (OCV₁ − OCV₂) / (t₂ − t₁).

    ``t1``/``t2`` are durations into the rest (default: 1 day, and the end of the rest). OCV at a
    time is the mean voltage within ±``window``/2. Refused with :class:`RestTooShortError`: OCV₁ less
    than ``min_relaxation`` after the last current (that measures relaxation, not self-discharge) or
    t₂ − t₁ shorter than ``min_span``.

    >>> import numpy as np
    >>> t = np.arange(0, 4 * 86400.0, 3600.0)
    >>> v = 3.7 - 1e-3 * t / 86400                   # 1 mV/day
    >>> c = curve_from_arrays(time=t, voltage=v, current=np.zeros_like(t))
    >>> round(float(k_value(c).k_value), 3)
    1.0
    """
    c, tab = _prepare(curve)
    rests = tab[tab.direction == "rest"]
    if rests.empty:
        raise RestTooShortError(f"{c.attrs.get('cell_id', 'curve')}: no open-circuit rest in the record")
    rest = rests.loc[rests.duration.idxmax()]
    t, v = c.time.values[rest.start:rest.end + 1], c.voltage.values[rest.start:rest.end + 1]
    t_rest = rest.t_start if rest.start == 0 else c.time.values[rest.start - 1]   # last current sample
    s1 = _seconds(t1, "t1")
    s2 = rest.t_end - t_rest if t2 is None else _seconds(t2, "t2")
    relax, span, win = (_seconds(x, n) for x, n in ((min_relaxation, "min_relaxation"), (min_span, "min_span"),
                                                    (window, "window")))
    where = f"{c.attrs.get('cell_id', 'curve')} step {rest.step}"
    if s1 < relax:
        raise RestTooShortError(f"{where}: OCV1 at {s1 / 3600:.1f} h into the rest is < {relax / 3600:.1f} h after the "
                                f"last current; right after formation the voltage still relaxes, which is not "
                                f"self-discharge. Take t1 >= min_relaxation")
    if s2 > rest.t_end - t_rest + 1e-6 or s2 - s1 < span:
        raise RestTooShortError(f"{where}: the rest lasts {(rest.t_end - t_rest) / 3600:.1f} h; K needs OCV readings "
                                f"from {relax / 3600:.0f} h on, spanning >= {span / 3600:.0f} h (t1={s1 / 3600:.1f} h, "
                                f"t2={s2 / 3600:.1f} h). Rest longer (days on the aging shelf)")
    o1, o2 = _ocv_at(t, v, t_rest + s1, win), _ocv_at(t, v, t_rest + s2, win)
    k = (o1 - o2) * 1e3 / ((s2 - s1) / 86400.0)
    return xr.Dataset(
        {"k_value": ((), k, {"units": "mV/day", "definition": "(OCV1 - OCV2) / (t2 - t1)"}),
         "ocv1": ((), o1, {"units": "V"}), "ocv2": ((), o2, {"units": "V"}),
         "t1": ((), s1, {"units": "s", "long_name": "time into the rest"}),
         "t2": ((), s2, {"units": "s", "long_name": "time into the rest"})},
        attrs={"cell_id": c.attrs.get("cell_id", ""), "step": int(rest.step), "window_s": win},
    )


# ------------------------------------------------------------------------------------------------
# Per-cell summary, grading, channel imbalance
# ------------------------------------------------------------------------------------------------


def summarise(curves, *, dt: float = 10.0, k_t1="1 day", k_t2=None) -> xr.Dataset:
    """Per-cell results from a set of curves (dict or stacked): first-cycle charge/discharge capacity,
    CE and loss, DCIR at ``dt`` (first pulse; NaN without pulses) and K-value (NaN if the record has
    no rest long enough), dims ``cell``.

    >>> import numpy as np
    >>> t = np.arange(0.0, 7200.0, 60.0)
    >>> c = curve_from_arrays(time=t, voltage=3.5 + t / 36000, current=np.where(t < 3600, 1.0, -0.9))
    >>> round(float(summarise({"x": c}).discharge_capacity[0]), 3)
    0.885
    """
    cells = _as_curves(curves)
    rows = []
    for cid, cur in cells.items():
        cur = _prepare(cur)                   # validate and tabulate steps once for all analyses
        s = cycle_summary(cur)
        both = s.charge_capacity.notnull() & s.discharge_capacity.notnull()
        s1 = s.isel(cycle=int(np.argmax(both.values))) if bool(both.any()) else s.isel(cycle=0)
        try:
            d = float(dcir(cur, dt=(dt,)).dcir.isel(pulse=0, dt=0))
        except NoPulseError:
            d = np.nan
        try:
            k = float(k_value(cur, t1=k_t1, t2=k_t2).k_value)
        except RestTooShortError:
            k = np.nan
        rows.append((cid, float(s1.charge_capacity), float(s1.discharge_capacity),
                     float(s1.coulombic_efficiency), float(s1.loss), d, k))
    ids, ch, dis, ce, loss, d, k = (list(x) for x in zip(*rows))
    return xr.Dataset(
        {"charge_capacity": ("cell", ch, {"units": "A*h"}), "discharge_capacity": ("cell", dis, {"units": "A*h"}),
         "coulombic_efficiency": ("cell", ce, {"units": "1"}), "first_cycle_loss": ("cell", loss, {"units": "A*h"}),
         "dcir": ("cell", d, {"units": "mohm", "dt_s": dt}), "k_value": ("cell", k, {"units": "mV/day"})},
        coords={"cell": np.arange(len(ids)), "cell_id": ("cell", np.array(ids, dtype=str))},
    )


# ------------------------------------------------------------------------------------------------
# Accessor
# ------------------------------------------------------------------------------------------------


@xr.register_dataset_accessor("formation")
class FormationAccessor:
    """``ds.formation.<fn>(...)``: the functions above on a curve (or a results) Dataset.

    >>> c = curve_from_arrays(time=[0, 60, 120], voltage=[3.6, 3.61, 3.62], current=[1.0, 1.0, 1.0])
    >>> float(c.formation.cycle_summary().charge_capacity[0]).__round__(4)
    0.0333
    """

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def validate(self):
        return validate_curve(self._ds)

    def steps(self):
        return step_table(self._ds)

    def cycle_summary(self, **kw):
        return cycle_summary(self._ds, **kw)

    def dqdv(self, **kw):
        return dqdv(self._ds, **kw)

    def dcir(self, **kw):
        return dcir(self._ds, **kw)

    def k_value(self, **kw):
        return k_value(self._ds, **kw)

    def grade(self, rules=None):
        return grade(self._ds, rules)

    def channel_imbalance(self, variable: str = "discharge_capacity", **kw):
        return channel_imbalance(self._ds, variable, **kw)

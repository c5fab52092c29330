"""Curves: one cell's cycler record as an ``xr.Dataset`` (dim ``sample``), built and checked here.

Variables ``time`` (s), ``voltage`` (V), ``current`` (A, positive = charge), ``capacity`` (Ah, throughput
within the step, 0 at each step start), ``temperature`` (degC, may be NaN), ``step`` (running step number)
and ``cycle``; attrs carry ``cell_id``, the ``source`` file, its ``format`` and the ``repairs`` made while
reading. A set of cells is a dict cell_id -> curve or the CF contiguous ragged array of :func:`stack_curves`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from workbench.units import to_units

class FormationDataError(ValueError):
    """Formation data that cannot be used as given; the message names the file/column/row and the fix."""


class RestTooShortError(FormationDataError):
    """An OCV rest too short, or read too soon after current flowed, to measure self-discharge."""


class NoPulseError(FormationDataError):
    """No current pulse in the curve to compute DCIR from."""


CURVE_UNITS = {"time": "s", "voltage": "V", "current": "A", "capacity": "A*h", "temperature": "degC"}

# ------------------------------------------------------------------------------------------------
# Building and checking curves
# ------------------------------------------------------------------------------------------------


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _line(row0, i: int) -> int:
    """File line of data row ``i``: ``row0 + i``, or ``row0[i]`` when the reader kept each row's line."""
    return int(row0[i]) if isinstance(row0, np.ndarray) else int(row0 + i)


def _check_time(t: np.ndarray, where: str, row0, step: np.ndarray | None = None) -> None:
    """NaN, duplicate or decreasing test time -> an error naming the row (file line = index + row0, or
    ``row0[index]`` when row0 is an array of file lines). Two records at one time are allowed where the
    step changes (cyclers log the end of one step and the start of the next at the same instant)."""
    if not np.all(np.isfinite(t)):
        i = _first_bad(~np.isfinite(t))
        raise FormationDataError(f"{where}: time is NaN/missing at row {_line(row0, i)}; drop or fill that row")
    d = np.diff(t)
    same = d == 0
    if step is not None:
        same &= np.asarray(step)[1:] == np.asarray(step)[:-1]
    if np.any(same):
        i = _first_bad(same) + 1
        raise FormationDataError(f"{where}: duplicate time {t[i]} s at row {_line(row0, i)} (same as the row before); "
                                 f"drop duplicates, e.g. df.drop_duplicates(subset=<time column>)")
    if np.any(d < 0):
        i = _first_bad(d < 0) + 1
        raise FormationDataError(f"{where}: time goes backwards at row {_line(row0, i)} ({t[i - 1]} -> {t[i]} s); "
                                 f"sort by time or split the file where the test was restarted")


def _segments_from_mode(current: np.ndarray) -> np.ndarray:
    """Step numbers when the file has none: a new step where the current's sign/level changes."""
    mode = _mode(current)
    level = np.abs(current)
    jump = np.abs(np.diff(level)) > 0.05 * np.maximum(level[1:], level[:-1]) + _tol(current)
    change = np.r_[False, (mode[1:] != mode[:-1]) | jump]
    return np.cumsum(change) + 1


def _tol(current: np.ndarray) -> float:
    """Current below 0.01 % of the largest current counts as rest.

    Cycler offsets are ~0.01-0.02 % of range; a CV tail (C/50 after a 3C pulse is 0.7 %) must
    still count as charge, or its capacity would be lost from the cycle.
    """
    peak = float(np.nanmax(np.abs(current))) if current.size else 0.0
    return max(1e-4 * peak, 1e-9)


def _mode(current: np.ndarray) -> np.ndarray:
    tol = _tol(current)
    return np.where(current > tol, 1, np.where(current < -tol, -1, 0))


def _renumber(step_source: np.ndarray) -> np.ndarray:
    """Running step number 1, 2, ... that changes whenever the source step id changes."""
    s = np.asarray(step_source)
    return np.cumsum(np.r_[True, s[1:] != s[:-1]])


def _throughput(cap: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Per-step throughput from a cycler capacity column, whatever its reset convention.

    Cyclers reset capacity per step (Landt/BDF), keep it per cycle (Novonix, Arbin) or count net
    charge. A step whose first value continues the previous step's last value is measured from that
    value; a step that starts near zero from zero. The absolute difference is the step's throughput.
    """
    starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]])
    first = cap[starts]
    prev_last = np.r_[0.0, cap[starts[1:] - 1]]
    ref = np.where(np.abs(first - prev_last) <= np.abs(first), prev_last, 0.0)
    seg = np.cumsum(np.r_[True, step[1:] != step[:-1]]) - 1
    return np.abs(cap - ref[seg])


def _integrated_throughput(time: np.ndarray, current: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Per-step |∫I dt| (Ah) by the trapezoid rule, restarting at each step."""
    inc = np.r_[0.0, 0.5 * (current[1:] + current[:-1]) * np.diff(time) / 3600.0]
    inc[np.r_[True, step[1:] != step[:-1]]] = 0.0
    seg = np.cumsum(np.r_[True, step[1:] != step[:-1]]) - 1
    csum = np.cumsum(inc)
    base = csum[np.flatnonzero(np.r_[True, step[1:] != step[:-1]])]
    return np.abs(csum - base[seg])


def _derive_cycles(current: np.ndarray, step: np.ndarray, first: str) -> np.ndarray:
    """Cycle numbers when the file has none: a cycle starts at a `first`-direction step after the other."""
    starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]])
    sign_first = _first_direction(current, step) if first == "auto" else (1 if first == "charge" else -1)
    direction = _opening_sign(current, step)[starts]
    cycle, seen_other, out = 1, False, np.empty(len(starts), dtype=np.int64)
    for k, d in enumerate(direction):
        if d == -sign_first:
            seen_other = True
        elif d == sign_first and seen_other:
            cycle, seen_other = cycle + 1, False
        out[k] = cycle
    seg = np.cumsum(np.r_[True, step[1:] != step[:-1]]) - 1
    return out[seg]


def _opening_sign(current: np.ndarray, step: np.ndarray) -> np.ndarray:
    """:func:`_step_sign` as far as opening cycles goes: a step of one record (a cycler's step-transition record,
    no duration, no charge moved) neither opens nor closes a cycle."""
    d = _step_sign(current, step)
    seg = np.cumsum(np.r_[True, step[1:] != step[:-1]]) - 1
    return np.where(np.bincount(seg)[seg] > 1, d, 0)


def _first_direction(current: np.ndarray, step: np.ndarray) -> int:
    """Direction of the first step that charges or discharges (an impedance sweep or a one-record step before it
    does not count)."""
    d = _opening_sign(current, step)
    active = d[d != 0]
    return int(active[0]) if active.size else 1


def curve_from_arrays(*, time, voltage, current, capacity=None, temperature=None, step=None, cycle=None,
                      charge_capacity=None, discharge_capacity=None, first: str = "auto",
                      cell_id: str = "cell", source: str = "<arrays>", row0: int = 0,
                      attrs: dict | None = None) -> xr.Dataset:
    """Build a checked curve Dataset from plain arrays in canonical units (s, V, A, Ah, degC).

    ``capacity`` may be any cycler convention (reset per step, per cycle, cumulative); it is turned
    into per-step throughput. Alternatively give ``charge_capacity``/``discharge_capacity`` columns
    (BDF). Without any, capacity is integrated from the current. Without ``step``, steps are found
    from changes of the current; without ``cycle``, a cycle starts at each ``first``-direction step
    ("charge" for full cells, "discharge" for a graphite-vs-Li half cell; "auto": the first one).

    >>> c = curve_from_arrays(time=[0, 60, 120], voltage=[3.6, 3.61, 3.62], current=[1.0, 1.0, 1.0])
    >>> round(float(c.capacity[-1]), 4)
    0.0333
    """
    t = np.asarray(time, dtype=float)
    v, i = np.asarray(voltage, dtype=float), np.asarray(current, dtype=float)
    n = len(t)
    for name, arr in (("voltage", v), ("current", i)):
        if len(arr) != n:
            raise FormationDataError(f"{source}: {name} has {len(arr)} values but time has {n}")
        if not np.all(np.isfinite(arr)):
            raise FormationDataError(f"{source}: {name} is NaN/missing at row {_line(row0, _first_bad(~np.isfinite(arr)))}; "
                                     f"drop or fill that row")
    if n < 2:
        raise FormationDataError(f"{source}: a curve needs at least 2 samples, got {n}")
    for name, arr in (("step", step), ("cycle", cycle)):
        if arr is not None and not np.all(np.isfinite(np.asarray(arr, dtype=float))):
            bad = _first_bad(~np.isfinite(np.asarray(arr, dtype=float)))
            raise FormationDataError(f"{source}: {name} number is missing at row {_line(row0, bad)}; fill it or drop "
                                     f"the column (steps/cycles are then derived from the current)")
    if first not in ("auto", "charge", "discharge"):
        raise ValueError(f"first must be 'auto', 'charge' or 'discharge', got {first!r}")
    st = _renumber(np.asarray(step)) if step is not None else _segments_from_mode(i)
    _check_time(t, source, row0, st)
    cy = np.asarray(cycle, dtype=np.int64) if cycle is not None else _derive_cycles(i, st, first)
    if capacity is not None:
        q = _throughput(np.asarray(capacity, dtype=float), st)
    elif charge_capacity is not None or discharge_capacity is not None:
        qc = _throughput(np.nan_to_num(np.asarray(charge_capacity if charge_capacity is not None else np.zeros(n), float)), st)
        qd = _throughput(np.nan_to_num(np.asarray(discharge_capacity if discharge_capacity is not None else np.zeros(n), float)), st)
        q = np.where(_step_sign(i, st) < 0, qd, qc)
    else:
        q = _integrated_throughput(t, i, st)
    temp = np.full(n, np.nan) if temperature is None else np.asarray(temperature, dtype=float)
    ds = xr.Dataset(
        {
            "time": ("sample", t, {"units": "s"}),
            "voltage": ("sample", v, {"units": "V"}),
            "current": ("sample", i, {"units": "A", "sign": "positive = charge"}),
            "capacity": ("sample", q, {"units": "A*h", "long_name": "throughput within the step"}),
            "temperature": ("sample", temp, {"units": "degC"}),
            "step": ("sample", st.astype(np.int64), {"units": "1"}),
            "cycle": ("sample", cy, {"units": "1"}),
        },
        attrs={"cell_id": str(cell_id), "source": str(source), **(attrs or {})},
    )
    return ds


# a step whose current takes both signs and whose net charge is below this share of the charge moved either
# way (its main direction carries less than 3/4 of it) is alternating current (an impedance sweep, a sine): it
# neither charges nor discharges the cell, and its sign must not open or split a cycle
AC_NET_SHARE = 0.5


def _step_sign(current: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Per-row direction of the row's step (median current sign): +1 charge, -1 discharge, 0 rest; 0 also for
    an alternating-current step (both signs, net charge < :data:`AC_NET_SHARE` of the gross)."""
    mode = _mode(current)
    seg = np.cumsum(np.r_[True, step[1:] != step[:-1]]) - 1
    med = pd.Series(mode).groupby(seg).median().to_numpy(copy=True)
    n = int(seg[-1]) + 1 if seg.size else 0
    both = (np.bincount(seg, mode > 0, n) > 0) & (np.bincount(seg, mode < 0, n) > 0)
    net, gross = np.abs(np.bincount(seg, current, n)), np.bincount(seg, np.abs(current), n)
    med[both & (net < AC_NET_SHARE * gross)] = 0.0
    return np.sign(med)[seg]


def validate_curve(curve: xr.Dataset, *, name: str = "curve") -> xr.Dataset:
    """Check a curve Dataset and return it in canonical units (s, V, A, Ah, degC).

    Missing variables, wrong units (a DimensionalityError naming the variable), NaN or
    non-increasing time raise errors that say what to fix.

    >>> c = curve_from_arrays(time=[0, 1], voltage=[3.7, 3.7], current=[0.0, 0.0])
    >>> validate_curve(c.assign(voltage=c.voltage.assign_attrs(units="mV") * 1000)).voltage.attrs["units"]
    'V'
    """
    if not isinstance(curve, xr.Dataset):
        raise TypeError(f"{name}: expected an xarray Dataset (one cell's curve), got {type(curve).__name__}")
    need = ("time", "voltage", "current", "step", "cycle")
    missing = [v for v in need if v not in curve.variables]
    if missing:
        raise FormationDataError(f"{name} ({curve.attrs.get('cell_id', '?')}): missing variable(s) {missing}; "
                                 f"build curves with read_curve() or curve_from_arrays()")
    out = curve.copy()
    for var, unit in CURVE_UNITS.items():
        if var in out.variables:
            da = out[var]
            if "units" not in da.attrs and var != "temperature":
                raise FormationDataError(f"{name}: variable {var!r} has no attrs['units']; set it (expected {unit!r})")
            if "units" in da.attrs and da.attrs["units"] != unit:     # convert only when needed (speed)
                out[var] = to_units(da, unit, name=f"{name}.{var}")
    _check_time(out.time.values.astype(float), f"{name} ({out.attrs.get('cell_id', '?')})", 0, out.step.values)
    if "capacity" not in out.variables:
        out["capacity"] = ("sample", _integrated_throughput(out.time.values, out.current.values, out.step.values),
                           {"units": "A*h"})
    if "temperature" not in out.variables:
        out["temperature"] = ("sample", np.full(out.sizes["sample"], np.nan), {"units": "degC"})
    return out


# ------------------------------------------------------------------------------------------------
# Ragged sets of curves (CF contiguous ragged array; no padding)
# ------------------------------------------------------------------------------------------------


def _as_curves(curves) -> dict:
    if isinstance(curves, xr.Dataset):
        return unstack_curves(curves) if "row_size" in curves.variables else {curves.attrs.get("cell_id", "cell"): curves}
    if isinstance(curves, Mapping):
        return dict(curves)
    raise TypeError(f"curves: expected a Dataset or a dict cell_id -> Dataset, got {type(curves).__name__}")


def stack_curves(curves: Mapping) -> xr.Dataset:
    """Concatenate cells' curves along ``sample`` with ``row_size(cell)`` (CF contiguous ragged array).

    >>> a = curve_from_arrays(time=[0, 1], voltage=[3.6, 3.6], current=[0.0, 0.0], cell_id="a")
    >>> b = curve_from_arrays(time=[0, 1, 2], voltage=[3.7] * 3, current=[0.0] * 3, cell_id="b")
    >>> stack_curves({"a": a, "b": b}).row_size.values.tolist()
    [2, 3]
    """
    ids = list(curves)
    parts = [curves[k].drop_vars([v for v in curves[k].coords if v != "sample"], errors="ignore") for k in ids]
    flat = xr.concat(parts, dim="sample", data_vars="all", coords="minimal", compat="override",
                     combine_attrs="override")          # keeps each variable's units
    flat = flat.drop_vars("sample", errors="ignore")
    flat["row_size"] = ("cell", np.array([p.sizes["sample"] for p in parts], dtype=np.int64),
                        {"sample_dimension": "sample"})
    flat = flat.assign_coords(cell_id=("cell", np.array(ids, dtype=str)))
    flat.attrs = {"featureType": "timeSeries", "ragged": "contiguous; see row_size"}
    return flat


def unstack_curves(stacked: xr.Dataset) -> dict:
    """Inverse of :func:`stack_curves`: a dict cell_id -> curve (each its own length)."""
    if "row_size" not in stacked.variables:
        raise FormationDataError("stacked curves need a row_size(cell) variable (CF contiguous ragged array)")
    ends = np.cumsum(stacked.row_size.values)
    if ends[-1] != stacked.sizes["sample"]:
        raise FormationDataError(f"row_size sums to {ends[-1]} but there are {stacked.sizes['sample']} samples")
    body = stacked.drop_vars(["row_size", "cell_id"])
    out = {}
    for cid, a, b in zip(stacked.cell_id.values, np.r_[0, ends[:-1]], ends):
        out[str(cid)] = body.isel(sample=slice(int(a), int(b))).assign_attrs(cell_id=str(cid))
    return out



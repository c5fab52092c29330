"""Formation analysis: cycler curves in, capacity / CE / dQ/dV / DCIR / K-value / grades / channel health out.

A *curve* is one cell's record as an ``xr.Dataset`` with dim ``sample`` and variables
``time`` (s), ``voltage`` (V), ``current`` (A, positive = charge), ``capacity`` (Ah, throughput
within the step, 0 at each step start), ``temperature`` (degC, may be NaN), ``step`` (running step
number) and ``cycle``; attrs carry ``cell_id`` and the source. Cells have different lengths, so a
set of cells is a ``dict`` cell_id -> curve (or the CF "contiguous ragged array" form of
:func:`stack_curves`); nothing is padded.

Readers: :func:`read_bdf` (Battery Data Format CSV, human labels such as ``Voltage / V`` with their
units converted, or machine names such as ``voltage_volt``), :func:`read_novonix` (Novonix HPC
export with [Summary]/[Protocol]/[Data]) and :func:`read_curve` (either, by sniffing).

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

import io
import re
from collections.abc import Mapping
from typing import NamedTuple
from pathlib import Path

import numpy as np
import pandas as pd
import pint
import xarray as xr
from scipy import stats
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import isotonic_regression
from scipy.signal import find_peaks

from workbench.units import DimensionalityError, magnitude_in, parse_unit, to_units, ureg

__all__ = [
    "FormationDataError",
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


class FormationDataError(ValueError):
    """Formation data that cannot be used as given; the message names the file/column/row and the fix."""


class RestTooShortError(FormationDataError):
    """An OCV rest too short, or read too soon after current flowed, to measure self-discharge."""


class NoPulseError(FormationDataError):
    """No current pulse in the curve to compute DCIR from."""


CURVE_UNITS = {"time": "s", "voltage": "V", "current": "A", "capacity": "A*h", "temperature": "degC"}

# canonical name -> (BDF human label name, its unit), machine-readable aliases with fixed units
BDF_COLUMNS = {
    "time": (("Test Time", "s"), ("test_time_second", "s")),
    "voltage": (("Voltage", "V"), ("voltage_volt", "V")),
    "current": (("Current", "A"), ("current_ampere", "A")),
    "cycle": (("Cycle Count", "1"), ("cycle_count", "1"), ("cycle_index", "1")),
    "step": (("Step Count", "1"), ("Step Index", "1"), ("step_count", "1"), ("step_index", "1")),
    "unix_time": (("Unix Time", "s"), ("unix_time_second", "s")),
    "charge_capacity": (("Charging Capacity", "A*h"), ("charging_capacity_ah", "A*h"),
                        ("charging_capacity_ampere_hour", "A*h")),
    "discharge_capacity": (("Discharging Capacity", "A*h"), ("discharging_capacity_ah", "A*h"),
                           ("discharging_capacity_ampere_hour", "A*h")),
    "temperature": (("Ambient Temperature", "degC"), ("ambient_temperature_celsius", "degC"),
                    ("Surface Temperature", "degC"), ("surface_temperature_celsius", "degC"),
                    ("Temperature T1", "degC"), ("temperature_t1_celsius", "degC")),
}
_REQUIRED_BDF = ("time", "voltage", "current")
_LABEL = re.compile(r"^\s*(?P<name>[^/]+?)\s*/\s*(?P<unit>.+?)\s*$")
_UNIT_ALIASES = {"°C": "degC", "degc": "degC", "ah": "A*h", "mah": "mA*h", "1": "dimensionless", "-": "dimensionless"}


# ------------------------------------------------------------------------------------------------
# Building and checking curves
# ------------------------------------------------------------------------------------------------


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_time(t: np.ndarray, where: str, row0: int) -> None:
    """NaN, duplicate or decreasing test time -> an error naming the row (file line = index + row0)."""
    if not np.all(np.isfinite(t)):
        i = _first_bad(~np.isfinite(t))
        raise FormationDataError(f"{where}: time is NaN/missing at row {i + row0}; drop or fill that row")
    d = np.diff(t)
    if np.any(d == 0):
        i = _first_bad(d == 0) + 1
        raise FormationDataError(f"{where}: duplicate time {t[i]} s at row {i + row0} (same as the row before); "
                                 f"drop duplicates, e.g. df.drop_duplicates(subset=<time column>)")
    if np.any(d < 0):
        i = _first_bad(d < 0) + 1
        raise FormationDataError(f"{where}: time goes backwards at row {i + row0} ({t[i - 1]} -> {t[i]} s); "
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
    mode = _mode(current)
    starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]])
    ends = np.r_[starts[1:], len(step)]
    sign_first = _first_direction(current, step) if first == "auto" else (1 if first == "charge" else -1)
    cycle, seen_other, out = 1, False, np.empty(len(starts), dtype=np.int64)
    for k, (a, b) in enumerate(zip(starts, ends)):
        d = int(np.sign(np.median(mode[a:b])))
        if d == -sign_first:
            seen_other = True
        elif d == sign_first and seen_other:
            cycle, seen_other = cycle + 1, False
        out[k] = cycle
    seg = np.cumsum(np.r_[True, step[1:] != step[:-1]]) - 1
    return out[seg]


def _first_direction(current: np.ndarray, step: np.ndarray) -> int:
    mode = _mode(current)
    active = mode[mode != 0]
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
            raise FormationDataError(f"{source}: {name} is NaN/missing at row {_first_bad(~np.isfinite(arr)) + row0}; "
                                     f"drop or fill that row")
    if n < 2:
        raise FormationDataError(f"{source}: a curve needs at least 2 samples, got {n}")
    _check_time(t, source, row0)
    for name, arr in (("step", step), ("cycle", cycle)):
        if arr is not None and not np.all(np.isfinite(np.asarray(arr, dtype=float))):
            bad = _first_bad(~np.isfinite(np.asarray(arr, dtype=float)))
            raise FormationDataError(f"{source}: {name} number is missing at row {bad + row0}; fill it or drop "
                                     f"the column (steps/cycles are then derived from the current)")
    if first not in ("auto", "charge", "discharge"):
        raise ValueError(f"first must be 'auto', 'charge' or 'discharge', got {first!r}")
    st = _renumber(np.asarray(step)) if step is not None else _segments_from_mode(i)
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


def _step_sign(current: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Per-row direction of the row's step (median current sign): +1 charge, -1 discharge, 0 rest."""
    mode = _mode(current)
    seg = np.cumsum(np.r_[True, step[1:] != step[:-1]]) - 1
    med = pd.Series(mode).groupby(seg).median().to_numpy()
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
    _check_time(out.time.values.astype(float), f"{name} ({out.attrs.get('cell_id', '?')})", 0)
    if "capacity" not in out.variables:
        out["capacity"] = ("sample", _integrated_throughput(out.time.values, out.current.values, out.step.values),
                           {"units": "A*h"})
    if "temperature" not in out.variables:
        out["temperature"] = ("sample", np.full(out.sizes["sample"], np.nan), {"units": "degC"})
    return out


# ------------------------------------------------------------------------------------------------
# Readers
# ------------------------------------------------------------------------------------------------


def _match_bdf(columns) -> dict:
    """Map canonical names to (file column, factor, offset) from BDF labels (units converted)."""
    found = {}
    for col in columns:
        key = str(col).strip()
        for canon, options in BDF_COLUMNS.items():
            for label, unit in options:
                if "_" in label and " " not in label:          # machine-readable name: fixed unit
                    if key.lower() == label:
                        found.setdefault(canon, (col, 1.0, 0.0))
                    continue
                m = _LABEL.match(key)
                if m and m["name"].strip().lower() == label.lower():
                    found.setdefault(canon, (col, *_conversion(m["unit"], unit, col)))
    return found


def _conversion(src: str, dst: str, column: str) -> tuple[float, float]:
    src_u = parse_unit(_UNIT_ALIASES.get(src.strip().lower(), _UNIT_ALIASES.get(src.strip(), src.strip())),
                       where=f"column {column!r}")
    try:
        zero = ureg.Quantity(0.0, src_u).to(dst).magnitude
        one = ureg.Quantity(1.0, src_u).to(dst).magnitude
    except DimensionalityError as exc:
        raise DimensionalityError(exc.units1, exc.units2, exc.dim1, exc.dim2,
                                  extra_msg=f" in column {column!r} (expected a unit of {dst})") from None
    return one - zero, zero


def curve_from_bdf(frame: pd.DataFrame, *, cell_id: str | None = None, source: str = "<DataFrame>",
                   first: str = "auto", row0: int = 2) -> xr.Dataset:
    """A curve from a DataFrame with Battery Data Format columns (human labels or machine names).

    Human labels carry units (``Voltage / mV``, ``Test Time / h``) that are converted; a unit of the
    wrong kind raises DimensionalityError naming the column. ``row0`` is the file line of row 0.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Test Time / s": [0, 10, 20], "Voltage / mV": [3600, 3610, 3620],
    ...                    "Current / A": [1.0, 1.0, 1.0]})
    >>> float(curve_from_bdf(df).voltage[0])
    3.6
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{source}: expected a pandas DataFrame, got {type(frame).__name__}")
    cols = _match_bdf(frame.columns)
    missing = [c for c in _REQUIRED_BDF if c not in cols]
    if missing:
        want = {c: f"{BDF_COLUMNS[c][0][0]} / {BDF_COLUMNS[c][0][1]}" for c in missing}
        raise FormationDataError(f"{source}: missing BDF column(s) {list(want.values())} "
                                 f"(or machine names {[BDF_COLUMNS[c][1][0] for c in missing]}); "
                                 f"found {list(frame.columns)[:12]}")

    def get(canon):
        if canon not in cols:
            return None
        col, factor, offset = cols[canon]
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(values) & frame[col].notna().to_numpy()
        if bad.any():
            i = _first_bad(bad)
            raise FormationDataError(f"{source}: column {col!r} row {i + row0} holds {frame[col].iloc[i]!r}, "
                                     f"not a number; fix or drop that row")
        return values * factor + offset

    t = get("time")
    _check_time(t, f"{source} column {cols['time'][0]!r}", row0)
    attrs = {}
    if "unix_time" in cols:
        ut = get("unix_time")
        if np.isfinite(ut[0]):
            attrs["start"] = pd.Timestamp(ut[0], unit="s", tz="UTC").isoformat()
    return curve_from_arrays(
        time=t, voltage=get("voltage"), current=get("current"), temperature=get("temperature"),
        step=get("step"), cycle=get("cycle"), charge_capacity=get("charge_capacity"),
        discharge_capacity=get("discharge_capacity"), first=first,
        cell_id=cell_id or Path(str(source)).name.split(".")[0], source=source, row0=row0, attrs=attrs)


def read_bdf(path, *, cell_id: str | None = None, first: str = "auto") -> xr.Dataset:
    """Read a Battery Data Format CSV (``*.bdf.csv``) into a curve Dataset.

    >>> from pathlib import Path
    >>> p = Path(__file__).resolve().parents[3] / "shared/data/cycling/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"
    >>> read_bdf(p).sizes["sample"]
    25162
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"BDF file {path} does not exist; check the path (real data lives in ../shared/data)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise FormationDataError(f"{path}: not a readable CSV ({exc}); is it a BDF .csv export?") from None
    return curve_from_bdf(frame, cell_id=cell_id, source=str(path), first=first)


_NOVONIX_COLUMNS = {"time": "Run Time (h)", "voltage": "Potential (V)", "current": "Current (A)",
                    "capacity": "Capacity (Ah)", "cycle": "Cycle Number", "step": "Step Number",
                    "step_type": "Step Type"}
NOVONIX_STEP_TYPES = {0: "rest", 1: "cc_charge", 2: "cc_discharge", 7: "cccv_cc_charge", 8: "cccv_cv_charge",
                      9: "cccv_cc_discharge", 10: "cccv_cv_discharge"}


def _novonix_sections(lines: list[str], path) -> tuple[dict, int]:
    summary, data_at = {}, None
    in_summary = False
    for k, line in enumerate(lines):
        text = line.strip().strip('"')
        if text == "[Summary]":
            in_summary = True
        elif text == "[End Summary]":
            in_summary = False
        elif in_summary and ":" in text:
            key, _, val = text.partition(":")
            summary[key.strip()] = val.strip()
        elif text == "[Data]":
            data_at = k
            break
    if data_at is None:
        raise FormationDataError(f"{path}: no [Data] section found; is this a Novonix HPC export "
                                 f"([Summary] / [Protocol] / [Data])?")
    return summary, data_at


def read_novonix(path, *, cell_id: str | None = None) -> xr.Dataset:
    """Read a Novonix HPC export ([Summary], [Protocol], then a [Data] block of quoted CSV rows).

    Run Time (h) -> time (s); Capacity (Ah), which Novonix keeps through a cycle, becomes per-step
    throughput; Step Number and Step Type (0 rest, 1/2 CC, 7/8 CC-CV charge, 9/10 CC-CV discharge)
    give the steps, so the CC and CV parts of a CC-CV step are separate steps.

    >>> from pathlib import Path
    >>> p = Path(__file__).resolve().parents[3] / "shared/data/formation/novonix_formation_ch01_first_charge.csv"
    >>> read_novonix(p).attrs["nominal_capacity_Ah"]
    0.24
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Novonix file {path} does not exist; check the path")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise FormationDataError(f"{path}: not a UTF-8 text export ({exc})") from None
    summary, data_at = _novonix_sections(lines, path)
    body = "\n".join(line.strip().strip('"') for line in lines[data_at + 1:] if line.strip())
    try:
        frame = pd.read_csv(io.StringIO(body))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FormationDataError(f"{path}: the [Data] block is not CSV ({exc})") from None
    missing = [c for c in _NOVONIX_COLUMNS.values() if c not in frame.columns]
    if missing:
        raise FormationDataError(f"{path}: [Data] lacks column(s) {missing}; re-export with all columns")
    row0 = data_at + 3          # file line of data row 0 (1-based; header is line data_at + 2)
    num = {}
    for key, col in _NOVONIX_COLUMNS.items():
        vals = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        if np.isnan(vals).any():
            i = _first_bad(np.isnan(vals))
            raise FormationDataError(f"{path}: column {col!r} at line {i + row0} holds {frame[col].iloc[i]!r}, "
                                     f"not a number; the file may be truncated or corrupt there")
        num[key] = vals
    temp = pd.to_numeric(frame.get("Temperature (°C)"), errors="coerce") if "Temperature (°C)" in frame else None
    step_id = num["step"] * 100 + num["step_type"]      # CC and CV parts of one CC-CV step are split
    attrs = {"nominal_capacity_Ah": float(summary["Capacity (Ah)"]) if "Capacity (Ah)" in summary else np.nan,
             "channel": summary.get("Channel", ""), "protocol": summary.get("Protocol", "")}
    if "Started" in summary:
        attrs["start"] = pd.Timestamp(summary["Started"]).isoformat()
    _check_time(num["time"], f"{path} column 'Run Time (h)'", row0)
    ds = curve_from_arrays(time=num["time"] * 3600.0, voltage=num["voltage"], current=num["current"],
                           capacity=num["capacity"], temperature=None if temp is None else temp.to_numpy(float),
                           step=step_id, cycle=num["cycle"].astype(np.int64),
                           cell_id=cell_id or summary.get("Cell", path.stem), source=str(path), row0=row0,
                           attrs=attrs)
    ds["step_name"] = ("sample", np.array([NOVONIX_STEP_TYPES.get(int(k), f"type{int(k)}") for k in num["step_type"]]))
    return ds


def read_curve(path, *, cell_id: str | None = None) -> xr.Dataset:
    """Read a cycler file, choosing the Novonix or the BDF reader from its first line.

    >>> read_curve("/no/such/file.csv")
    Traceback (most recent call last):
    ...
    FileNotFoundError: cycler file /no/such/file.csv does not exist; check the path
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cycler file {path} does not exist; check the path")
    with path.open("rb") as fh:
        head = fh.read(64)
    if head.lstrip(b"\xef\xbb\xbf").startswith(b"[Summary]"):
        return read_novonix(path, cell_id=cell_id)
    return read_bdf(path, cell_id=cell_id)


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
    (``first="discharge"``); "auto" takes the curve's first active step. ``loss`` = in - out (Ah);
    the first cycle's loss is the first-cycle (SEI) loss. A cycle lacking either direction has CE NaN.

    >>> import numpy as np
    >>> t = np.arange(0.0, 7200.0, 60.0)
    >>> cur = curve_from_arrays(time=t, voltage=3.5 + t / 36000, current=np.where(t < 3600, 1.0, -0.9))
    >>> round(float(cycle_summary(cur).coulombic_efficiency.sel(cycle=1)), 3)
    0.9
    """
    c, tab = _prepare(curve)
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
    step before by more than 10 % and after which the current returns to that level. With t0 = its
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
        # a pulse returns to the level it left (a CC step cut short by a voltage limit does not)
        after = tab.iloc[k + 1].current if k + 1 < len(tab) else i[prev.end]
        if abs(after - i[prev.end]) > 0.1 * jump:
            continue
        pulses.append((p, prev))
    if not pulses:
        raise NoPulseError(f"{c.attrs.get('cell_id', 'curve')}: no current pulse (a non-rest step shorter than "
                           f"{max_pulse_s} s after a different current); nothing to compute DCIR from")
    net = _net_charge(c, tab)
    ref = nominal_capacity or c.attrs.get("nominal_capacity_Ah")
    if not ref or not np.isfinite(ref):
        ref = float(np.nanmax(cycle_summary(prep).discharge_capacity.values, initial=np.nan))
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


# grade -> {variable: (min, max, units)}; the first grade whose limits all hold wins, else "reject".
DEFAULT_GRADES = {
    "A": {"discharge_capacity": (2.90, None, "A*h"), "dcir": (None, 1.20, "mohm"),
          "k_value": (None, 1.5, "mV/day"), "coulombic_efficiency": (0.86, None, "1")},
    "B": {"discharge_capacity": (2.80, None, "A*h"), "dcir": (None, 1.35, "mohm"),
          "k_value": (None, 2.5, "mV/day"), "coulombic_efficiency": (0.84, None, "1")},
    "C": {"discharge_capacity": (2.65, None, "A*h"), "dcir": (None, 1.60, "mohm"),
          "k_value": (None, 4.0, "mV/day"), "coulombic_efficiency": (0.80, None, "1")},
}


def grade(results: xr.Dataset, rules: Mapping | None = None) -> xr.DataArray:
    """Grade each cell into bins: the first grade in ``rules`` whose limits all hold, else "reject";
    a cell with NaN in a graded variable is "ungraded". Limits are (min, max, units) and are
    compared after converting the variable to those units.

    >>> r = xr.Dataset({"discharge_capacity": ("cell", [3.0, 2.7], {"units": "A*h"})})
    >>> grade(r, {"A": {"discharge_capacity": (2.9, None, "A*h")}}).values.tolist()
    ['A', 'reject']
    """
    rules = DEFAULT_GRADES if rules is None else rules
    n = results.sizes.get("cell", 0)
    out = np.full(n, "reject", dtype=object)
    decided = np.zeros(n, dtype=bool)
    missing = np.zeros(n, dtype=bool)
    for name, limits in rules.items():
        ok = np.ones(n, dtype=bool)
        for var, (lo, hi, units) in limits.items():
            if var not in results:
                raise FormationDataError(f"grade {name!r} uses {var!r}, which the results lack; "
                                         f"have {list(results.data_vars)}")
            bare = xr.DataArray(results[var].values, dims=results[var].dims, attrs=results[var].attrs)
            x = to_units(bare, units, name=var).values.astype(float)   # no coords: avoids copying cell ids
            missing |= ~np.isfinite(x)
            if lo is not None:
                ok &= x >= lo
            if hi is not None:
                ok &= x <= hi
        take = ok & ~decided
        out[take], decided = name, decided | take
    out[missing] = "ungraded"
    return xr.DataArray(out.astype(str), dims="cell", name="grade",
                        attrs={"rules": repr({k: dict(v) for k, v in rules.items()})})


def channel_imbalance(results: xr.Dataset, variable="discharge_capacity", *, z_threshold: float = 3.5,
                      alpha: float = 0.01, min_cells: int = 3) -> xr.Dataset:
    """Channels whose cells differ from the rest of their rack (dims rack, channel).

    ``variable`` names a variable of ``results`` or is a DataArray over ``cell`` (e.g. capacity per
    areal mass, which removes the coating's cell-to-cell spread). Test, per channel against the
    other channels of its rack: robust z = (median_channel − median_rest) / (1.4826·MAD_rest ·
    1.2533/√n_channel) (the standard error of a median from a robust σ). Flagged when |z| >
    ``z_threshold`` AND a two-sided Mann–Whitney U test gives p < ``alpha`` / (channels tested in the
    rack) (Bonferroni). Channels with fewer than ``min_cells`` cells are reported (z) but not tested
    (p NaN, never flagged): with one cell per channel, 64 single-value z-scores against a MAD from 15
    cells give false alarms; pool a few days of history instead (a busy line loads each channel
    about once a day).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(3.0, 0.01, 64); x[8:12] -= 0.1
    >>> r = xr.Dataset({"discharge_capacity": ("cell", x, {"units": "A*h"})},
    ...                coords={"rack": ("cell", np.ones(64, int)), "channel": ("cell", np.repeat(np.arange(1, 17), 4))})
    >>> out = channel_imbalance(r)
    >>> out.channel.values[out.flagged.sel(rack=1).values].tolist()
    [3]
    """
    for name in ("rack", "channel"):
        if name not in results.variables:
            raise FormationDataError(f"channel_imbalance: results lack {name!r}; need rack(cell) and channel(cell)")
    if isinstance(variable, xr.DataArray):
        values, label, units = variable, str(variable.name), variable.attrs.get("units", "")
    elif variable in results.variables:
        values, label, units = results[variable], variable, results[variable].attrs.get("units", "")
    else:
        raise FormationDataError(f"channel_imbalance: results lack {variable!r}; have {list(results.data_vars)}")
    df = pd.DataFrame({"rack": results.rack.values, "channel": results.channel.values,
                       "x": np.asarray(values.values, dtype=float)}).dropna()
    racks, chans = np.unique(df.rack), np.unique(df.channel)
    shape = (len(racks), len(chans))
    n, med, z, p = np.zeros(shape, int), np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    rk, chn, xs = df.rack.to_numpy(), df.channel.to_numpy(), df.x.to_numpy()
    for a, rack in enumerate(racks):
        x_r, ch_r = xs[rk == rack], chn[rk == rack]
        for b, ch in enumerate(chans):
            mine, rest = x_r[ch_r == ch], x_r[ch_r != ch]
            n[a, b] = mine.size
            if not mine.size or rest.size < 3:
                continue
            med[a, b] = np.median(mine)
            mad = 1.4826 * np.median(np.abs(rest - np.median(rest)))
            se = max(mad, 1e-12 * max(1.0, abs(np.median(rest)))) * 1.2533 / np.sqrt(mine.size)
            z[a, b] = (np.median(mine) - np.median(rest)) / se
            if mine.size >= min_cells:
                p[a, b] = stats.mannwhitneyu(mine, rest, alternative="two-sided").pvalue
    tested = np.isfinite(p).sum(axis=1, keepdims=True)
    flagged = (np.abs(np.nan_to_num(z)) > z_threshold) & (np.nan_to_num(p, nan=1.0) < alpha / np.maximum(tested, 1))
    return xr.Dataset(
        {"n_cells": (("rack", "channel"), n), "median": (("rack", "channel"), med, {"units": units}),
         "robust_z": (("rack", "channel"), z), "p_value": (("rack", "channel"), p),
         "flagged": (("rack", "channel"), flagged)},
        coords={"rack": racks, "channel": chans},
        attrs={"variable": label, "test": f"|robust z| > {z_threshold} and Mann-Whitney p < {alpha}/channels "
                                          f"tested in the rack (Bonferroni); channels with < {min_cells} cells "
                                          f"untested"},
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

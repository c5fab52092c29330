"""Battery Data Format CSV (``*.bdf.csv``): human labels with units (``Voltage / V``) or machine names
(``voltage_volt``), any column subset the spec allows beyond time, voltage and current."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from workbench.cyclers.curve import FormationDataError, _first_bad
from workbench.cyclers.repairs import repair
from workbench.cyclers.table import Table, read_text_table, to_curve
from workbench.units import DimensionalityError, parse_unit, ureg

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
    "step_time": (("Step Time", "s"), ("step_time_second", "s")),
    "temperature": (("Ambient Temperature", "degC"), ("ambient_temperature_celsius", "degC"),
                    ("Surface Temperature", "degC"), ("surface_temperature_celsius", "degC"),
                    ("Temperature T1", "degC"), ("temperature_t1_celsius", "degC")),
}
_REQUIRED_BDF = ("time", "voltage", "current")
_LABEL = re.compile(r"^\s*(?P<name>[^/]+?)\s*/\s*(?P<unit>.+?)\s*$")
_UNIT_ALIASES = {"°C": "degC", "degc": "degC", "ah": "A*h", "mah": "mA*h", "1": "dimensionless", "-": "dimensionless"}

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
                   first: str = "auto", row0=2, strict: bool = False, repairs: list | None = None) -> xr.Dataset:
    """A curve from a DataFrame with Battery Data Format columns (human labels or machine names).

    Human labels carry units (``Voltage / mV``, ``Test Time / h``) that are converted; a unit of the
    wrong kind raises DimensionalityError naming the column. ``row0`` is the file line of row 0 (or an
    array of each row's file line). Real-file flaws are repaired and listed (see :mod:`.repairs`).

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
    lines = row0 if isinstance(row0, np.ndarray) else np.arange(len(frame)) + int(row0)

    def get(canon):
        col, factor, offset = cols[canon]
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        if frame[col].dtype.kind in "fiu" or not np.isnan(values).any():   # text only where a number failed
            return values * factor + offset
        bad = np.isnan(values) & frame[col].notna().to_numpy() & (frame[col].astype(str).str.strip() != "").to_numpy()
        if bad.any():
            i = _first_bad(bad)
            raise FormationDataError(f"{source}: column {col!r} row {lines[i]} holds {frame[col].iloc[i]!r}, "
                                     f"not a number; fix or drop that row")
        return values * factor + offset

    data = {k: get(k) for k in cols}
    if "unix_time" in data:
        data["clock"] = data.pop("unix_time")
    names = {k: str(v[0]) for k, v in cols.items()}
    names["clock"] = names.pop("unix_time", "unix_time")
    attrs = {}
    if "clock" in data and np.isfinite(data["clock"][0]):
        attrs["start"] = pd.Timestamp(data["clock"][0], unit="s", tz="UTC").isoformat()
    table = Table(source=source, fmt="bdf", cols=data, names=names, lines=lines,
                  cell_id=cell_id or Path(str(source)).name.split(".")[0], attrs=attrs,
                  notes=[f"{names[k]!r}: converted to canonical units" for k, v in cols.items() if v[1:] != (1.0, 0.0)],
                  repairs=list(repairs or []))
    return to_curve(repair(table, strict=strict), first=first)


def read_bdf(path, *, cell_id: str | None = None, first: str = "auto", strict: bool = False) -> xr.Dataset:
    """Read a Battery Data Format CSV (``*.bdf.csv``) into a curve Dataset.

    >>> from pathlib import Path
    >>> p = Path(__file__).resolve().parents[3] / "shared/data/cycling/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"
    >>> read_bdf(p).sizes["sample"]
    25162
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"BDF file {path} does not exist; check the path (real data lives in ../shared/data)")
    repairs: list = []
    try:
        frame, lines = read_text_table(path, 0, ",", repairs)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise FormationDataError(f"{path}: not a readable CSV ({exc}); is it a BDF .csv export?") from None
    return curve_from_bdf(frame, cell_id=cell_id, source=str(path), first=first, row0=lines, strict=strict,
                          repairs=repairs)

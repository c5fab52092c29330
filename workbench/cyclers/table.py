"""The common middle of every reader: a cycler table in canonical columns (:class:`Table`), unit factors from
column headers, text tables that may be cut off, and the step from a table to a checked curve."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.cyclers.curve import FormationDataError, curve_from_arrays

# canonical column -> unit it is kept in
CANONICAL = {"time": "s", "voltage": "V", "current": "A", "capacity": "Ah", "charge_capacity": "Ah",
             "discharge_capacity": "Ah", "temperature": "degC", "step": "1", "cycle": "1", "step_time": "s",
             "clock": "s"}

# unit text as cyclers write it in headers -> factor to the canonical unit
_FACTORS = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "min": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0, "ms": 1e-3,
    "v": 1.0, "mv": 1e-3, "a": 1.0, "ma": 1e-3, "ua": 1e-6, "µa": 1e-6,
    "ah": 1.0, "a.h": 1.0, "a*h": 1.0, "a-h": 1.0, "amp-hr": 1.0, "mah": 1e-3, "ma.h": 1e-3, "ma*h": 1e-3,
    "°c": 1.0, "degc": 1.0, "c": 1.0, "℃": 1.0,
}
_UNIT_IN_HEADER = re.compile(r"(?:\((?P<p>[^()]*)\)|\[(?P<b>[^\]]*)\]|/\s*(?P<s>[^/]+))\s*$")


def header_unit(name: str) -> tuple[str, str | None, float | None]:
    """``'Current(mA)'`` -> ('current', 'mA', 0.001): the bare name, the unit text and its factor to canonical
    units (None when the header names no unit or an unknown one)."""
    m = _UNIT_IN_HEADER.search(str(name))
    if not m:
        return str(name).strip().lower(), None, None
    unit = (m["p"] or m["b"] or m["s"] or "").strip()
    bare = str(name)[:m.start()].strip().lower()
    return bare, unit, _FACTORS.get(unit.lower().replace(" ", ""))


@dataclass
class Table:
    """One cycler record in canonical columns and units, before repairs.

    ``lines`` holds each row's line in the file (1-based) so that every message can name it; ``names`` maps
    a canonical column to the file's own header; ``notes`` lists unit conversions taken from headers."""

    source: str
    fmt: str
    cols: dict
    names: dict
    lines: np.ndarray
    cell_id: str
    attrs: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    repairs: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    def take(self, keep: np.ndarray) -> None:
        """Keep only the rows where ``keep`` is True (all columns and line numbers)."""
        self.cols = {k: v[keep] for k, v in self.cols.items()}
        self.lines = self.lines[keep]

    def where(self, key: str) -> str:
        return f"{self.source} column {self.names.get(key, key)!r}"


# extensions of data files that cycler software writes into its own "cell" / "file name" header fields
DATA_FILE_SUFFIXES = (".csv", ".txt", ".tsv", ".dat", ".xls", ".xlsx", ".nda", ".ndax", ".mpr", ".mpt", ".res",
                      ".json", ".h5", ".bdf")


def cell_id_from(*candidates, fallback: str) -> str:
    """The first non-empty candidate as a cell id, without a data-file extension the cycler software left on it
    (a Novonix 'Cell: CH01-01.csv' names the cell CH01-01); ``fallback`` (the file's stem) when none is given.

    >>> cell_id_from("Test_Form-CH01-01.csv", fallback="x"), cell_id_from(" ", None, fallback="run7")
    ('Test_Form-CH01-01', 'run7')
    >>> cell_id_from("LGM50.3", fallback="x")                     # not a file extension: kept
    'LGM50.3'
    """
    for c in candidates:
        text = str(c).strip() if c is not None else ""
        if text:
            for suffix in (".bdf.csv",) + DATA_FILE_SUFFIXES:
                if text.lower().endswith(suffix) and len(text) > len(suffix):
                    return text[:-len(suffix)]
            return text
    return fallback


def numeric(frame: pd.DataFrame, col: str, source: str, lines: np.ndarray) -> np.ndarray:
    """A column as floats; a value that is not a number is an error naming the file line and column."""
    s = frame[col]
    if s.dtype.kind in "fiu":
        return s.to_numpy(dtype=float)
    text = s.astype(str).str.strip()
    vals = pd.to_numeric(text.str.replace(",", ".", regex=False) if _comma_decimal(text) else text, errors="coerce")
    vals = vals.to_numpy(dtype=float)
    bad = np.isnan(vals) & s.notna().to_numpy() & (text != "").to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FormationDataError(f"{source}: column {col!r} at line {lines[i]} holds {s.iloc[i]!r}, not a number; "
                                 f"fix or delete that line")
    return vals


def _comma_decimal(text: pd.Series) -> bool:
    """Decimal commas (European locales): commas in numbers and no point anywhere in the column."""
    return bool(text.str.contains(",", regex=False).any() and not text.str.contains(".", regex=False).any())


def read_text_table(path: Path, header_line: int, sep: str, repairs: list, *, skip_after_header: int = 0):
    """Rows below the header at ``header_line`` (0-based) as strings, and each row's file line (1-based).

    A last line without a line end was cut off while the file was written (a partial last value reads as a
    wrong number): it is dropped and the drop listed in ``repairs``."""
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    first = header_line + 1 + skip_after_header
    body_idx = [k for k in range(first, len(lines)) if lines[k].strip()]
    header = lines[header_line]
    if body_idx and not raw.endswith((b"\n", b"\r")):
        k = body_idx.pop()
        repairs.append(f"truncated_last_row: line {k + 1} has no line end (the file was cut while written); "
                       f"dropped it: {lines[k][:60]!r}")
    # numbers parse in C; a column holding anything else stays text and numeric() names the bad line
    frame = pd.read_csv(io.StringIO("\n".join([header] + [lines[k] for k in body_idx])), sep=sep,
                        keep_default_na=False, na_values=[""], index_col=False, skipinitialspace=True,
                        engine="python" if sep not in (",", "\t", ";") else "c")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, np.asarray(body_idx, dtype=np.int64) + 1


def find(columns, *options: str) -> str | None:
    """The first column whose bare name (unit stripped, case-insensitive) is one of ``options``."""
    bare = {header_unit(c)[0]: c for c in reversed(list(columns))}
    for opt in options:
        if opt.lower() in bare:
            return bare[opt.lower()]
    return None


def take_columns(frame: pd.DataFrame, mapping: dict, source: str, lines: np.ndarray, notes: list,
                 defaults: dict | None = None) -> tuple[dict, dict]:
    """Numeric canonical columns from ``mapping`` canonical -> file column, scaled by the header's unit
    (``defaults`` gives the unit factor when the header names none). Conversions are listed in ``notes``."""
    cols, names = {}, {}
    for key, col in mapping.items():
        if col is None or col not in frame.columns:
            continue
        vals = numeric(frame, col, source, lines)
        _, unit, factor = header_unit(col)
        if factor is None:
            factor = (defaults or {}).get(key, 1.0)
        elif factor != 1.0:
            notes.append(f"{col!r}: {unit} from the header, converted to {CANONICAL[key]}")
        cols[key], names[key] = vals * factor, col
    return cols, names


def to_curve(table: Table, *, first: str = "auto"):
    """The curve Dataset of a repaired table, with the format, repairs and header conversions in its attrs."""
    c = table.cols
    cap_kw = {}
    if "charge_capacity" in c or "discharge_capacity" in c:
        cap_kw = {"charge_capacity": c.get("charge_capacity"), "discharge_capacity": c.get("discharge_capacity")}
    elif "capacity" in c:
        cap_kw = {"capacity": c["capacity"]}
    attrs = {**table.attrs, "format": table.fmt, "repairs": list(table.repairs), "units_from_headers": list(table.notes)}
    if first == "auto" and str(attrs.get("cell_type", "")).startswith("half cell"):
        first = "discharge"              # an electrode vs Li: lithiation (discharge) opens a cycle, see checks.py
    return curve_from_arrays(time=c["time"], voltage=c["voltage"], current=c["current"], temperature=c.get("temperature"),
                             step=c.get("step"), cycle=c.get("cycle"), first=first, cell_id=table.cell_id,
                             source=table.source, row0=table.lines, attrs=attrs, **cap_kw)


_DURATION = re.compile(r"^\s*(?:(?P<d>\d+)\s*(?:d|day|days)?[ \-]\s*)?(?P<h>\d+):(?P<m>\d+):(?P<s>\d+(?:[.,]\d*)?)\s*$")


def parse_duration(s: pd.Series, col: str, source: str, lines: np.ndarray) -> np.ndarray:
    """Seconds from ``d hh:mm:ss.fff`` / ``hh:mm:ss`` (hours may exceed 24) text, or plain numbers."""
    if s.dtype.kind in "fiu" or not s.head(20).astype(str).str.contains(":").any():
        return numeric(pd.DataFrame({col: s}), col, source, lines)
    text = s.astype(str)
    parts = text.str.extract(_DURATION)
    bad = parts["h"].isna().to_numpy() & (text.str.strip() != "").to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FormationDataError(f"{source}: column {col!r} at line {lines[i]} holds {s.iloc[i]!r}, not a duration "
                                 f"(d hh:mm:ss or hh:mm:ss); fix or delete that line")
    num = {k: pd.to_numeric(parts[k].str.replace(",", ".", regex=False), errors="coerce").fillna(0).to_numpy(float)
           for k in "dhms"}
    return num["d"] * 86400 + num["h"] * 3600 + num["m"] * 60 + num["s"]


_CLOCK_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p",
                  "%Y/%m/%d %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%m/%d/%Y %H:%M")


def parse_clock(s: pd.Series) -> np.ndarray:
    """Wall-clock text -> seconds since 1970 (NaN where unreadable); tries the cyclers' usual formats first."""
    if s.dtype.kind == "M":
        return (s.dt.tz_localize(None) if getattr(s.dt, "tz", None) else s).astype("datetime64[ns]").astype(
            "int64").to_numpy() / 1e9
    text = s.astype(str).str.strip()
    sample = text[text != ""].head(200)                   # choose the format on a sample, parse the column once
    fmt = next((f for f in _CLOCK_FORMATS if pd.to_datetime(sample, format=f, errors="coerce").notna().mean() > 0.9),
               "mixed")
    t = pd.to_datetime(text, format=fmt, errors="coerce")
    out = t.astype("datetime64[ns]").astype("int64").to_numpy().astype(float) / 1e9
    out[t.isna().to_numpy()] = np.nan
    return out


def table_from_frame(frame: pd.DataFrame, lines: np.ndarray, spec: dict, *, source: str, fmt: str, cell_id: str,
                     attrs: dict | None = None, repairs: list | None = None, defaults: dict | None = None) -> Table:
    """A :class:`Table` from a vendor frame: ``spec`` maps canonical columns to candidate header names (unit
    stripped); durations and wall-clock text are parsed; units come from headers (``defaults`` otherwise)."""
    mapping = {key: find(frame.columns, *names) for key, names in spec.items()}
    missing = [k for k in ("voltage", "current") if mapping.get(k) is None]
    if mapping.get("time") is None and mapping.get("step_time") is None:
        missing.append("time")
    if missing:
        raise FormationDataError(f"{source}: a {fmt} export without {missing} column(s) (looked for "
                                 f"{[spec[k] for k in missing if k in spec]}); found {list(frame.columns)[:20]}; "
                                 f"re-export with these columns")
    notes: list = []
    plain = {k: c for k, c in mapping.items() if c is not None and k not in ("time", "step_time", "clock")}
    cols, names = take_columns(frame, plain, source, lines, notes, defaults)
    for key in ("time", "step_time"):
        col = mapping.get(key)
        if col is not None:
            _, unit, factor = header_unit(col)
            cols[key], names[key] = parse_duration(frame[col], col, source, lines) * (factor or 1.0), col
            text = frame[col].head(2000).astype(str)
            if text.str.contains(":").any():       # written as a duration: its last digit is its resolution
                digits = text.str.extract(r"[.,](\d+)\s*$")[0].str.len().max()
                res = 10.0 ** -(0 if pd.isna(digits) else int(digits))
                attrs = {**(attrs or {}), f"{key}_resolution_s": res}
    if mapping.get("clock") is not None:
        cols["clock"], names["clock"] = parse_clock(frame[mapping["clock"]]), mapping["clock"]
    return Table(source=source, fmt=fmt, cols=cols, names=names, lines=lines, cell_id=cell_id, attrs=dict(attrs or {}),
                 notes=notes, repairs=list(repairs or []))


def test_time_from_steps(table: Table) -> None:
    """A record with only a step-time column: test time = the step times laid end to end (noted)."""
    if "time" in table.cols:
        return
    text_res = table.attrs.get("step_time_resolution_s")
    if text_res:
        table.attrs["time_resolution_s"] = text_res
    st = table.cols["step_time"]
    step = table.cols.get("step", np.zeros(len(st)))
    new = np.r_[True, (step[1:] != step[:-1]) | (st[1:] < st[:-1])]
    inc = np.where(new, st, np.r_[0.0, np.diff(st)])
    inc[0] = 0.0
    table.cols["time"] = np.cumsum(inc)
    table.names["time"] = f"sum of {table.names['step_time']!r}"
    table.notes.append(f"test time built from the step-time column {table.names['step_time']!r} (no test-time column)")

"""Time columns of exports to UTC: ISO 8601 with offsets, or local times in a named zone (DST explicit).

- Times that carry an offset (``2026-10-25T02:30:00+02:00``, ``...Z``) are converted as they say; offsets may
  change within a file (summer/winter time).
- Times without an offset need the zone they were written in (``tz="Europe/Berlin"``, or ``"UTC"``); there
  is no silent default, because a historian's local time read as UTC is wrong by hours.
- A local time that occurs twice (the hour repeated when summer time ends) is ambiguous: ``ambiguous=``
  ``"raise"`` (default: an error naming the row), ``"earlier"`` (the first, summer-time instant), ``"later"``
  (the second), or ``"infer"`` (from row order, as an export in time order has it: the repeated hour is
  summer time until the clock is seen to go back). A local time that does not exist (skipped when summer
  time starts) is ``nonexistent=`` ``"raise"`` (default), ``"refuse"`` (the row is refused and counted) or
  ``"shift_forward"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.history.exports import ExportError

_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
AMBIGUOUS = ("raise", "earlier", "later", "infer")
NONEXISTENT = ("raise", "refuse", "shift_forward")


@dataclass
class TimeRules:
    """How to read a time column (see the module doc); ``state`` carries ``infer`` across chunks."""

    tz: str | None = None
    ambiguous: str = "raise"
    nonexistent: str = "raise"
    time_format: str | None = None
    state: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.ambiguous not in AMBIGUOUS:
            raise ValueError(f"ambiguous={self.ambiguous!r}; use one of {AMBIGUOUS}")
        if self.nonexistent not in NONEXISTENT:
            raise ValueError(f"nonexistent={self.nonexistent!r}; use one of {NONEXISTENT}")
        if self.tz is not None:
            try:
                pd.Timestamp("2026-01-01").tz_localize(self.tz)
            except Exception:
                raise ValueError(f"unknown time zone {self.tz!r}; use an IANA name such as 'Europe/Berlin', "
                                 f"'America/Chicago' or 'UTC'") from None


def _first_bad(text: pd.Series, parsed: pd.Series) -> int:
    bad = parsed.isna() & text.notna()
    return int(np.flatnonzero(bad.to_numpy())[0])


def _parse_text(text: pd.Series, rules: TimeRules, where) -> tuple[pd.Series, bool]:
    """(parsed times, aware?) of a text column; an unparsable cell raises naming its row."""
    sample = text.dropna()
    aware = bool(len(sample)) and bool(_OFFSET.search(str(sample.iloc[0]).strip()))
    fmt = rules.time_format or "ISO8601"
    try:
        parsed = pd.to_datetime(text, format=fmt, utc=aware)
    except (ValueError, TypeError):
        try:
            parsed = pd.to_datetime(text, format=rules.time_format or "mixed", utc=aware, errors="coerce")
        except (ValueError, TypeError):
            parsed = pd.Series(pd.NaT, index=text.index)
        if parsed.isna().sum() > text.isna().sum():
            i = _first_bad(text, parsed)
            raise ExportError(f"{where(i)}: time {text.iloc[i]!r} does not parse; give its format "
                              f"(--time-format '%d.%m.%Y %H:%M:%S'), or export ISO 8601 times") from None
    if not aware and getattr(parsed.dt, "tz", None) is not None:
        aware = True
    return parsed, aware


def _localize(naive: pd.Series, rules: TimeRules, where) -> tuple[np.ndarray, np.ndarray]:
    """UTC ns of naive local times, and a mask of rows refused (nonexistent local time with 'refuse')."""
    idx = pd.DatetimeIndex(naive)
    n = len(idx)
    early = idx.tz_localize(rules.tz, ambiguous=np.ones(n, bool), nonexistent="NaT")
    late = idx.tz_localize(rules.tz, ambiguous=np.zeros(n, bool), nonexistent="NaT")
    missing = idx.isna()
    gone = early.isna() & ~missing
    if gone.any():
        i = int(np.flatnonzero(gone)[0])
        if rules.nonexistent == "raise":
            raise ExportError(f"{where(i)}: local time {idx[i]} does not exist in {rules.tz} (the clock jumped "
                              f"forward); refuse such rows (--nonexistent refuse), shift them "
                              f"(--nonexistent shift_forward), or check the export's time zone")
        if rules.nonexistent == "shift_forward":
            shifted = idx[gone].tz_localize(rules.tz, ambiguous=np.ones(int(gone.sum()), bool),
                                            nonexistent="shift_forward")
            early, late = early.to_numpy().copy(), late.to_numpy().copy()
            early[gone] = late[gone] = shifted.to_numpy()
            early, late = pd.DatetimeIndex(early).tz_localize("UTC"), pd.DatetimeIndex(late).tz_localize("UTC")
    amb = (early != late) & ~early.isna()
    choose_late = np.zeros(n, bool)
    if amb.any():
        if rules.ambiguous == "raise":
            i = int(np.flatnonzero(amb)[0])
            raise ExportError(f"{where(i)}: local time {idx[i]} occurs twice in {rules.tz} (summer time ends); say "
                              f"which: --ambiguous infer (from row order), earlier, later; or export UTC offsets")
        if rules.ambiguous == "later":
            choose_late = amb
        elif rules.ambiguous == "infer":
            choose_late = _infer_later(idx.asi8, np.asarray(amb), rules.state)
    out = np.where(choose_late, late.asi8, early.asi8)
    refused = gone if rules.nonexistent == "refuse" else np.zeros(n, bool)
    out[missing | refused] = np.iinfo(np.int64).min
    return out, refused


def _infer_later(local_ns: np.ndarray, amb: np.ndarray, state: dict) -> np.ndarray:
    """Within each repeated hour, rows are summer time until the local clock goes back, then winter time."""
    out = np.zeros(len(local_ns), bool)
    hour = 3_600_000_000_000
    for i in np.flatnonzero(amb):
        t = int(local_ns[i])
        window = t // (24 * hour)  # one repeated hour per day at most
        if state.get("window") != window:
            state.update(window=window, last=None, back=False)
        if state["last"] is not None and t < state["last"]:
            state["back"] = True
        out[i] = state["back"]
        state["last"] = t
    return out


def _arrow_iso(column):
    """The column as Arrow timestamps if every cell is ISO 8601 with an offset, or every cell without; else as is."""
    if column.null_count == len(column):
        return column
    text = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    with_offset = pc.match_substring_regex(text, r"(Z|[+-]\d{2}:?\d{2})$")
    n_offset = pc.sum(with_offset).as_py() or 0
    n_valid = len(column) - column.null_count
    if n_offset not in (0, n_valid):
        return column  # mixed: pandas says which row
    try:
        return pc.cast(text, pa.timestamp("ns", tz="UTC") if n_offset else pa.timestamp("ns"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return column


def to_utc_ns(column: pa.ChunkedArray | pa.Array, rules: TimeRules, where) -> tuple[np.ndarray, np.ndarray]:
    """UTC nanoseconds of a time column, int64 minimum where the cell is empty; and the rows refused.

    ``where(i)`` names the i-th row of the chunk for messages (file and line).
    """
    if not pa.types.is_timestamp(column.type) and rules.time_format is None:
        column = _arrow_iso(column)  # ISO 8601 parsed in Arrow (fast); anything else by pandas below
    if pa.types.is_timestamp(column.type):
        series = column.to_pandas()
        aware = column.type.tz is not None
    else:
        text = column.to_pandas()
        series, aware = _parse_text(text.where(text.notna(), None), rules, where)
    if aware:
        utc = pd.DatetimeIndex(series).tz_convert("UTC")
        out = utc.as_unit("ns").asi8.copy()
        out[utc.isna()] = np.iinfo(np.int64).min
        return out, np.zeros(len(out), bool)
    if rules.tz is None:
        first = series.dropna()
        example = f" (e.g. {first.iloc[0]})" if len(first) else ""
        raise ExportError(f"{where(None)}: times carry no UTC offset{example}; say which zone they were written in: "
                          f"--tz Europe/Berlin (or --tz UTC)")
    return _localize(pd.Series(pd.DatetimeIndex(series).as_unit("ns")), rules, where)


__all__ = ["TimeRules", "to_utc_ns", "AMBIGUOUS", "NONEXISTENT"]

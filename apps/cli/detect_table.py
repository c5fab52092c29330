"""Reading a wide table (CSV/Parquet) for `workbench detect`: one time column, one numeric column per series.

What a plant export throws at it, and what happens:

- ``;``-separated with decimal commas (a German/French Excel export): read as such.
- a units row under the header (``time;thickness;...`` then ``;um;...``): taken as the units, not data.
- a text cell (``ERR``, ``#N/A``) in a numeric column: that cell becomes a gap (NaN), the series is kept and
  a note on stderr names the column and lines.
- a column of text only (a lot id): skipped with a note (an error if asked for with --var).
- lines of notes above the header (rows of another width): an error naming the line and the fix.
- times with and without a UTC offset mixed, a time cell that is not a time, a file cut off mid-row,
  an unknown --var, the same time on several rows: a one-line error naming file, line, column and the fix.

Line numbers are the file's (the header is line 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["table_series"]


def table_series(p: Path, dim: str, time_col, variables):
    """A wide table -> (time, series) DataArray. Reads ``;``-separated files with decimal commas and a units
    row under the header; text cells in a numeric column become marked gaps (a note on stderr names them);
    mixed naive/aware timestamps, a cut-off last row, unknown --var and duplicate timestamps are errors
    that name the file, row and column."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    is_csv = p.suffix.lower() == ".csv"
    sep, decimal = _csv_dialect(p) if is_csv else (",", ".")
    if is_csv:
        _check_complete(p, sep)
        try:
            df = pd.read_csv(p, sep=sep, decimal=decimal, dtype=str, keep_default_na=False, na_values=[""])
        except pd.errors.ParserError as exc:  # "Expected 2 fields in line 30, saw 7": a preamble above the table
            import re

            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
            what = (f"line {m[2]} has {m[3]} fields where the lines above have {m[1]}" if m else
                    str(exc).strip())
            raise ValueError(f"{p}: not one table from line 1 ({what}); if notes or test metadata stand above the "
                             "header row, delete those lines (cycler exports that workbench.cyclers knows are "
                             "read with their metadata)") from None
    else:
        df = pd.read_parquet(p)
    if df.empty:
        raise ValueError(f"{p}: the table has no rows")
    if time_col is None:
        named = [c for c in df.columns if str(c).lower() in ("time", "timestamp", dim)]
        if not named and len(df.columns) == 1:  # a bare list of values: the samples are numbered 0, 1, ...
            df.insert(0, "sample", np.arange(len(df)))
            print(f"workbench detect: note: {p}: one column and no time column: samples numbered from 0 "
                  "(give a time column to get times)", file=sys.stderr)
        time_col = named[0] if named else df.columns[0]
    if time_col not in df.columns:
        raise ValueError(f"{p}: no column {time_col!r} (columns: {list(df.columns)}); set --time-col")
    first_line = 2  # line of the first data row in the file (the header is line 1)
    units = {}
    if is_csv and _is_units_row(df, time_col):
        units = {c: str(v).strip() for c, v in df.iloc[0].items() if c != time_col and isinstance(v, str) and v.strip()}
        df = df.iloc[1:].reset_index(drop=True)
        first_line = 3
    t = _times(p, df[time_col], time_col, first_line)
    others = [c for c in df.columns if c != time_col]
    if variables:
        missing = [v for v in variables if v not in others]
        if missing:
            raise ValueError(f"{p}: no column(s) {missing}; it has {others} (choose with --var)")
    cols, notes = [], []
    for c in variables or others:
        values, bad = _numeric(df[c], decimal)
        if values is None:
            if variables:
                raise ValueError(f"{p}: column {c!r} is text, not numbers (e.g. {df[c].dropna().iloc[0]!r} on line "
                                 f"{first_line + int(df[c].first_valid_index())}); pick numeric columns with --var")
            notes.append(f"{p}: column {c!r} is text, not a series: skipped")
            continue
        if bad.size:
            lines = ", ".join(str(first_line + int(i)) for i in bad[:5]) + (" ..." if bad.size > 5 else "")
            notes.append(f"{p}: column {c!r}: {bad.size} text cell(s) such as {df[c].iloc[bad[0]]!r} on line(s) "
                         f"{lines} are not numbers: kept as gaps (NaN); fix them at the source to use them")
        cols.append((c, values))
    if not cols:
        raise ValueError(f"{p}: no numeric series columns beside {time_col!r}")
    _check_unique(p, t, time_col, first_line)
    for note in notes:
        print(f"workbench detect: note: {note}", file=sys.stderr)
    values = np.stack([v for _, v in cols], axis=1)
    da = xr.DataArray(values, dims=(dim, "series"), coords={dim: t, "series": [str(c) for c, _ in cols]}, name=p.stem)
    shared = {units.get(c) for c, _ in cols}
    if len(shared) == 1 and None not in shared:
        da.attrs["units"] = shared.pop()
    return da.sortby(dim)


def _csv_dialect(p: Path) -> tuple[str, str]:
    """(separator, decimal mark): ';' with decimal commas when the header has ';' and no ','."""
    import re

    with open(p, encoding="utf-8", errors="replace") as fh:
        head = [fh.readline() for _ in range(5)]
    if head[0].count(";") > head[0].count(","):
        body = ";".join(head[1:])
        return ";", "," if re.search(r"(^|;)\s*-?\d+,\d+\s*(;|$)", body, re.M) else "."
    return ",", "."


def _check_complete(p: Path, sep: str) -> None:
    """A file cut while being written: the last line has fewer fields than the header and no newline."""
    with open(p, "rb") as fh:
        data = fh.read()
    if not data or data.endswith(b"\n"):
        return
    lines = data.decode("utf-8", errors="replace").splitlines()
    want, got = lines[0].count(sep) + 1, lines[-1].count(sep) + 1
    if len(lines) > 1 and got < want:
        raise ValueError(f"{p}: line {len(lines)} is cut off ({got} of {want} fields, no line end): the file was "
                         f"cut while being written; re-export it or delete that line")


def _is_units_row(df, time_col) -> bool:
    """The first data row holds units: its time cell is not a time and no other cell is a number."""
    import pandas as pd

    if len(df) < 2:
        return False
    row = df.iloc[0]
    cell = row[time_col]
    if isinstance(cell, str) and cell.strip():
        if not _not_number(cell) or pd.notna(pd.to_datetime(cell, errors="coerce", utc=True)):
            return False  # a time or a number: data
    others = [v for c, v in row.items() if c != time_col and isinstance(v, str) and v.strip()]
    return bool(others) and all(_not_number(v) for v in others)


def _not_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
        return False
    except ValueError:
        return True


def _numeric(col, decimal: str):
    """(float values, positions of text cells) or (None, None) when the column holds no numbers at all."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=float), np.empty(0, np.int64)
    text = col.astype("string").str.strip()
    if decimal == ",":
        text = text.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    given = col.notna().to_numpy()
    bad = np.flatnonzero(given & np.isnan(values) & (text.str.lower() != "nan").fillna(False).to_numpy())
    if np.isfinite(values).sum() == 0:
        return None, None
    return values, bad


def _times(p: Path, col, name, first_line: int):
    """Times of a table column: numbers as they are; text with or without a UTC offset, not both."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy()
    if pd.api.types.is_datetime64_any_dtype(col):
        t = col.dt.tz_convert("UTC").dt.tz_localize(None) if col.dt.tz is not None else col
        return t.to_numpy()
    text = col.astype("string").str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy()
    t = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    bad = np.flatnonzero(t.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{p}: column {name!r} line {first_line + i}: {text.iloc[i]!r} is not a time; fix that cell "
                         f"(ISO 8601, e.g. 2026-01-05T06:00:00+00:00) or choose the time column with --time-col")
    aware = text.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True).fillna(False).to_numpy()
    if aware.any() and not aware.all():
        i, j = int(np.argmax(aware)), int(np.argmax(~aware))
        raise ValueError(f"{p}: column {name!r} mixes times with a UTC offset (line {first_line + i}: {text.iloc[i]!r}) "
                         f"and without (line {first_line + j}: {text.iloc[j]!r}); write all with an offset (or all in UTC "
                         f"without) and run again")
    return t.dt.tz_localize(None).to_numpy()


def _check_unique(p: Path, t, name, first_line: int) -> None:
    import numpy as np
    import pandas as pd

    dup = pd.Index(t).duplicated(keep=False)
    if dup.any():
        rows = np.flatnonzero(dup)
        same = rows[np.asarray(t)[rows] == np.asarray(t)[rows[0]]]
        raise ValueError(f"{p}: column {name!r}: time {pd.Timestamp(np.asarray(t)[rows[0]]) if np.issubdtype(np.asarray(t).dtype, np.datetime64) else np.asarray(t)[rows[0]]} "
                         f"appears on lines {', '.join(str(first_line + int(r)) for r in same[:5])} "
                         f"({int(dup.sum())} rows share a time); keep one row per time (e.g. average them) and run again")

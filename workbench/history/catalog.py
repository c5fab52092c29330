"""The store's catalog: genealogy, events and trials in one embedded SQLite file (``STORE/catalog.sqlite``).

- genealogy tables (``cells``, ``welds``, ``rolls``, ``lots``: the columns :mod:`workbench.trace`
  documents) are replaced or extended by key, so re-filling is idempotent;
- events (alarms, change points, excursions, injected-event truth): one table with kind, station,
  target, start, end, magnitude, units, source, description; de-duplicated on (kind, target, start, source).

:func:`load_genealogy` returns the tables as ``{name: DataFrame}``, which :func:`workbench.trace.cells_from`
and :func:`workbench.trace.history_of` accept directly: traceability works on recorded genealogy.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import fsspec
import pandas as pd

from workbench.history.store import HistoryError

GENEALOGY_KEYS = {"cells": "cell_id", "welds": "weld", "rolls": "roll_id", "lots": "lot_id"}
# Other per-store tables the station views use (see views.py), with their keys.
TABLE_KEYS = {**GENEALOGY_KEYS, "coating_scans": "time", "formation_results": "cell_id", "formation_units": "variable"}
EVENT_COLUMNS = ["kind", "station", "target", "cause", "lane", "sensor", "rack", "channel", "start", "end",
                 "observed_start", "observed_end", "magnitude", "units", "source", "description"]
_TIME_COLUMNS = {"weld_time", "coated_at", "dryroom_in", "dryroom_out", "formation_start", "time", "start", "end",
                 "observed_start", "observed_end"}


def _connect(root: Path) -> sqlite3.Connection:
    con = sqlite3.connect(Path(root) / "catalog.sqlite", timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    return con


def _to_sql_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            t = pd.to_datetime(out[col], utc=True) if out[col].dt.tz is None else out[col].dt.tz_convert("UTC")
            out[col] = t.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return out


def _is_time_column(name: str) -> bool:
    return name in _TIME_COLUMNS or name.endswith(("_start", "_end", "_time", "_at", "_in", "_out"))


def _from_sql_frame(df: pd.DataFrame) -> pd.DataFrame:
    for col in df.columns:
        if _is_time_column(col) and not pd.api.types.is_datetime64_any_dtype(df[col]):
            df[col] = pd.to_datetime(df[col], utc=True).dt.tz_localize(None)
    return df


def write_tables(root: str | Path, tables) -> dict[str, int]:
    """Store tables (a mapping name -> DataFrame, names from TABLE_KEYS); rows with an existing key are replaced."""
    counts = {}
    with _connect(Path(root)) as con:
        for name, key in TABLE_KEYS.items():
            try:
                df = tables[name]
            except (KeyError, TypeError):
                continue
            if key not in df.columns:
                raise HistoryError(f"table {name!r} has no key column {key!r}; columns: {list(df.columns)}")
            frame = _to_sql_frame(df)
            table = f"t_{name}"
            exists = con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            if exists:
                keys = [k.item() if hasattr(k, "item") else k for k in frame[key].tolist()]
                con.executemany(f"DELETE FROM {table} WHERE {key} = ?", [(k,) for k in keys])
            frame.to_sql(table, con, if_exists="append", index=False)
            if not exists:
                con.execute(f"CREATE INDEX IF NOT EXISTS ix_{table}_{key} ON {table} ({key})")
            counts[name] = len(frame)
    return counts


def write_genealogy(root: str | Path, genealogy) -> dict[str, int]:
    """Store genealogy tables (cells, welds, rolls, lots); rows with an existing key are replaced."""
    return write_tables(root, {k: genealogy[k] for k in GENEALOGY_KEYS if k in genealogy.keys()})


def _local_catalog(url: str, storage_options: dict | None) -> Path:
    fs, root = fsspec.core.url_to_fs(str(url), **(storage_options or {}))
    path = f"{root.rstrip('/')}/catalog.sqlite"
    if not fs.exists(path):
        raise HistoryError(f"{url}: no catalog.sqlite in this store (fill it or record genealogy first)")
    if fs.protocol in ("file", "local") or "file" in (fs.protocol if isinstance(fs.protocol, tuple) else ()):
        return Path(path)
    local = Path(tempfile.mkdtemp()) / "catalog.sqlite"
    fs.get(path, str(local))  # object storage: the catalog is small; read a local copy
    return local


def load_tables(url: str | Path, names=None, *, storage_options: dict | None = None) -> dict[str, pd.DataFrame]:
    """Stored tables as DataFrames (all of TABLE_KEYS that exist, or ``names``)."""
    path = _local_catalog(str(url), storage_options)
    out = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        for name in names or TABLE_KEYS:
            table = f"t_{name}"
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
                out[name] = _from_sql_frame(pd.read_sql(f"SELECT * FROM {table}", con))
    return out


def load_genealogy(url: str | Path, *, storage_options: dict | None = None) -> dict[str, pd.DataFrame]:
    """The stored genealogy as ``{"cells": ..., "welds": ..., "rolls": ..., "lots": ...}`` DataFrames."""
    out = load_tables(url, list(GENEALOGY_KEYS), storage_options=storage_options)
    if "cells" not in out:
        raise HistoryError(f"{url}: the catalog holds no cells genealogy table")
    return out


def write_events(root: str | Path, events: pd.DataFrame, *, source: str) -> int:
    """Append events (columns among EVENT_COLUMNS); the same (kind, target, start, source) is stored once."""
    frame = events.copy()
    frame["source"] = source
    for col in EVENT_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    frame = _to_sql_frame(frame[EVENT_COLUMNS])
    frame["target"] = frame["target"].astype(str)
    with _connect(Path(root)) as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS events (kind TEXT NOT NULL, station TEXT, target TEXT, cause TEXT, "
            "lane INTEGER, sensor TEXT, rack INTEGER, channel INTEGER, start TEXT NOT NULL, end TEXT, "
            "observed_start TEXT, observed_end TEXT, magnitude REAL, units TEXT, source TEXT NOT NULL, "
            "description TEXT, UNIQUE (kind, target, start, source))")
        before = con.total_changes
        con.executemany(
            f"INSERT OR IGNORE INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})",
            frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None))
        return con.total_changes - before


def load_events(url: str | Path, *, kind: str | None = None, source: str | None = None,
                storage_options: dict | None = None) -> pd.DataFrame:
    """Stored events, oldest first, optionally filtered by kind and source."""
    path = _local_catalog(str(url), storage_options)
    sql, args = "SELECT * FROM events", []
    cond = [c for c, v in (("kind = ?", kind), ("source = ?", source)) if v is not None]
    args = [v for v in (kind, source) if v is not None]
    if cond:
        sql += " WHERE " + " AND ".join(cond)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone():
            return pd.DataFrame(columns=EVENT_COLUMNS)
        df = pd.read_sql(sql + " ORDER BY start", con, params=args)
    for col in ("lane", "rack", "channel"):  # integer ids with gaps (None where not applicable)
        if col in df:
            df[col] = df[col].astype("Int64")
    return _from_sql_frame(df)


__all__ = ["write_tables", "load_tables", "write_genealogy", "load_genealogy", "write_events", "load_events", "GENEALOGY_KEYS", "EVENT_COLUMNS"]

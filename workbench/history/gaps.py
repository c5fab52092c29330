"""Gaps: the store's one rule for time it has no record of, and the readers that respect it.

A **gap** is a stretch of a station's time in which a tag has no samples because nobody heard it: the
recorder lost the link, was down, could not write (disk full), or refused samples (a wrong source clock),
and the source's own history did not cover the hole. A gap is never filled with a value.

- **Stored** in ``catalog.sqlite``, table ``gaps``: one row per tag (station, tag, start, end, cause, source),
  idempotent on (station, tag, start). ``start`` is the last moment the tag was known (a sample there is
  real), ``end`` the first moment it was heard again. Each gap is also an event (kind ``data_gap``, target
  the station) so event lists and dashboards show it, and the writer logs it.
- **Read**: :func:`workbench.history.open_station` puts a variable's gaps in ``attrs["gaps"]`` as ISO 8601
  intervals ``"start/end"`` (UTC); :func:`workbench.history.open_array` in ``attrs["gaps"]`` as
  ``"start/end tag"``. :func:`load_gaps` returns them as a table.
- **Held values**: change-only sources (OPC UA reports a setpoint only when it moves) are read as "last value
  holds". :func:`hold_last` does that, but never carries a value across the start of a gap: from there on the
  value is NaN until the tag's next real sample.

>>> import pandas as pd, xarray as xr
>>> t = pd.date_range("2026-01-05T06:00", periods=6, freq="1s")
>>> nan = float("nan")
>>> sp = xr.DataArray([5.0, nan, nan, nan, 6.0, nan], dims="time", coords={"time": t},
...                   attrs={"gaps": ["2026-01-05T06:00:01Z/2026-01-05T06:00:04Z"]})
>>> hold_last(sp).values.tolist()
[5.0, 5.0, nan, nan, 6.0, 6.0]
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

GAP_COLUMNS = ["station", "tag", "start", "end", "cause", "source"]
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def _iso(t) -> str:
    t = pd.Timestamp(t)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).strftime(_ISO)


def write_gaps(root: str | Path, gaps: pd.DataFrame, *, source: str) -> int:
    """Store gaps (columns station, tag, start, end, cause) and one ``data_gap`` event per station stretch.

    Returns the number of new gap rows (a gap already stored, same station, tag and start, is kept once)."""
    from workbench.history.catalog import _connect, write_events

    if gaps.empty:
        return 0
    frame = gaps.assign(source=source)[GAP_COLUMNS].copy()
    bad = frame[pd.to_datetime(frame["end"], utc=True) < pd.to_datetime(frame["start"], utc=True)]
    if len(bad):
        from workbench.history.store import HistoryError

        raise HistoryError(f"gap of {bad.iloc[0]['tag']} ends ({bad.iloc[0]['end']}) before it starts "
                           f"({bad.iloc[0]['start']})")
    frame["start"] = [_iso(t) for t in frame["start"]]
    frame["end"] = [_iso(t) for t in frame["end"]]
    with _connect(Path(root)) as con:
        con.execute("CREATE TABLE IF NOT EXISTS gaps (station TEXT NOT NULL, tag TEXT NOT NULL, start TEXT NOT NULL, "
                    "end TEXT NOT NULL, cause TEXT, source TEXT, UNIQUE (station, tag, start))")
        before = con.total_changes
        con.executemany(f"INSERT OR IGNORE INTO gaps ({', '.join(GAP_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                        frame.itertuples(index=False, name=None))
        new = con.total_changes - before
    per_station = frame.groupby(["station", "start", "end", "cause"], as_index=False).size()
    events = pd.DataFrame({"kind": "data_gap", "station": per_station["station"], "target": per_station["station"],
                           "start": pd.to_datetime(per_station["start"], utc=True),
                           "end": pd.to_datetime(per_station["end"], utc=True),
                           "description": [f"no samples of {n} tag(s): {c}" for n, c in
                                           zip(per_station["size"], per_station["cause"])]})
    write_events(root, events, source=source)
    return new


def load_gaps(url, station: str | None = None, *, start=None, end=None,
              storage_options: dict | None = None) -> pd.DataFrame:
    """Stored gaps (station, tag, start, end, cause, source; times UTC), oldest first; those that overlap
    [start, end] when given. A store without a catalog or without gaps gives an empty table."""
    from workbench.history.catalog import _local_catalog
    from workbench.history.store import HistoryError

    empty = pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]" if c in ("start", "end") else object)
                          for c in GAP_COLUMNS})
    try:
        path = _local_catalog(str(url), storage_options)
    except HistoryError:
        return empty
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gaps'").fetchone():
            return empty
        sql, args = "SELECT * FROM gaps", []
        if station is not None:
            sql, args = sql + " WHERE station = ?", [station]
        df = pd.read_sql(sql + " ORDER BY start", con, params=args)
    df["start"] = pd.to_datetime(df["start"], utc=True, format="ISO8601")
    df["end"] = pd.to_datetime(df["end"], utc=True, format="ISO8601")
    if start is not None:
        df = df[df["end"] >= pd.Timestamp(start)]
    if end is not None:
        df = df[df["start"] <= pd.Timestamp(end)]
    return df.reset_index(drop=True)


def intervals(gaps: pd.DataFrame, tag: str | None = None) -> list[str]:
    """ISO 8601 intervals ``"start/end"`` of ``gaps`` for one ``tag``, or ``"start/end tag"`` for all tags."""
    if tag is not None:
        g = gaps[gaps["tag"] == tag]
        return [f"{_iso(s)}/{_iso(e)}" for s, e in zip(g["start"], g["end"])]
    return [f"{_iso(s)}/{_iso(e)} {t}" for s, e, t in zip(gaps["start"], gaps["end"], gaps["tag"])]


def _parse(entry: str) -> tuple[np.datetime64, np.datetime64, str | None]:
    span, _, tag = entry.partition(" ")
    a, b = span.split("/")
    return (pd.Timestamp(a).tz_convert(None).to_datetime64(), pd.Timestamp(b).tz_convert(None).to_datetime64(),
            tag or None)


def uncovered(start: int, end: int, times, gap_ns: int, spacing_ns: float | None = None) -> list[tuple[int, int]]:
    """Stretches of (start, end) (ns) that ``times`` (samples a source's history holds) leave uncovered: every
    silence longer than ``gap_ns`` and three times the usual spacing (``spacing_ns``, else the median spacing
    of ``times`` when it has at least 3). With no history at all the whole stretch is uncovered.

    >>> uncovered(0, 20, [1, 2, 3, 4, 15, 16, 17], gap_ns=2)   # a source that was down from 4 to 15
    [(4, 15)]
    >>> uncovered(0, 20, None, gap_ns=2)
    [(0, 20)]
    """
    if end <= start:
        return []
    if times is None:
        return [(start, end)]
    t = np.unique(np.asarray(times, dtype=np.int64))
    if spacing_ns is None and len(t) >= 3:
        spacing_ns = float(np.median(np.diff(t)))
    inside = t[(t > start) & (t < end)]
    points = np.concatenate([[start], inside, [end]])
    limit = max(gap_ns, 3.0 * (spacing_ns or 0.0))
    return [(int(a), int(b)) for a, b in zip(points[:-1], points[1:]) if b - a > limit]


def recording_evidence(start: int, end: int, tag_times) -> np.ndarray | None:
    """The sample times (ns) of a station's tags (``tag_times``: one array per tag, or None: no history)
    that show the source was recording during the hole (start, end), for :func:`uncovered`.

    A tag's lone sample inside the hole is left out: a server restarted after an outage serves (and
    historizes) each tag's current value, and a slowly sampled tag's (a coating gauge scans every 15 s)
    was taken while the server was down. Counted, it would split the outage into stretches too short to
    be gaps. A tag with two or more samples inside the hole was being recorded then; samples outside the
    hole set the usual spacing and are kept.

    >>> fast, gauge = [1, 2, 3, 4, 10, 11, 12], [7]      # the source was down from 4 to 10
    >>> uncovered(0, 10, recording_evidence(0, 10, [fast, gauge]), gap_ns=3)
    [(4, 10)]
    >>> uncovered(0, 10, np.unique(fast + gauge), gap_ns=3)  # counted, the gauge's scan hides the outage
    []
    """
    if tag_times is None:
        return None
    kept = []
    for t in tag_times:
        t = np.asarray(t, dtype=np.int64)
        inside = (t > start) & (t < end)
        kept.append(t[~inside] if inside.sum() == 1 else t)
    return np.concatenate(kept) if kept else np.array([], dtype=np.int64)


def across_gaps(sample_t: np.ndarray, row_t: np.ndarray, entries, tag: np.ndarray | None = None) -> np.ndarray:
    """True where a value sampled at ``sample_t`` would be held at ``row_t`` across the start of a gap
    (``entries``: parsed gaps (start, end, tag or None)); ``tag``: the tags along a second axis, if any."""
    bad = np.zeros(np.broadcast_shapes(np.shape(sample_t), np.shape(row_t)), dtype=bool)
    for start, _end, which in entries:
        crossed = (sample_t <= start) & (row_t > start)
        if which is not None and tag is not None:
            crossed = crossed & (tag == which)
        bad |= crossed
    return bad


def parse_intervals(gaps: list[str]) -> list[tuple[np.datetime64, np.datetime64, str | None]]:
    """``"start/end[ tag]"`` strings -> (start, end, tag or None), naive UTC datetime64."""
    return [_parse(g) for g in gaps]


def hold_last(da: xr.DataArray, gaps: list[str] | None = None) -> xr.DataArray:
    """Last value holds along ``time`` (for change-only tags), but never across the start of a gap.

    ``gaps``: ISO intervals as in ``da.attrs["gaps"]`` (the default). Works on one tag over ``time`` and on
    :func:`open_array`'s (time, tag) array (intervals ``"start/end tag"``). Loads the data (meant for
    setpoints and other change-only tags; select the window first). No bottleneck/numbagg needed.
    """
    entries = parse_intervals(da.attrs.get("gaps", []) if gaps is None else gaps)
    order = ("time", *[d for d in da.dims if d != "time"])
    d = da.transpose(*order)
    values = np.asarray(d.values, dtype=float)
    valid = ~np.isnan(values)
    n = values.shape[0]
    rows = np.arange(n).reshape((-1,) + (1,) * (values.ndim - 1))
    last = np.maximum.accumulate(np.where(valid, rows, -1), axis=0)  # row of the held sample, -1: none yet
    out = np.where(last >= 0, np.take_along_axis(values, np.maximum(last, 0), axis=0), np.nan)
    times = d["time"].values.astype("datetime64[ns]")
    sample_t = np.where(last >= 0, times[np.maximum(last, 0)], np.datetime64("NaT"))
    row_t = times.reshape(rows.shape)
    tag = d["tag"].values.reshape((1, -1)) if "tag" in d.dims and values.ndim == 2 else None
    out[across_gaps(sample_t, row_t, entries, tag) & ~valid] = np.nan
    res = d.copy(data=out).transpose(*da.dims)
    res.attrs = dict(da.attrs)
    return res


__all__ = ["write_gaps", "load_gaps", "hold_last", "intervals", "uncovered", "recording_evidence", "across_gaps", "parse_intervals",
           "GAP_COLUMNS"]

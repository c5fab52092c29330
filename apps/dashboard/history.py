"""History behind the dashboard: windows of the history store joined to the live buffers, drawn downsampled.

The server's history store is ``$WORKBENCH_HISTORY`` (``workbench demo`` fills one from the virtual line's
batch history and records the live acquisition into it; ``workbench serve --store DIR`` reads any store).
At start the live buffers are seeded with the store's newest samples (:func:`seed_from_dataset`), so every
page opens on hours of history; a window longer than the buffers holds reads the older part lazily from
the store (:func:`window_series`, shared by all sessions). Long windows are downsampled on the server to
the lowest and highest sample of each pixel column (:func:`downsample`): 8 hours of 1 Hz samples are drawn
from 2000 points per line with every peak and dip. Gaps (no samples for much longer than the tag's usual interval) are drawn as breaks, never
joined by a line.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import xarray as xr

from workbench.live import Quality
from workbench.live import LiveStore

log = logging.getLogger(__name__)

HISTORY_ENV = "WORKBENCH_HISTORY"
WINDOWS_H = {"1 h": 1.0, "8 h": 8.0, "24 h": 24.0, "7 days": 168.0}  # the time-range picker's choices
DEFAULT_WINDOW = "8 h"
DRAW_POINTS = 2000  # at most this many points per line after downsampling
GAP_FACTOR = 10.0  # a spacing this many times the median sample interval is a gap (drawn as a break)
WIDE_STATION_TAGS = 64  # a station with more tags (formation racks) is seeded with WIDE_SEED_H only:
WIDE_SEED_H = 1.0        # its pages read longer windows of the few tags they draw from the store on demand
ROLLUP_AFTER_H = 12.0  # longer windows are drawn from the store's rollups (workbench.history.rollup), never raw


def history_url(environ: dict | None = None) -> str | None:
    """The history store this server reads and records into (``$WORKBENCH_HISTORY``), or None."""
    env = os.environ if environ is None else environ
    return env.get(HISTORY_ENV) or None


def epoch_seconds(times) -> np.ndarray:
    """Naive-UTC datetime64 (or aware timestamps) -> float seconds since the epoch, as the buffers keep them."""
    t = pd.DatetimeIndex(times)
    if t.tz is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.as_unit("ns").asi8 / 1e9


def seed_from_dataset(live: LiveStore, ds: xr.Dataset) -> int:
    """Put the stored samples of ``ds`` (one variable per tag, ``attrs['path']``, as
    :func:`workbench.history.open_station` gives) into the live buffers, oldest first, before any live
    sample; returns the samples seeded. Tags the line does not know and buffers already fed are left alone.

    >>> from workbench.config import default_config_path, load_line_config
    >>> live = LiveStore(load_line_config(default_config_path()), capacity=4)
    >>> p = "plant1/assembly/weld1/welder/weld_resistance"
    >>> ds = xr.Dataset({"weld_resistance": ("time", [45.0, np.nan, 46.0, 47.0, 48.0, 49.0], {"path": p})},
    ...                 coords={"time": pd.date_range("2026-01-05", periods=6, freq="20s")})
    >>> seed_from_dataset(live, ds), live.series(p)[1].tolist()   # the newest 4 of the 5 samples
    (4, [46.0, 47.0, 48.0, 49.0])
    """
    if ds.sizes.get("time", 0) == 0:
        return 0
    t = epoch_seconds(ds["time"].values)
    seeded = 0
    for var in ds.data_vars.values():
        path = var.attrs.get("path")
        buf = live.buffers.get(path)
        if buf is None or buf.total:
            continue
        v = np.asarray(var.values, dtype=float)
        ok = np.flatnonzero(np.isfinite(v))[-buf.capacity:]  # NaN: the tag had no sample in that row
        buf.extend(t[ok], v[ok], Quality.GOOD)
        seeded += len(ok)
    return seeded


def seed_from_store(live: LiveStore, url: str, hours: float = WINDOWS_H[DEFAULT_WINDOW]) -> int:
    """Seed the live buffers with the newest ``hours`` of each station kept in the store at ``url``
    (``WIDE_SEED_H`` for stations of more than ``WIDE_STATION_TAGS`` tags)."""
    from workbench.history import HistoryError, open_station, station_info

    seeded = 0
    for station in live.line.stations:
        try:
            station_info(url, station.name)
        except HistoryError:
            log.info("history %s keeps no station %s: its buffers start empty", url, station.name)
            continue
        end = newest_time(url, station.name)
        if end is None:
            continue
        span = hours if len(station.tags) <= WIDE_STATION_TAGS else min(hours, WIDE_SEED_H)
        ds = open_station(url, station.name, start=end - pd.Timedelta(hours=span), end=end).compute()
        seeded += seed_from_dataset(live, ds)
    return seeded


def prewarm_rollups(live: LiveStore, url: str, hours: float | None = None) -> int:
    """Read the stored rollups of the time-range picker's longest window for the tags the pages draw (each
    station's trend tags, a coating station's lanes), once at start like the seed: the first session that
    asks for a week finds its finished days in memory. Returns the stations read."""
    from workbench.display import trend_tags
    from workbench.history.rollups import read_rollup

    hours = hours or max(WINDOWS_H.values())
    done = 0
    for station in live.line.stations:
        if len(station.tags) > WIDE_STATION_TAGS:
            continue
        end = newest_time(url, station.name)
        if end is None:
            continue
        sets = [[t.path for t in trend_tags(station)]]
        if station.kind == "coating":
            sets.append([t.path for t in station.tags if t.spec is not None])
        for paths in sets:
            if paths:
                read_rollup(url, station.name, paths, start=(end - pd.Timedelta(hours=hours)).floor("h"), end=end)
        done += 1
    return done


def newest_time(url: str, station: str) -> pd.Timestamp | None:
    """The newest stored time of a station (UTC), from the chunk names (no file is read)."""
    from workbench.history import HistoryStore

    return HistoryStore(url).high_water_mark(station)


def mark_gaps(t: np.ndarray, v: np.ndarray, factor: float = GAP_FACTOR) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN after each sample followed by a gap (> ``factor`` x the median spacing): a break in the line.

    >>> mark_gaps(np.array([0., 1., 2., 50., 51.]), np.array([1., 1., 1., 2., 2.]))[1].tolist()
    [1.0, 1.0, 1.0, nan, 2.0, 2.0]
    """
    if len(t) < 3:
        return t, v
    dt = np.diff(t)
    typical = np.median(dt)
    gaps = np.flatnonzero(dt > factor * max(typical, 1e-9))
    if not len(gaps):
        return t, v
    return (np.insert(t, gaps + 1, t[gaps] + typical), np.insert(v, gaps + 1, np.nan))


def downsample(t: np.ndarray, v: np.ndarray, n_out: int = DRAW_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``n_out`` points: the window cut into ``n_out // 2`` equal time buckets (a pixel column
    each at the chart's width), and of each bucket the lowest and the highest sample, in time order. Every
    peak and dip a pixel column holds is drawn, and nothing is drawn that was not measured. A NaN (a break
    put by :func:`mark_gaps`, or a bad sample) stays where it is, between the points it separates: the line
    is never joined across it (a bucket that holds a break keeps the extremes of each side, so it may give
    more than 2 points).

    >>> t = np.arange(100_000.0); v = np.sin(t / 500.0); v[40_000] = 5.0; v[70_000] = -5.0
    >>> ts, vs = downsample(t, v, 1000)
    >>> len(ts) <= 1000, float(np.nanmax(vs)), float(np.nanmin(vs))    # the spike and the dip survive
    (True, 5.0, -5.0)
    >>> downsample(np.arange(8.0), np.array([1., 2, 3, np.nan, 5, 6, 7, 8]), 4)[1].tolist()
    [1.0, 3.0, nan, 5.0, 8.0]
    """
    if len(t) <= n_out:
        return t, v
    buckets = max(n_out // 2, 1)
    breaks = np.isnan(v)
    span = float(t[-1] - t[0]) or 1.0
    bucket = np.minimum(((t - t[0]) * (buckets / span)).astype(np.int64), buckets - 1)
    side = np.cumsum(breaks)  # a break starts a new group within its bucket: the line is cut there
    ok = np.flatnonzero(~breaks)
    # groups of (bucket, side) in time order; within each, the samples by value: first is the min, last the max
    group = np.concatenate([[True], (np.diff(bucket[ok]) != 0) | (np.diff(side[ok]) != 0)]).cumsum() - 1
    order = ok[np.lexsort((v[ok], group))]
    g = group[np.searchsorted(ok, order)]
    starts = np.flatnonzero(np.concatenate([[True], np.diff(g) != 0]))
    ends = np.concatenate([starts[1:], [len(order)]]) - 1
    idx = np.unique(np.concatenate([order[starts], order[ends], np.flatnonzero(breaks)]))
    return t[idx], v[idx]


def read_window(url: str, station: str, paths: list[str], start: pd.Timestamp,
                end: pd.Timestamp) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Stored samples of ``paths`` in [start, end) as {path: (time s, value)} (NaN rows of a tag dropped)."""
    from workbench.history import open_array

    arr = open_array(url, station, tags=paths, start=start, end=end).compute()
    if arr.sizes["time"]:  # [start, end): the live buffer holds ``end`` itself
        arr = arr.isel(time=np.flatnonzero(arr["time"].values < np.datetime64(end.tz_localize(None))))
    t = epoch_seconds(arr["time"].values)
    out = {}
    for j, path in enumerate(paths):
        v = np.asarray(arr.values[:, j], dtype=float)
        ok = np.isfinite(v)
        out[path] = (t[ok], v[ok])
    return out


def window_series(live: LiveStore, url: str | None, paths: list[str], start_s: float,
                  *, shared=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each tag of one station from ``start_s`` (s since the epoch) to now: the store's older part (if the
    window reaches before the buffer's oldest sample) joined to the live buffer; samples of bad quality NaN.

    ``shared(key, compute)``: where a history read is cached for all sessions (default: read each time).
    """
    live_parts = {}
    for path in paths:
        t, v, q = live.series(path)
        keep = t >= start_s
        live_parts[path] = (t[keep], np.where(q[keep] == 0, v[keep], np.nan))
    if url is None or not paths:
        return live_parts
    firsts = [p[0][0] for p in live_parts.values() if len(p[0])]
    first = min(firsts) if firsts else np.inf
    if first <= start_s:
        return live_parts
    station = live.station_of[paths[0]]
    # whole hours: every session and refresh of the hour shares one read (trimmed to the window below)
    start = pd.Timestamp(start_s, unit="s", tz="UTC").floor("h")
    end = (pd.Timestamp(first, unit="s", tz="UTC") if np.isfinite(first) else pd.Timestamp.now(tz="UTC")).ceil("h")

    def read():
        try:
            return read_window(url, station, paths, start, end)
        except Exception as exc:  # a store that cannot be read: the live part is still drawn
            log.warning("history window of %s from %s: %s", station, start, exc)
            return {}

    key = f"history:{url}:{station}:{','.join(paths)}:{start.isoformat()}:{end.isoformat()}"
    old = shared(key, read) if shared is not None else read()
    out = {}
    for path, (t, v) in live_parts.items():
        ot, ov = old.get(path, (np.empty(0), np.empty(0)))
        keep = (ot >= start_s) & (ot < (t[0] if len(t) else np.inf))
        out[path] = (np.concatenate([ot[keep], t]), np.concatenate([ov[keep], v]))
    return out


def rollup_bucket_ns(window_s: float, buckets: int) -> int:
    """The bucket (ns, a whole number of the store's minute buckets) that splits ``window_s`` in at most
    ``buckets``: the pixel width of the chart, not the samples, sets how much is drawn.

    >>> rollup_bucket_ns(7 * 86400, 1000) // 10**9, rollup_bucket_ns(3600, 1000) // 10**9
    (660, 60)
    """
    from workbench.history.rollup import BUCKET_NS

    return int(max(1, -(-window_s * 1e9 // (buckets * BUCKET_NS)))) * BUCKET_NS


def live_rollup(live: LiveStore, paths: list[str], after_ns: int, bucket_ns: int) -> dict | None:
    """The live buffers' samples of ``paths`` newer than ``after_ns`` as a rollup (bad quality: no sample)."""
    from workbench.history.rollup import rollup

    parts = {}
    for path in paths:
        t, v, q = live.series(path)
        tn = np.round(t * 1e9).astype(np.int64)
        keep = tn > after_ns
        parts[path] = (tn[keep], np.where(q[keep] == 0, v[keep], np.nan))
    times = np.unique(np.concatenate([t for t, _ in parts.values()])) if parts else np.empty(0, np.int64)
    if not len(times):
        return None
    values = np.full((len(times), len(paths)), np.nan)
    for j, path in enumerate(paths):
        t, v = parts[path]
        values[np.searchsorted(times, t), j] = v
    return rollup(times, values, paths, bucket_ns)


def window_rollup(live: LiveStore, url: str | None, paths: list[str], start_s: float, buckets: int,
                  *, shared=None) -> dict | None:
    """The window from ``start_s`` to now as a rollup of at most ``buckets`` buckets: the store's rollups up
    to the minute the live buffers begin in, the buffers after the last stored sample taken (nothing is
    counted twice, nothing left out). ``shared(key, compute)`` caches the store's part for all sessions."""
    from workbench.history.rollup import BUCKET_NS, combine, concat, select

    end_s = max((float(live.series(p, 1)[0][-1]) for p in paths if len(live.series(p, 1)[0])),
                default=pd.Timestamp.now(tz="UTC").timestamp())
    bucket = rollup_bucket_ns(end_s - start_s, buckets)
    lo = int(start_s * 1e9) // bucket * bucket
    firsts = [live.series(p)[0][:1] for p in paths]
    first = min((float(t[0]) for t in firsts if len(t)), default=np.inf)
    stored = None
    if url is not None and paths and first > start_s:
        station = live.station_of[paths[0]]
        # whole hours: every session and refresh of the hour shares one read
        h0 = pd.Timestamp(lo, unit="ns", tz="UTC").floor("h")
        h1 = (pd.Timestamp(first, unit="s", tz="UTC") if np.isfinite(first) else pd.Timestamp.now(tz="UTC")).ceil("h")
        boundary = int(first * 1e9) // BUCKET_NS * BUCKET_NS + BUCKET_NS if np.isfinite(first) else h1.value

        since = int(start_s * 1e9) // BUCKET_NS * BUCKET_NS
        head_end = boundary // bucket * bucket  # whole coarse buckets before it: merged once, in the cache

        def read():
            from workbench.history.rollups import read_rollup

            try:
                r = read_rollup(url, station, paths, start=h0, end=h1)
            except Exception as exc:  # a store that cannot be read: the live part is still drawn
                log.warning("history rollup of %s from %s: %s", station, h0, exc)
                return None
            if r is None:
                return None
            parts = [combine(select(r, None, since, head_end), bucket), select(r, None, head_end, boundary)]
            return concat([x for x in parts if x is not None and len(x["bucket"])])

        # one read and merge a minute for every session and refresh (the window moves by whole minutes)
        key = f"rollup:{url}:{station}:{','.join(paths)}:{since}:{boundary}:{bucket}"
        stored = shared(key, read) if shared is not None else read()
    after = int(start_s * 1e9) - 1
    if stored is not None and len(stored["bucket"]) and (stored["n"] > 0).any():
        after = max(after, int(stored["t_last"][stored["n"] > 0].max()))
    fresh = live_rollup(live, paths, after, bucket)  # exact at any bucket size: straight to the coarse one
    both = concat([r for r in (stored, fresh) if r is not None]) if (stored or fresh) else None
    return None if both is None else select(combine(both, bucket), None, lo, None)


__all__ = ["HISTORY_ENV", "WINDOWS_H", "DEFAULT_WINDOW", "history_url", "seed_from_dataset", "seed_from_store",
           "mark_gaps", "downsample", "read_window", "window_series", "epoch_seconds", "window_rollup",
           "live_rollup", "rollup_bucket_ns", "prewarm_rollups", "ROLLUP_AFTER_H"]

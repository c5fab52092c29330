"""The history store's read side: open a station's time series lazily as an xarray Dataset.

Works on a local folder or any fsspec URL (``s3://bucket/store``, ``gs://...``, ``memory://...``):
the chunk file names carry time range and row count, so ``open`` lists files and builds dask arrays
without reading data. Each chunk becomes one dask chunk along ``time``.

Corrupt or truncated chunks: ``open`` checks each selected chunk's Parquet footer (metadata only). With
``on_corrupt="raise"`` (default) a bad chunk raises :class:`HistoryError` naming the file; with
``"skip"`` it is left out with a warning and the rest reads normally.
"""

from __future__ import annotations

import json
import warnings
from typing import Iterable

import dask
import dask.array as da
import fsspec
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import xarray as xr

from workbench.history.store import CHUNK_NAME, HistoryError, TagSpec


def _fs(url: str, storage_options: dict | None):
    fs, root = fsspec.core.url_to_fs(str(url), **(storage_options or {}))
    return fs, root.rstrip("/")


def _chunks(fs, root: str, station: str, start: pd.Timestamp | None, end: pd.Timestamp | None):
    out = []
    for path in fs.glob(f"{root}/ts/{station}/*/*.parquet"):
        m = CHUNK_NAME.match(path.rsplit("/", 1)[-1])
        if not m:
            continue
        t0, t1, rows = int(m["t0"]), int(m["t1"]), int(m["rows"])
        if (start is not None and t1 < start.value) or (end is not None and t0 > end.value):
            continue
        out.append((t0, t1, rows, path))
    return sorted(out)


def _check_footer(fs, path: str) -> str | None:
    try:
        with fs.open(path, "rb") as fh:
            pq.ParquetFile(fh).metadata  # noqa: B018  (reading the footer is the check)
    except Exception as exc:  # pyarrow raises several types for truncated/corrupt files
        return f"{type(exc).__name__}: {exc}"
    return None


def _load_chunk(fs, path: str, tags: list[str], resolution: dict[str, float | None]):
    """Read one chunk -> (time ns int64 array, float64 values [rows, tags])."""
    try:
        with fs.open(path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            present = [t for t in tags if t in pf.schema_arrow.names]
            table = pf.read(columns=["time", *present])
    except Exception as exc:
        raise HistoryError(f"{path}: corrupt or unreadable history chunk ({type(exc).__name__}: {exc}); "
                           f"open with on_corrupt='skip' to read the rest, or delete/restore this file") from None
    times = table.column("time").to_numpy()
    values = np.full((len(times), len(tags)), np.nan)
    for j, tag in enumerate(tags):
        if tag in present:
            col = table.column(tag).to_numpy(zero_copy_only=False).astype(float)
            res = resolution.get(tag)
            values[:, j] = col * res if res else col
    return times, values


def variable_names(paths: list[str]) -> dict[str, str]:
    """Short, unique variable names for tag paths: the fewest trailing path parts, joined by '_'.

    >>> variable_names(["a/b/rack1/ch01/voltage", "a/b/rack2/ch01/voltage", "a/b/c/d/line_speed"])
    {'a/b/rack1/ch01/voltage': 'rack1_ch01_voltage', 'a/b/rack2/ch01/voltage': 'rack2_ch01_voltage', 'a/b/c/d/line_speed': 'line_speed'}
    """
    out = {}
    for path in paths:
        parts = path.split("/")
        for k in range(1, len(parts) + 1):
            tail = parts[-k:]
            clash = [p for p in paths if p != path and p.split("/")[-k:] == tail]
            if not clash:
                out[path] = "_".join(tail)
                break
    return out


def station_info(url: str, station: str, *, storage_options: dict | None = None) -> dict:
    """The station's record in the store: kind, constants and tags (as written by declare_station)."""
    fs, root = _fs(url, storage_options)
    path = f"{root}/stations/{station}.json"
    if not fs.exists(path):
        stations = sorted(p.rsplit("/", 1)[-1].removesuffix(".json") for p in fs.glob(f"{root}/stations/*.json"))
        raise HistoryError(f"{url}: no station {station!r} in this store; stations: {stations}")
    with fs.open(path, "r") as fh:
        return json.load(fh)


def station_tags(url: str, station: str, *, storage_options: dict | None = None) -> dict[str, TagSpec]:
    """The tags a store keeps for ``station`` (path -> TagSpec with units and resolution)."""
    return {t["path"]: TagSpec(**t) for t in station_info(url, station, storage_options=storage_options)["tags"]}


def open_station(url: str, station: str, *, tags: Iterable[str] | None = None, start=None, end=None,
                 on_corrupt: str = "raise", storage_options: dict | None = None) -> xr.Dataset:
    """Open one station's history lazily: a Dataset over ``time`` with one variable per tag.

    Variables are named by the tag's last path part, or as many trailing parts as make the name unique
    (``rack1_ch01_voltage``; see :func:`variable_names`), with the full path in ``attrs['path']``), carry
    ``attrs['units']`` (and ``attrs['reports']`` for dew/frost point sensors), and are dask arrays.
    ``start``/``end`` (inclusive, UTC) select whole chunks and then trim exactly.

    >>> ds = open_station("/path/to/store", "dryroom", start="2026-01-05", end="2026-01-06")  # doctest: +SKIP
    """
    if on_corrupt not in ("raise", "skip"):
        raise ValueError(f"on_corrupt must be 'raise' or 'skip', got {on_corrupt!r}")
    specs = station_tags(url, station, storage_options=storage_options)
    wanted = list(specs) if tags is None else list(tags)
    unknown = [t for t in wanted if t not in specs]
    if unknown:
        raise HistoryError(f"{url}: station {station!r} has no tag(s) {unknown[:3]}; known: {list(specs)[:5]}...")
    start = pd.Timestamp(start, tz="UTC") if start is not None and pd.Timestamp(start).tzinfo is None else (
        pd.Timestamp(start).tz_convert("UTC") if start is not None else None)
    end = pd.Timestamp(end, tz="UTC") if end is not None and pd.Timestamp(end).tzinfo is None else (
        pd.Timestamp(end).tz_convert("UTC") if end is not None else None)
    fs, root = _fs(url, storage_options)
    chunks = _chunks(fs, root, station, start, end)
    good = []
    for t0, t1, rows, path in chunks:
        problem = _check_footer(fs, path)
        if problem is None:
            good.append((t0, t1, rows, path))
        elif on_corrupt == "skip":
            warnings.warn(f"{path}: skipped corrupt history chunk ({problem})", stacklevel=2)
        else:
            raise HistoryError(f"{path}: corrupt or truncated history chunk ({problem}); "
                               f"open with on_corrupt='skip' to read the rest, or delete/restore this file")
    resolution = {t: specs[t].resolution for t in wanted}
    time_parts, value_parts = [], []
    for _, _, rows, path in good:
        loaded = dask.delayed(_load_chunk, pure=True)(fs, path, wanted, resolution)
        time_parts.append(da.from_delayed(loaded[0], shape=(rows,), dtype=np.int64))
        value_parts.append(da.from_delayed(loaded[1], shape=(rows, len(wanted)), dtype=float))
    if good:
        # Times are small (8 bytes/row); load them now so the time index is real and selectable.
        times = pd.to_datetime(np.concatenate(dask.compute(*time_parts)), utc=True).tz_localize(None)
        values = da.concatenate(value_parts, axis=0)
    else:
        times = pd.DatetimeIndex([], dtype="datetime64[ns]")
        values = da.zeros((0, len(wanted)))
    data_vars = {}
    names = variable_names(wanted)
    for j, tag in enumerate(wanted):
        spec = specs[tag]
        attrs = {"units": spec.units, "path": tag}
        if spec.reports:
            attrs["reports"] = spec.reports
        if spec.resolution:
            attrs["resolution"] = spec.resolution
        data_vars[names[tag]] = xr.Variable(("time",), values[:, j], attrs)
    ds = xr.Dataset(data_vars, coords={"time": ("time", times.values.astype("datetime64[ns]"))},
                    attrs={"station": station, "store": str(url)})
    if start is not None or end is not None:
        lo = start.tz_localize(None) if start is not None else None
        hi = end.tz_localize(None) if end is not None else None
        ds = ds.sel(time=slice(lo, hi))
    return ds


__all__ = ["open_station", "station_tags", "station_info", "variable_names"]

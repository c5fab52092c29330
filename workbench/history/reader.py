"""The history store's read side: open a station's time series lazily as an xarray Dataset.

Works on a local folder or any fsspec URL (``s3://bucket/store``, ``gs://...``, ``memory://...``):
the chunk file names carry time range and row count, so ``open`` lists files and builds dask arrays
without reading data. Each chunk becomes one dask chunk along ``time``.

Corrupt or truncated chunks: ``open`` checks each selected chunk's Parquet footer and time column. With
``on_corrupt="raise"`` (default) a bad chunk raises :class:`HistoryError` naming the file; with
``"skip"`` it is left out with a warning and the rest reads normally. A damaged data page of a value column
shows only when it is read (at compute): with ``"skip"`` that column of that chunk reads as NaN (a warning
names file and tag), everything else as stored; with ``"raise"`` the error names the file.

Gaps (:mod:`.gaps`): each variable carries the stored gaps of its tag in ``attrs["gaps"]``. A PLC bad-value
code found stored as a value (:mod:`workbench.badvalues`: 3.4e38, -9.9e37, -9999...) reads as a gap (NaN), with a
warning that counts them per file and tag: analyses and the dashboard never see a code as a reading.
"""

from __future__ import annotations

import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import dask
import dask.array as da
import fsspec
from fsspec.implementations.local import LocalFileSystem
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr

from workbench.badvalues import is_bad_value
from workbench.history.gaps import intervals, load_gaps
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


def _times_or_problem(fs, path: str, rows: int) -> tuple[np.ndarray | None, str | None]:
    """Read a chunk's footer and time column: (times, None), or (None, what is wrong with the file)."""
    try:
        if isinstance(fs, LocalFileSystem):  # pyarrow's own file reads, without the GIL (open is ~2x faster)
            times = pq.ParquetFile(path, page_checksum_verification=True).read(columns=["time"]).column("time").to_numpy()
        else:
            with fs.open(path, "rb") as fh:
                times = pq.ParquetFile(fh, page_checksum_verification=True).read(columns=["time"]).column("time").to_numpy()
    except Exception as exc:  # pyarrow raises several types for truncated/corrupt files
        return None, _why(exc)
    if len(times) != rows:
        return None, f"holds {len(times)} rows, its name says {rows}"
    return times, None


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"  # one line (pyarrow's messages hold newlines)


def _corrupt(path: str, exc: Exception) -> HistoryError:
    return HistoryError(f"{path}: corrupt or unreadable history chunk ({_why(exc)}); "
                        f"open with on_corrupt='skip' to read the rest, or delete/restore this file")


def _read_columns(fs, path: str, columns: list[str] | None, whole_file: bool = False, skip: bool = False):
    """Read ``columns`` of a chunk. ``whole_file``: fetch the file in one read and decode from memory.

    For most of a chunk's columns that is faster everywhere: one request to object storage instead
    of a range request per column, and locally pyarrow decodes without going back to a Python file
    object (which holds the GIL) per column - about 2x on a 200-tag chunk.
    ``skip``: if the chunk does not decode, read it column by column and leave out (with a warning) the
    columns whose pages are damaged.
    """
    try:
        with fs.open(path, "rb") as fh:
            pf = pq.ParquetFile(pa.BufferReader(fh.read()) if whole_file or skip else fh,
                                page_checksum_verification=True)  # a damaged page is an error, not values
            names = set(pf.schema_arrow.names)  # (the property rebuilds the schema on every access)
            present = [c for c in columns if c in names] if columns is not None else None
            try:
                return pf.read(columns=present)
            except Exception:
                if not skip:
                    raise
                good = {}
                for col in present if present is not None else pf.schema_arrow.names:
                    try:
                        good[col] = pf.read(columns=[col]).column(col)
                    except Exception as col_exc:
                        warnings.warn(f"{path}: skipped tag {col} of a corrupt history chunk (its values read as "
                                      f"NaN there: {_why(col_exc)})", stacklevel=2)
                return pa.table(good) if good else pa.table({})
    except HistoryError:
        raise
    except Exception as exc:
        raise _corrupt(path, exc) from None


def _load_chunk(fs, path: str, tags: list[str], resolution: dict[str, float | None], rows: int,
                whole_file: bool = False, skip: bool = False) -> np.ndarray:
    """Read one chunk's values -> float64 [rows, tags] (NaN where a tag has no sample).

    Column-major (Fortran order): each tag is written as one contiguous column, half the cost of
    filling a row-major block column by column; dask and numpy reduce either layout alike.
    """
    table = _read_columns(fs, path, tags, whole_file, skip)
    present = set(table.column_names)
    values = np.empty((rows, len(tags)), order="F")
    for j, tag in enumerate(tags):
        out = values[:, j]
        if tag not in present:
            out.fill(np.nan)
            continue
        col = table.column(tag).to_numpy(zero_copy_only=False)  # nulls -> NaN (float) for int columns
        res = resolution.get(tag)
        if res:
            np.multiply(col, res, out=out)
        else:
            out[:] = col
    _mask_codes(path, tags, values)
    return values


def _mask_codes(path: str, tags: list[str], values: np.ndarray) -> None:
    """PLC bad-value codes stored as values (an import older than the importer's masking, another writer)
    read as gaps (NaN), counted in a warning that names the file and tags. Only float columns can hold one:
    a code does not fit a tag's resolution grid (the store refuses it)."""
    bad = is_bad_value(values)
    if not bad.any():
        return
    values[bad] = np.nan
    per_tag = bad.sum(axis=0)
    counts = ", ".join(f"{tags[j]} x{int(per_tag[j])}" for j in np.flatnonzero(per_tag)[:5])
    warnings.warn(f"{path}: {int(per_tag.sum())} PLC bad-value code(s) stored as values read as gaps (NaN): "
                  f"{counts}. The importer now keeps them as gaps; re-import the export into a new store "
                  f"to have them marked there", stacklevel=2)


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
        if not fs.exists(root):
            raise HistoryError(f"no history store at {url}: the folder does not exist. Create one with "
                               f"`workbench record --config LINE.yaml --store {url}` (a live line), "
                               f"`workbench import FILE... --store {url}` (historian exports) or "
                               f"`workbench fill-history --store {url}` (the virtual line's demo history)")
        if not fs.exists(f"{root}/stations"):
            raise HistoryError(f"{url} is not a history store (it has no stations/ folder); give the folder that "
                               f"`workbench record`, `workbench import` or `workbench fill-history` wrote")
        stations = sorted(p.rsplit("/", 1)[-1].removesuffix(".json") for p in fs.glob(f"{root}/stations/*.json"))
        raise HistoryError(f"{url}: no station {station!r} in this store; stations: {stations}")
    with fs.open(path, "r") as fh:
        return json.load(fh)


def station_tags(url: str, station: str, *, storage_options: dict | None = None) -> dict[str, TagSpec]:
    """The tags a store keeps for ``station`` (path -> TagSpec with units and resolution)."""
    return {t["path"]: TagSpec(**t) for t in station_info(url, station, storage_options=storage_options)["tags"]}


TIME_FORMATS = ("an ISO 8601 date or time ('2026-01-05', '2026-01-05T06:00', '2026-01-05T06:00:00+01:00'; "
                "without an offset it is UTC), a datetime, a pandas.Timestamp or a numpy.datetime64")


def _utc(ts, what: str = "time") -> pd.Timestamp | None:
    if ts is None:
        return None
    try:
        t = pd.Timestamp(ts)
    except (ValueError, TypeError) as exc:
        raise HistoryError(f"{what}={ts!r} is not a time this reader understands ({exc}); give {TIME_FORMATS}. "
                           f"For a relative window compute it, e.g. pd.Timestamp.now(tz='UTC') - pd.Timedelta('1D')") from None
    if t is pd.NaT:
        raise HistoryError(f"{what}={ts!r} is not a time (NaT); give {TIME_FORMATS}")
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _window(start, end) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """(start, end) as UTC Timestamps; start after end is an error that names both."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if start is not None and end is not None and start > end:
        raise HistoryError(f"start {start.isoformat()} is after end {end.isoformat()}: the window would be empty; "
                           f"swap them (start is the earlier time, both inclusive)")
    return start, end


def _open_values(url, station, tags, start, end, on_corrupt, storage_options):
    """(specs, wanted tags, times index, lazy 2-D values [time, tag]) for a station and window."""
    if on_corrupt not in ("raise", "skip"):
        raise ValueError(f"on_corrupt must be 'raise' or 'skip', got {on_corrupt!r}")
    specs = station_tags(url, station, storage_options=storage_options)
    wanted = list(specs) if tags is None else list(tags)
    unknown = [t for t in wanted if t not in specs]
    if unknown:
        raise HistoryError(f"{url}: station {station!r} has no tag(s) {unknown[:3]}; known: {list(specs)[:5]}...")
    fs, root = _fs(url, storage_options)
    chunks = _chunks(fs, root, station, start, end)
    with ThreadPoolExecutor(max_workers=8) as pool:  # footers and time columns: small reads, many files
        checked = list(pool.map(lambda c: _times_or_problem(fs, c[3], c[2]), chunks))
    good, time_parts = [], []
    for (t0, t1, rows, path), (times, problem) in zip(chunks, checked):
        if problem is None:
            good.append((t0, t1, rows, path))
            time_parts.append(times)
        elif on_corrupt == "skip":
            warnings.warn(f"{path}: skipped corrupt history chunk ({problem}); its rows are not in the result",
                          stacklevel=3)
        else:
            raise HistoryError(f"{path}: corrupt or truncated history chunk ({problem}); "
                               f"open with on_corrupt='skip' to read the rest, or delete/restore this file")
    resolution = {t: specs[t].resolution for t in wanted}
    whole = 2 * len(wanted) >= len(specs)  # most of the columns: one read per file (see _read_columns)
    skip = on_corrupt == "skip"
    parts = [da.from_delayed(dask.delayed(_load_chunk, pure=True)(fs, path, wanted, resolution, rows, whole, skip),
                             shape=(rows, len(wanted)), dtype=float) for _, _, rows, path in good]
    if not good:
        return specs, wanted, pd.DatetimeIndex([], dtype="datetime64[ns]"), da.zeros((0, len(wanted)))
    # Times are small (8 bytes/row, delta-encoded) and were read with the check, so the index is real.
    times = pd.to_datetime(np.concatenate(time_parts), utc=True).tz_localize(None)
    return specs, wanted, times, da.concatenate(parts, axis=0)


def _trim(obj, start, end):
    if start is None and end is None:
        return obj
    return obj.sel(time=slice(start.tz_localize(None) if start is not None else None,
                              end.tz_localize(None) if end is not None else None))


def open_station(url: str, station: str, *, tags: Iterable[str] | None = None, start=None, end=None,
                 on_corrupt: str = "raise", storage_options: dict | None = None) -> xr.Dataset:
    """Open one station's history lazily: a Dataset over ``time`` with one variable per tag.

    Variables are named by the tag's last path part, or as many trailing parts as make the name unique
    (``rack1_ch01_voltage``; see :func:`variable_names`), with the full path in ``attrs['path']``, carry
    ``attrs['units']`` (and ``attrs['reports']`` for dew/frost point sensors), and are dask arrays.
    ``start``/``end`` (inclusive, UTC) select whole chunks and then trim exactly. For many tags at once,
    :func:`open_array` is the faster form (one 2-D array, one dask chunk per stored file).

    >>> ds = open_station("/path/to/store", "dryroom", start="2026-01-05", end="2026-01-06")  # doctest: +SKIP
    """
    start, end = _window(start, end)
    specs, wanted, times, values = _open_values(url, station, tags, start, end, on_corrupt, storage_options)
    gaps = load_gaps(url, station, start=start, end=end, storage_options=storage_options)
    names = variable_names(wanted)
    data_vars = {}
    for j, tag in enumerate(wanted):
        spec = specs[tag]
        attrs = {"units": spec.units, "path": tag}
        if spec.reports:
            attrs["reports"] = spec.reports
        if spec.resolution:
            attrs["resolution"] = spec.resolution
        attrs["gaps"] = intervals(gaps, tag)
        data_vars[names[tag]] = xr.Variable(("time",), values[:, j], attrs)
    ds = xr.Dataset(data_vars, coords={"time": ("time", times.values.astype("datetime64[ns]"))},
                    attrs={"station": station, "store": str(url)})
    return _trim(ds, start, end)


def open_array(url: str, station: str, *, tags: Iterable[str] | None = None, start=None, end=None,
               on_corrupt: str = "raise", storage_options: dict | None = None) -> xr.DataArray:
    """Open a station's tags as one lazy DataArray over (time, tag); units per tag in the ``units`` coord.

    The fast form for whole-line reductions (one dask chunk per stored file, all tags together):

    >>> daily = open_array("/path/to/store", "formation").resample(time="1D").mean()  # doctest: +SKIP
    """
    start, end = _window(start, end)
    specs, wanted, times, values = _open_values(url, station, tags, start, end, on_corrupt, storage_options)
    gaps = load_gaps(url, station, start=start, end=end, storage_options=storage_options)
    arr = xr.DataArray(values, dims=("time", "tag"),
                       coords={"time": times.values.astype("datetime64[ns]"), "tag": wanted,
                               "units": ("tag", [specs[t].units for t in wanted])},
                       name=station, attrs={"station": station, "store": str(url),
                                            "gaps": intervals(gaps[gaps["tag"].isin(wanted)])})
    return _trim(arr, start, end)


__all__ = ["open_station", "open_array", "station_tags", "station_info", "variable_names"]

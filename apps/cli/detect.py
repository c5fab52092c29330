"""`workbench detect FILE`: change points in every series of a CSV/Parquet table, a NetCDF/Zarr dataset or a
cycler export.

Cycler exports (every format ``workbench.cyclers`` reads but BDF, which is a plain table): voltage, current
and temperature along the file's records (``time``: seconds since the test's start), in canonical units
(capacity, the current's integral within each step, only with ``--var capacity``); the step and cycle
numbers change wherever they move (set by the test plan: no statistics).

Tables are wide: one time column (``--time-col``, default: the first column named time/timestamp, else the
first column) and one numeric column per series. Datasets: every numeric variable with the ``--dim``
dimension, or those named with ``--var``. Prints (or writes with ``-o``) one row per segment, or per
change with ``--changes``.
"""

from __future__ import annotations

import sys
from pathlib import Path

TABLE_SUFFIXES = {".csv", ".parquet", ".pq"}
DATASET_SUFFIXES = {".nc", ".nc4", ".netcdf", ".zarr"}
COUNTERS = ("step", "cycle")  # a cycler's step and cycle numbers: set by the test plan, every move is a change
INTEGRALS = ("capacity",)  # the current's integral within each step: a sawtooth of ramps whose changes are the
# current's; left out unless asked for with --var (on 253k records of a Neware .ndax it took 411 s of the 420)
CLI_METHODS = ("pelt", "shape", "kernelcpd", "binseg", "bottomup")  # detect.METHODS but dynp (needs n_bkps)


def register(sub) -> None:
    p = sub.add_parser("detect", help="change points in every series of a file (CSV/Parquet/NetCDF/Zarr, cycler "
                                      "exports)")
    p.add_argument("file", help="input: .csv, .parquet, .nc or .zarr (a stored history dataset), or a cycler "
                                "export (Maccor, Neware, BioLogic, Arbin, PEC, Novonix)")
    p.add_argument("--var", action="append", help="dataset variable to analyse (repeatable; default: all numeric)")
    p.add_argument("--dim", default="time", help="dimension to detect along (default: time)")
    p.add_argument("--time-col", help="time column of a table (default: 'time'/'timestamp' or the first column)")
    p.add_argument("--penalty", default="auto", help="'auto' (robust, unit-free) or a number in unit^2")
    p.add_argument("--penalty-factor", type=float, default=1.0, help="scale the auto penalty (>1: fewer changes)")
    p.add_argument("--min-size", type=int, default=5, help="minimum segment length in samples (default 5)")
    p.add_argument("--min-duration", help="minimum segment length in time, e.g. 10min (converted with the median interval)")
    p.add_argument("--joint", help="one segmentation shared along this dim (e.g. lane)")
    p.add_argument("--method", default="pelt", choices=CLI_METHODS,
                   help="'pelt' (default: changes in level, the robust policy), 'shape' (changes in pattern: a "
                        "periodic or structured signal), or ruptures' searches 'kernelcpd', 'binseg', 'bottomup'")
    p.add_argument("--min-shift", help="smallest shift that matters, e.g. 0.5 or '0.5 g/m^2' (in the data's "
                                       "unit when no unit is given): smaller steps are merged away")
    p.add_argument("--changes", action="store_true", help="list change points instead of segments")
    p.add_argument("-o", "--output", help="write .csv or .parquet instead of printing CSV")
    p.add_argument("--progress", action=argparse_bool(), default=None,
                   help="progress bar (default: on when stderr is a terminal, so a log or a pipe gets no bar lines)")
    p.set_defaults(func=run)


def argparse_bool():
    import argparse

    return argparse.BooleanOptionalAction


def run(args) -> int:
    import numpy as np
    import pandas as pd

    from workbench.changepoints import detect, segments

    penalty = args.penalty if args.penalty == "auto" else _number(args.penalty, "--penalty")
    min_shift = _shift(args.min_shift)
    if args.progress is None:
        args.progress = sys.stderr.isatty()
    frames = []
    for name, da in load_series(args.file, variables=args.var, dim=args.dim, time_col=args.time_col).items():
        along = "record" if "cycler" in da.attrs else args.dim  # a cycler export: along its records
        if da.attrs.get("every_move"):  # no statistics: the test plan moved it
            v = da.values
            flags = da.copy(data=np.r_[False, v[1:] != v[:-1]])
        else:
            flags = detect(da, along, method=args.method, penalty=penalty, penalty_factor=args.penalty_factor,
                           min_size=args.min_size, min_duration=args.min_duration, joint=args.joint,
                           progress=args.progress, min_shift=min_shift)
        if flags.chunks is not None:  # lazy (Zarr/NetCDF via dask): compute here, with the bar if asked
            flags = _compute_with_progress(flags, args.progress)
        if args.changes:
            df = flags.to_dataframe(name="change").reset_index()
            df = df[df["change"]].drop(columns="change")
        else:
            df = segments(da.compute() if da.chunks is not None else da, flags, along)
            if along != args.dim and args.dim in da.coords:  # the records' times beside their numbers
                t = da[args.dim].values
                df.insert(df.columns.get_loc("end") + 1, f"start_{args.dim}", t[df["start_index"]])
                df.insert(df.columns.get_loc(f"start_{args.dim}") + 1, f"end_{args.dim}", t[df["stop_index"] - 1])
        df.insert(0, "variable", name)
        df["units"] = da.attrs.get("units")
        frames.append(df)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if args.output:
        dest = Path(args.output)
        if dest.suffix in (".parquet", ".pq"):
            out.to_parquet(dest, index=False)
        elif dest.suffix == ".csv":
            out.to_csv(dest, index=False)
        else:
            raise ValueError(f"--output {dest}: use a .csv or .parquet file name")
        print(f"{dest}: {len(out)} rows")
    else:
        print(out.to_csv(index=False), end="")
    return 0


def _compute_with_progress(lazy, progress: bool):
    import contextlib

    from dask.diagnostics import ProgressBar

    with ProgressBar(out=sys.stderr) if progress else contextlib.nullcontext():
        return lazy.compute()


def load_series(path, *, variables=None, dim="time", time_col=None) -> dict:
    """{name: DataArray along ``dim``} from a CSV/Parquet table or a NetCDF/Zarr dataset (see module doc)."""
    import xarray as xr

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or directory")
    suffix = p.suffix.lower()
    fmt = _cycler_format(p)
    if fmt is not None:
        return cycler_series(p, fmt, variables)
    if suffix in TABLE_SUFFIXES:
        from .detect_table import table_series

        return {"table": table_series(p, dim, time_col, variables)}
    if suffix not in DATASET_SUFFIXES:
        raise ValueError(f"{p}: unknown input type {suffix!r}; use one of {sorted(TABLE_SUFFIXES | DATASET_SUFFIXES)}")
    ds = xr.open_zarr(p) if suffix == ".zarr" else xr.open_dataset(p)
    names = variables or [v for v, da in ds.data_vars.items() if dim in da.dims and da.dtype.kind in "fiu"]
    missing = [v for v in names if v not in ds.data_vars]
    if missing:
        raise ValueError(f"{p}: no variable(s) {missing}; it has {list(ds.data_vars)} (choose with --var)")
    if not names:
        raise ValueError(f"{p}: no numeric variable with dimension {dim!r} (dims: {dict(ds.sizes)}); try --dim")
    return {v: ds[v] for v in names}


def _cycler_format(p: Path) -> str | None:
    """The cycler format of a file read through ``workbench.cyclers`` (None: a table, a dataset, or BDF, whose
    CSV the table reader reads with every column)."""
    if not p.is_file() or p.suffix.lower() in DATASET_SUFFIXES | {".parquet", ".pq"}:
        return None
    from workbench.cyclers import sniff

    fmt = sniff(p)
    return None if fmt == "bdf" else fmt


def cycler_series(p: Path, fmt: str, variables) -> dict:
    """{variable: DataArray along ``record``} of a cycler export (``workbench.cyclers.read_curve``: canonical
    names and units, repairs listed on stderr), in the file's record order, with the seconds since the test's
    start as the ``time`` coordinate: a step change is often logged twice at one time (end of one step,
    start of the next), so time cannot be the dimension without dropping a record."""
    import numpy as np

    from workbench.cyclers import read_curve

    ds = read_curve(p, fmt=fmt)
    for repair in ds.attrs.get("repairs", []):
        print(f"workbench detect: note: {p}: {repair}", file=sys.stderr)
    numeric = [v for v, da in ds.data_vars.items() if v != "time" and da.dtype.kind in "fiu"]
    missing = [v for v in variables or [] if v not in numeric]
    if missing:
        raise ValueError(f"{p}: no variable(s) {missing}; this {fmt} export has {numeric} (choose with --var)")
    out = {}
    for v in variables or [v for v in numeric if v not in INTEGRALS]:
        if not variables and not np.isfinite(ds[v].values).any():
            print(f"workbench detect: note: {p}: no {v} recorded: skipped", file=sys.stderr)
            continue
        da = ds[v].rename({ds[v].dims[0]: "record"}).assign_coords(time=("record", ds["time"].values, {"units": "s"}))
        da.attrs["cycler"] = fmt
        if v in COUNTERS:
            da.attrs["every_move"] = 1
        out[v] = da
    return out


def _shift(text: str | None):
    """``--min-shift``: a number (the data's unit) or a pint quantity such as ``0.5 g/m^2``."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    from workbench.units import ureg

    try:
        q = ureg.Quantity(text)
    except Exception as exc:
        raise ValueError(f"--min-shift {text!r}: not a number or a quantity with a unit ({exc}); "
                         f"write e.g. 0.5 or '0.5 g/m^2'") from None
    return q if not q.dimensionless else float(q.magnitude)


def _number(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: use 'auto' or a positive number") from None

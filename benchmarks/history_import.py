"""`workbench import` benchmark: import rate and bytes per sample against pandas, and peak memory on a 2 GB export.

A wide historian export is generated to /tmp (deleted after): a time column (ISO 8601, UTC) and 50 tags at
1 Hz, values with 3 decimals (slow wander + noise), one tag carrying PI-style text markers ("Bad Input",
"I/O Timeout") in 0.1 % of its cells.

1. **Rate and size** on a ``--peer-mb`` export (default 200 MB): ``import_files`` into a fresh store, against
   the notebook habit ``pandas.read_csv`` + ``DataFrame.to_parquet`` (pyarrow, snappy) of the same file, in
   the same run; samples/s and bytes per stored sample of each.
2. **Memory** on a ``--gb`` export (default 2 GB): ``import_files`` in a child process; its peak RSS must
   stay under 1 GB (1e9 bytes; files larger than memory are read in chunks).

Each measured step runs in its own child process so its peak RSS is its own (``ru_maxrss``).

    .venv/bin/python benchmarks/history_import.py [--gb 2] [--peer-mb 200] [--tags 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

MARKERS = np.array(["Bad Input", "I/O Timeout"])


def generate(path: Path, target_bytes: int, n_tags: int, seed: int = 0) -> dict:
    """Write a wide export of about ``target_bytes``; returns rows, tags and value cells written."""
    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2026-01-05T00:00:00", "s")
    names = [f"plant1/bench/line1/st{k // 10:02d}/signal_{k:03d} [degC]" for k in range(n_tags)]
    level = np.linspace(10, 60, n_tags)
    rows = 0
    chunk = 50_000
    with open(path, "wb") as fh:
        header = True
        while fh.tell() < target_bytes:
            t = t0 + np.arange(rows, rows + chunk).astype("timedelta64[s]")
            values = np.round(level + 0.5 * np.sin(np.arange(rows, rows + chunk)[:, None] / 3600.0)
                              + rng.normal(0, 0.01, (chunk, n_tags)), 3)
            cols = {"time": pa.array(t.astype("datetime64[s]"), type=pa.timestamp("s", tz="UTC"))}
            for k, name in enumerate(names):
                cols[name] = pa.array(values[:, k])
            marked = pc.cast(cols[names[0]], pa.string()).to_numpy(zero_copy_only=False).astype(object)
            hit = rng.random(chunk) < 0.001
            marked[hit] = MARKERS[rng.integers(0, 2, hit.sum())]
            cols[names[0]] = pa.array(marked, type=pa.string())
            pacsv.write_csv(pa.table(cols), fh, pacsv.WriteOptions(include_header=header, quoting_style="none"))
            header = False
            rows += chunk
    return {"rows": rows, "tags": n_tags, "cells": rows * n_tags, "bytes": path.stat().st_size}


CHILD_IMPORT = """
import json, resource, sys, time
from workbench.history.importer import import_files
import workbench.config  # the CLI's imports (pint's registry) are not the import's work, as pandas' are not
r0 = resource.getrusage(resource.RUSAGE_SELF); cpu0 = r0.ru_utime + r0.ru_stime
t = time.perf_counter()
s = import_files([sys.argv[1]], sys.argv[2], progress=False)
dt = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": dt, "cpu": r.ru_utime + r.ru_stime - cpu0, "samples": s.stored,
                  "gaps": sum(s.gaps.values()), "peak_rss": r.ru_maxrss * 1024}))
"""

CHILD_PANDAS = """
import json, resource, sys, time
import pandas as pd
r0 = resource.getrusage(resource.RUSAGE_SELF); cpu0 = r0.ru_utime + r0.ru_stime
t = time.perf_counter()
df = pd.read_csv(sys.argv[1])
df.to_parquet(sys.argv[2], engine="pyarrow", compression="snappy")
dt = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_SELF)
cpu = r.ru_utime + r.ru_stime - cpu0
samples = int(df.drop(columns=["time"]).apply(pd.to_numeric, errors="coerce").notna().to_numpy().sum())
print(json.dumps({"seconds": dt, "cpu": cpu, "samples": samples, "peak_rss": r.ru_maxrss * 1024}))
"""


def child(code: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", type=float, default=2.0, help="size of the memory-test export (GB)")
    ap.add_argument("--peer-mb", type=float, default=200.0, help="size of the export compared with pandas (MB)")
    ap.add_argument("--tags", type=int, default=50)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wb-import-bench-", dir="/tmp"))
    try:
        if args.peer_mb > 0:
            compare(work, args)
        if args.gb > 0:
            memory(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compare(work: Path, args) -> None:
    """Rate and bytes per sample against read_csv + to_parquet, on the same export."""
    small = work / "export_small.csv"
    t = time.perf_counter()
    info = generate(small, int(args.peer_mb * 1e6), args.tags)
    print(f"generated {small.name}: {info['bytes'] / 1e6:.0f} MB, {info['rows']:,} rows x {info['tags']} tags "
          f"in {time.perf_counter() - t:.0f} s", flush=True)
    ours = child(CHILD_IMPORT, str(small), str(work / "store_small"))
    peer = child(CHILD_PANDAS, str(small), str(work / "peer.parquet"))
    ours_b = tree_bytes(work / "store_small" / "ts") / ours["samples"]
    peer_b = tree_bytes(work / "peer.parquet") / peer["samples"]
    print(f"import_files          : {ours['samples'] / ours['seconds']:>12,.0f} samples/s, {ours_b:.2f} bytes/sample, "
          f"peak RSS {ours['peak_rss'] / 2**20:,.0f} MiB ({ours['samples']:,} samples, {ours['gaps']} gaps)")
    print(f"read_csv + to_parquet : {peer['samples'] / peer['seconds']:>12,.0f} samples/s, {peer_b:.2f} bytes/sample, "
          f"peak RSS {peer['peak_rss'] / 2**20:,.0f} MiB")
    print(f"ratio (ours / pandas) : rate {ours['samples'] / ours['seconds'] / (peer['samples'] / peer['seconds']):.2f}x "
          f"wall, {ours['samples'] / ours['cpu'] / (peer['samples'] / peer['cpu']):.2f}x per CPU second "
          f"({ours['cpu']:.1f} vs {peer['cpu']:.1f} CPU s; the machine is shared: CPU time is the steadier figure), "
          f"bytes/sample {ours_b / peer_b:.2f}x; load average {os.getloadavg()[0]:.1f}", flush=True)
    small.unlink()


def memory(work: Path, args) -> None:
    """Peak RSS of importing a ``--gb`` export (target: under 1 GB = 1e9 bytes)."""
    big = work / "export_big.csv"
    t = time.perf_counter()
    info = generate(big, int(args.gb * 1e9), args.tags, seed=1)
    print(f"generated {big.name}: {info['bytes'] / 1e9:.2f} GB, {info['rows']:,} rows in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    got = child(CHILD_IMPORT, str(big), str(work / "store_big"))
    ok = got["peak_rss"] < 1e9
    print(f"import of {info['bytes'] / 1e9:.2f} GB: {got['samples']:,} samples in {got['seconds']:.0f} s "
          f"({got['samples'] / got['seconds']:,.0f} samples/s, {info['bytes'] / got['seconds'] / 1e6:.0f} MB/s), "
          f"{got['cpu']:.0f} CPU s, peak RSS {got['peak_rss'] / 2**20:,.0f} MiB: {'under' if ok else 'OVER'} the 1 GB target; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""History store benchmark: ingest rate, bytes per sample, and a week's daily means, local and on a cluster.

One week of 200 tags at 1 Hz (~121 M samples) of realistic signals (slow AR(1) wander + white noise,
quantised at a 0.001 instrument resolution), written in 1 h flushes like the recorder does, then opened
lazily and reduced to daily means with dask's threaded scheduler and on a 2-worker LocalCluster.

Peers measured in the same run: raw float64 (8 bytes/sample, 16 with its timestamp) and
``pandas.DataFrame.to_parquet`` (pyarrow, snappy, float64, the usual notebook habit) for bytes and speed.
The recorder's own per-sample path (Reading -> WAL -> buffer) is timed on a subsample.

Targets (issue 7): ingest >= 200,000 samples/s, <= 4 bytes/sample, daily means of the week in <= 10 s.

    .venv/bin/python benchmarks/history.py [--days 7] [--tags 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from workbench import history
from workbench.history import HistoryStore, TagSpec


def day_of_signals(day: int, n_tags: int, rng: np.random.Generator) -> np.ndarray:
    n = 86_400
    wander = lfilter([1.0], [1.0, -0.999], rng.normal(0, 0.002, (n, n_tags)), axis=0)
    levels = np.linspace(10, 60, n_tags)
    return np.round(levels + wander + rng.normal(0, 0.01, (n, n_tags)), 3)


def folder_bytes(root: Path, suffix: str = ".parquet") -> int:
    return sum(f.stat().st_size for f in root.rglob(f"*{suffix}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--tags", type=int, default=200)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wb-history-bench-"))
    tags = [f"plant1/bench/line1/st{k // 20:02d}/signal_{k:03d}" for k in range(args.tags)]
    store = HistoryStore(work / "store")
    store.declare_station("bench", [TagSpec(t, "degC", 0.001) for t in tags])
    rng = np.random.default_rng(0)
    t0 = pd.Timestamp("2026-01-05", tz="UTC")
    samples, ingest_s, peer_s = 0, 0.0, 0.0
    peer_dir = work / "peer"
    peer_dir.mkdir()
    print(f"generating and writing {args.days} day(s) x {args.tags} tags at 1 Hz ...", flush=True)
    for day in range(args.days):
        values = day_of_signals(day, args.tags, rng)
        times = pd.date_range(t0 + pd.Timedelta(days=day), periods=86_400, freq="1s")
        for h in range(24):
            sl = slice(h * 3600, (h + 1) * 3600)
            batch = {t: values[sl, j] for j, t in enumerate(tags)}
            a = time.perf_counter()
            store.append("bench", times[sl], batch)
            ingest_s += time.perf_counter() - a
            if day == 0:  # the peer writes one day, same flushes
                a = time.perf_counter()
                pd.DataFrame(batch, index=times[sl]).to_parquet(peer_dir / f"{h:02d}.parquet")
                peer_s += time.perf_counter() - a
            samples += 3600 * args.tags
    ours_bytes = folder_bytes(work / "store" / "ts")
    peer_bytes = folder_bytes(peer_dir) * args.days  # one day written, scaled
    rate = samples / ingest_s
    peer_rate = 86_400 * args.tags / peer_s
    print(f"\nsamples                 {samples:,}")
    print(f"ingest (store.append)   {rate:,.0f} samples/s   (to_parquet peer {peer_rate:,.0f}/s; ratio "
          f"{rate / peer_rate:.2f})   target >= 200,000")
    print(f"bytes per sample        {ours_bytes / samples:.2f}   (raw float64 8.00 -> {8 * samples / ours_bytes:.1f}x "
          f"smaller; with timestamps 16.00; to_parquet peer {peer_bytes / samples:.2f})   target <= 4")

    rec_rate, syscall_rate = recorder_path_rate(work, tags[:20])
    print(f"recorder per-sample path {rec_rate:,.0f} samples/s (Reading -> unit check -> WAL -> buffer); peer: "
          f"one os.write per sample alone {syscall_rate:,.0f}/s (ratio {rec_rate / syscall_rate:.2f})")

    a = time.perf_counter()
    daily = history.open_array(work / "store", "bench").resample(time="1D").mean().compute()
    local_s = time.perf_counter() - a
    print(f"\nopen + daily means, threads      {local_s:6.2f} s   ({samples / local_s / 1e6:.1f} M samples/s)   "
          f"target <= 10 s")
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        a = time.perf_counter()
        daily_c = history.open_array(work / "store", "bench").resample(time="1D").mean().compute()
        cluster_s = time.perf_counter() - a
    print(f"open + daily means, 2-worker LocalCluster {cluster_s:6.2f} s   ({samples / cluster_s / 1e6:.1f} M samples/s)")
    assert np.allclose(daily.values, daily_c.values), "cluster and local results differ"
    print(f"(daily means of {daily.sizes['tag']} tags x {daily.sizes['time']} days agree between local and cluster)")
    shutil.rmtree(work, ignore_errors=True)


def recorder_path_rate(work: Path, tags: list[str], n: int = 200_000) -> tuple[float, float]:
    """Samples/s through Recorder.on_reading (the per-sample Python path) for a config-less station, and
    the peer: a bare ``os.write`` of one 20-byte record per sample (what the WAL cost per sample before
    it was memory-mapped), on the same machine in the same run."""
    from datetime import timedelta

    from data_adapters.base import Reading
    from data_adapters.recorder import Recorder
    from workbench.config import parse_line_config

    line = parse_line_config({"name": "bench", "site": "plant1", "stations": [{
        "name": "bench", "kind": "generic", "adapter": {"kind": "sim"},
        "tags": [{"path": t, "units": "degC", "resolution": 0.001} for t in tags]}]})
    rec = Recorder(line, None, work / "rec", flush_interval_s=3600, max_buffer=10 * n)
    base = pd.Timestamp("2026-01-05", tz="UTC").to_pydatetime()
    readings = [Reading(tags[k % len(tags)], 20.0 + (k % 7) * 0.001, "degC", base + timedelta(seconds=k // len(tags)))
                for k in range(n)]
    a = time.perf_counter()
    for r in readings:
        rec.on_reading(r)
    rate = n / (time.perf_counter() - a)
    rec.wal.close()
    fd = os.open(work / "peer.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    record = b"\0" * 20
    a = time.perf_counter()
    for _ in range(n):
        os.write(fd, record)
    syscall_rate = n / (time.perf_counter() - a)
    os.close(fd)
    os.sync()
    return rate, syscall_rate


if __name__ == "__main__":
    main()

"""Reading a folder of cycler files: `workbench formation DIR` on 2 processes vs the maintained readers in a plain loop.

A temporary folder (under the system temp dir, never in the project) holds ``--files`` hard links (symbolic
links where hard links are refused) to the real development files in ../shared/data (cyclers/, formation/,
cycling/), round-robin, so every format is represented in the same proportion. Measured, each side in its
own fresh process:

- workbench: ``read_folder`` on the folder with ``--workers`` processes (default 2), the path of
  ``workbench formation DIR``: sniffing, parsing, repairs, checks, the curve Dataset and the per-cell
  summary (capacity, CE, DCIR, K-value); with ``--curves-only`` also ``read_curve`` alone on the same pool;
- peer: the maintained reader of each format called in a plain loop in one process, with its defaults:
  NewareNDA.read (.nda/.ndax), galvani's MPRfile (.mpr), mdb-export + pandas.read_csv (.res),
  pandas.read_csv (text exports: the raw table, no units, no repairs, no summary).

Printed per side: files/s and MB/s (wall), CPU seconds (the machine is shared: CPU time is the steadier
figure), peak memory as the largest summed RSS of the process and its workers (sampled every 0.1 s) and the
largest single process, the RSS growth between the second and last quarter of the run (a leak shows as
steady growth), and the load average around the run.

    .venv/bin/python benchmarks/formation_read.py [--files 1000] [--workers 2] [--curves-only]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SUFFIXES = (".nda", ".ndax", ".mpr", ".res", ".txt", ".csv")


def sources() -> list[Path]:
    files = [p for d in ("cyclers/cellpy", "cyclers/newarenda", "formation", "cycling") for p in sorted((DATA / d).glob("*"))
             if p.suffix.lower() in SUFFIXES]
    if not files:
        sys.exit(f"no cycler files under {DATA}: the benchmark needs ../shared/data beside the checkout")
    return files


def build_folder(n: int, root: Path) -> tuple[list[Path], str]:
    """``n`` links to the real files, round-robin; returns them and how they were made."""
    src = sources()
    out, how = [], "hard links"
    for k in range(n):
        s = src[k % len(src)]
        dst = root / f"{k:05d}_{s.name}"
        try:
            os.link(s, dst)
        except OSError:                       # another owner's read-only file, or another file system
            os.symlink(s, dst)
            how = "symbolic links"
        out.append(dst)
    return out, how


def _read_workbench(path):
    from workbench.cyclers import read_curve
    return read_curve(path).sizes["sample"]


def _peer(path):
    import pandas as pd
    suffix = path.suffix.lower()
    if suffix in (".nda", ".ndax"):
        import NewareNDA
        return len(NewareNDA.read(str(path)))
    if suffix == ".mpr":
        from galvani import BioLogic
        return len(BioLogic.MPRfile(str(path)).data)
    if suffix == ".res":
        raw = subprocess.run(["mdb-export", str(path), "Channel_Normal_Table"], capture_output=True, check=True).stdout
        return len(pd.read_csv(io.BytesIO(raw)))
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    skip = next((k for k, ln in enumerate(text[:200]) if ln.startswith(("Rec#", "Test,Cell", "DataPoint", "test_time"))
                 or "[Data]" in ln), 0)
    skip += 1 if "[Data]" in text[skip] else 0
    return len(pd.read_csv(path, skiprows=skip, sep="\t" if "\t" in text[skip] else ",", index_col=False,
                           encoding_errors="replace", on_bad_lines="skip"))


def _cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _side(kind: str, files: list[str], workers: int, queue) -> None:
    import logging
    logging.getLogger("newarenda").setLevel(logging.WARNING)
    paths = [Path(f) for f in files]
    t0 = time.perf_counter()
    failures = 0
    if kind == "curves":
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_read_workbench, paths, chunksize=4))
    elif kind == "workbench":
        from workbench.cyclers.folder import read_folder
        res = read_folder(paths[0].parent, workers=workers, progress=False)
        failures = len(res.failures)
        if failures:
            print(res.failures.head().to_string(), file=sys.stderr)
    else:
        for p in paths:
            _peer(p)
    queue.put((time.perf_counter() - t0, _cpu_seconds(), failures))


def _tree_rss(proc) -> tuple[int, int]:
    """Summed and largest RSS (bytes) of a process and all its descendants."""
    import psutil
    total = biggest = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0, 0
    for p in procs:
        try:
            rss = p.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        biggest = max(biggest, rss)
    return total, biggest


def measure(kind: str, files: list[Path], workers: int) -> dict:
    import psutil
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_side, args=(kind, [str(f) for f in files], workers, q))
    load0 = os.getloadavg()[0]
    proc.start()
    ps = psutil.Process(proc.pid)
    samples: list[tuple[float, int, int]] = []
    stop = threading.Event()

    def sample():
        t0 = time.perf_counter()
        while not stop.is_set():
            samples.append((time.perf_counter() - t0, *_tree_rss(ps)))
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    while True:                       # a side that dies (e.g. out of memory) must not hang the benchmark
        try:
            secs, cpu, failures = q.get(timeout=5)
            break
        except Exception:
            if not proc.is_alive():
                sys.exit(f"{kind}: the measuring process died (exit code {proc.exitcode}); see the messages above")
    stop.set()
    sampler.join()
    proc.join()
    span = samples[-1][0] if samples else 0.0

    def mean_rss(lo, hi):
        vals = [s[1] for s in samples if lo * span <= s[0] < hi * span]
        return sum(vals) / len(vals) if vals else float("nan")

    return {"secs": secs, "cpu": cpu, "failures": failures, "load": (load0, os.getloadavg()[0]),
            "peak_sum": max((s[1] for s in samples), default=0), "peak_one": max((s[2] for s in samples), default=0),
            "q2": mean_rss(0.25, 0.5), "q4": mean_rss(0.75, 1.0)}


LABELS = {"workbench": "workbench formation DIR (read_folder), {w} processes",
          "curves": "workbench read_curve only, {w} processes",
          "peer": "maintained readers, plain loop (1 process)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--curves-only", action="store_true", help="also time read_curve alone (no per-cell summary)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-formation-bench-") as tmp:
        files, how = build_folder(a.files, Path(tmp))
        mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"{len(files)} files ({how} in {tmp} to {len(sources())} real files, round-robin), {mb:.0f} MB; "
              f"{os.cpu_count()} CPUs", flush=True)
        rows = {}
        for kind in ["workbench", "peer"] + (["curves"] if a.curves_only else []):
            r = rows[kind] = measure(kind, files, a.workers)
            print(f"{LABELS[kind].format(w=a.workers):<52} {len(files) / r['secs']:7.1f} files/s {mb / r['secs']:7.1f} MB/s"
                  f"  ({r['secs']:.0f} s wall, {r['cpu']:.0f} CPU s)  peak RSS {r['peak_sum'] / 2**20:5.0f} MiB summed, "
                  f"{r['peak_one'] / 2**20:4.0f} MiB largest process; RSS 2nd->4th quarter {r['q2'] / 2**20:.0f}->"
                  f"{r['q4'] / 2**20:.0f} MiB; load {r['load'][0]:.1f}->{r['load'][1]:.1f}"
                  + (f"; {r['failures']} FILES NOT READ" if r["failures"] else ""), flush=True)
        w, p = rows["workbench"], rows["peer"]
        print(f"ratio workbench/peer: throughput {p['secs'] / w['secs']:.2f}x (wall), {p['cpu'] / w['cpu']:.2f}x "
              f"(per CPU second); peak memory {w['peak_sum'] / p['peak_sum']:.2f}x")


if __name__ == "__main__":
    main()

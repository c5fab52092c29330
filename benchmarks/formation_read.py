"""Reading a folder of cycler files: workbench.cyclers on 2 processes vs the maintained readers in a plain loop.

The folder holds ``--files`` links to the real development files (../shared/data/cyclers, formation, cycling),
round-robin, so every format is represented. Measured, each side in its own fresh process:

- workbench: ``read_curve`` on every file (sniffing, parsing, repairs, checks, the curve Dataset) through
  ``read_folder``'s process pool of ``--workers`` (default 2) — and, separately, ``read_folder`` with the
  per-cell summary (capacity, CE, DCIR, K-value);
- peer: the maintained reader of each format called in a plain loop in one process: NewareNDA.read (.nda/.ndax),
  galvani's MPRfile (.mpr), mdb-export + pandas.read_csv (.res), pandas.read_csv (text exports: the raw table,
  no units, no repairs).

Printed per side: files/s, MB/s, peak memory (max RSS of the process and its workers), and the ratios.

    .venv/bin/python benchmarks/formation_read.py [--files 1000] [--workers 2]
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
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def sources() -> list[Path]:
    files = [p for d in ("cyclers/cellpy", "cyclers/newarenda", "formation", "cycling") for p in sorted((DATA / d).glob("*"))
             if p.suffix.lower() in (".nda", ".ndax", ".mpr", ".res", ".txt", ".csv")]
    if not files:
        sys.exit(f"no cycler files under {DATA}: the benchmark needs ../shared/data beside the checkout")
    return files


def build_folder(n: int, root: Path) -> list[Path]:
    src = sources()
    out = []
    for k in range(n):
        s = src[k % len(src)]
        dst = root / f"{k:05d}_{s.name}"
        os.symlink(s, dst)
        out.append(dst)
    return out


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


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def _side(kind: str, files: list[str], workers: int, queue) -> None:
    paths = [Path(f) for f in files]
    t0 = time.perf_counter()
    if kind == "workbench":
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_read_workbench, paths, chunksize=4))
    elif kind == "workbench+summary":
        from workbench.cyclers.folder import read_folder
        res = read_folder(paths[0].parent, workers=workers, progress=False)
        assert len(res.failures) == 0, res.failures.head()
    else:
        for p in paths:
            _peer(p)
    queue.put((time.perf_counter() - t0, _peak_mb()))


def measure(kind: str, files: list[Path], workers: int) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_side, args=(kind, [str(f) for f in files], workers, q))
    proc.start()
    while True:                       # a side that dies (e.g. out of memory) must not hang the benchmark
        try:
            out = q.get(timeout=5)
            break
        except Exception:
            if not proc.is_alive():
                sys.exit(f"{kind}: the measuring process died (exit code {proc.exitcode}); see the messages above")
    proc.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--summary", action="store_true", help="also time read_folder with the per-cell summary")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = build_folder(a.files, Path(tmp))
        mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"{len(files)} files, {mb:.0f} MB ({len(sources())} real files repeated), {os.cpu_count()} CPUs")
        rows = {}
        for kind in ["workbench", "peer"] + (["workbench+summary"] if a.summary else []):
            secs, peak = measure(kind, files, a.workers)
            rows[kind] = (secs, peak)
            label = {"workbench": f"workbench read_curve, {a.workers} processes",
                     "peer": "maintained readers, plain loop (1 process)",
                     "workbench+summary": f"workbench read_folder + summary, {a.workers} processes"}[kind]
            print(f"{label:<50} {len(files) / secs:8.1f} files/s {mb / secs:8.1f} MB/s  peak {peak:7.0f} MB  "
                  f"({secs:.1f} s)")
        w, p = rows["workbench"], rows["peer"]
        print(f"ratio workbench/peer: throughput {p[0] / w[0]:.2f}x, peak memory {w[1] / p[1]:.2f}x")


if __name__ == "__main__":
    main()

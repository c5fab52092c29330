"""Change-point detection benchmark: the project's ``detect`` against its peers, measured in the same run.

Data: N series x n samples (default 1,000 x 10,000 = 10 M samples) of white noise (sd 1) with k steps of
+-jump sd at random positions at least 50 samples apart (``workbench.changepoints.synthetic``).

Timed, each on the same data:
- project: ``workbench.changepoints.detect`` on the whole (series, time) DataArray, end to end (noise
  estimation, penalty, search, xarray), on a local thread pool (numpy input, no cluster; numba JIT warm-up done before timing);
- ruptures ``KernelCPD(kernel="linear")`` (C; the exact same L2 problem) in a Python loop, given the project's
  penalty for each series, on a subsample, extrapolated to N series;
- fastcpd ``detect_mean`` (default settings) in a loop, on a subsample, extrapolated (skipped if not installed);
- ruptures ``Pelt(model="l2", jump=1)`` (pure Python, O(n^2) between changes) on a smaller subsample.

Printed per method: wall time (extrapolated where said), samples/s, samples per CPU-second ("per core"),
peak RSS growth while it ran, F1 (margin 5). Then the targets of issues 5 and 14 with PASS/FAIL.

    .venv/bin/python benchmarks/changepoints.py            # full size, ~1-2 minutes on 2 idle cores (ruptures Pelt dominates)
    .venv/bin/python benchmarks/changepoints.py --series 100 --samples 5000   # quick look
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.changepoints import auto_penalty, detect, f1_score, noise_level  # noqa: E402
from workbench.changepoints.synthetic import piecewise_constant  # noqa: E402

MIN_SIZE = 5


class PeakRSS:
    """Samples this process's RSS every 5 ms while active; ``.growth`` = peak minus the RSS at entry (bytes)."""

    def __enter__(self):
        self._proc = psutil.Process(os.getpid())
        self.start = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        self.growth = self.peak - self.start


def timed(fn):
    """(result, wall s, cpu s of all threads, peak RSS growth bytes)."""
    with PeakRSS() as mem:
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    return out, wall, cpu, mem.growth


def mean_f1(truth, found):
    return float(np.mean([f1_score(t, f, margin=5) for t, f in zip(truth, found)]))


def run_project(values):
    da = xr.DataArray(values, dims=("series", "time"), name="signal")
    flags = detect(da, min_size=MIN_SIZE).values
    return [np.flatnonzero(f) for f in flags]


def project_penalties(values):
    """The penalty the project's default uses, in data units^2, so a peer solves the same problem."""
    lr = noise_level(xr.DataArray(values, dims=("series", "time"))).long_run_sigma.values
    return auto_penalty(values.shape[1]) * lr**2


def run_kernelcpd(values, pens):
    import ruptures as rpt

    out = []
    for x, pen in zip(values, pens):
        ends = rpt.KernelCPD(kernel="linear", min_size=MIN_SIZE, jump=1).fit(x).predict(pen=float(pen))
        out.append(np.asarray(ends[:-1]))
    return out


def run_pelt(values, pens):
    import ruptures as rpt

    return [np.asarray(rpt.Pelt(model="l2", min_size=MIN_SIZE, jump=1).fit(x).predict(pen=float(p))[:-1])
            for x, p in zip(values, pens)]


def run_fastcpd(values):
    from fastcpd.segmentation import detect_mean

    return [np.asarray(detect_mean(x, cp_only=True).cp_set, dtype=np.int64) for x in values]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--changes", type=int, default=5)
    ap.add_argument("--jump", type=float, default=3.0, help="step size in noise sds")
    ap.add_argument("--phi", type=float, default=0.0, help="AR(1) coefficient of the noise (0: white)")
    ap.add_argument("--kernelcpd-series", type=int, default=100, help="subsample for the KernelCPD loop")
    ap.add_argument("--fastcpd-series", type=int, default=300, help="subsample for the fastcpd loop")
    ap.add_argument("--pelt-series", type=int, default=1, help="subsample for ruptures Pelt")
    ap.add_argument("--pelt-samples", type=int, default=1000, help="samples per series for ruptures Pelt")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    n_series, n = args.series, args.samples
    values, truth = piecewise_constant(n_series, n, args.changes, jump=args.jump, phi=args.phi, seed=args.seed)
    total = n_series * n
    print(f"data: {n_series} series x {n} samples = {total / 1e6:.1f} M samples, {args.changes} steps of "
          f"{args.jump:g} sd per series, AR(1) phi {args.phi:g}; {os.cpu_count()} CPUs; "
          f"load avg {os.getloadavg()[0]:.1f} (other work on the machine inflates wall times, not CPU-seconds)")
    # numba JIT / cache load, not timed: >= 4 rows in each of the thread pool's blocks, so the 4-lane search is
    # loaded too (2 rows left it, and its first compile in a fresh checkout, inside the timed run), and rows
    # with >= 2 steps, so the drift check's kernels are too (the first 400 samples rarely held 2 steps)
    warm, _ = piecewise_constant(64, min(n, 400), 3, jump=args.jump, phi=args.phi, seed=args.seed + 2)
    detect(xr.DataArray(warm, dims=("series", "time")), min_size=MIN_SIZE)

    rows = []
    ours_found, wall, cpu, mem = timed(lambda: run_project(values))
    f1_ours = mean_f1(truth, ours_found)
    rows.append(("project detect (local threads)", n_series, n, wall, cpu, mem, f1_ours, 1.0, f1_ours))

    k = min(args.kernelcpd_series, n_series)
    pens = project_penalties(values[:k])
    found, wall, cpu, mem = timed(lambda: run_kernelcpd(values[:k], pens))
    rows.append(("ruptures KernelCPD linear loop", k, n, wall, cpu, mem, mean_f1(truth[:k], found), n_series / k,
                 mean_f1(truth[:k], ours_found[:k])))

    try:
        import fastcpd  # noqa: F401

        k = min(args.fastcpd_series, n_series)
        run_fastcpd(values[:1])  # first-call setup, not timed
        found, wall, cpu, mem = timed(lambda: run_fastcpd(values[:k]))
        rows.append(("fastcpd detect_mean loop", k, n, wall, cpu, mem, mean_f1(truth[:k], found), n_series / k,
                     mean_f1(truth[:k], ours_found[:k])))
    except ImportError:
        print("fastcpd not installed: skipped")

    k, m = min(args.pelt_series, n_series), min(args.pelt_samples, n)
    sub, sub_truth = piecewise_constant(k, m, max(1, args.changes * m // n), jump=args.jump, phi=args.phi,
                                        seed=args.seed + 1)
    found, wall, cpu, mem = timed(lambda: run_pelt(sub, project_penalties(sub)))
    rows.append((f"ruptures Pelt l2 ({m} samples)", k, m, wall, cpu, mem, mean_f1(sub_truth, found), None,
                 mean_f1(sub_truth, run_project(sub))))

    print(f"\n{'method':<34}{'series':>7}{'wall s':>10}{'M samp/s':>10}{'M/CPU-s':>9}{'RSS+ MB':>9}{'F1':>7}"
          f"{'ours*':>7}")
    speed = {}
    for name, k, m, wall, cpu, mem, f1, scale, f1_same in rows:
        rate, per_cpu = k * m / wall, k * m / max(cpu, 1e-9)
        speed[name] = (rate, per_cpu, f1, mem, f1_same)
        note = f"  (extrapolated to {n_series}: {wall * scale:.2f} s)" if scale and scale != 1 else ""
        print(f"{name:<34}{k:>7}{wall:>10.3f}{rate / 1e6:>10.2f}{per_cpu / 1e6:>9.2f}{mem / 2**20:>9.0f}{f1:>7.3f}"
              f"{f1_same:>7.3f}{note}")
    print("  ours* = the project's F1 on the same series as that peer (F1: margin 5 samples)")

    ours = speed["project detect (local threads)"]
    cores = os.cpu_count() or 1
    print(f"\nproject on {cores} otherwise idle cores (CPU-seconds / {cores}): "
          f"{ours[1] * cores / 1e6:.1f} M samples/s (estimate; the wall figure above is what this run saw)")
    print("\nratios (samples/s, same run):")
    for name, (rate, per_cpu, f1, _, _) in speed.items():
        if not name.startswith("project"):
            print(f"  project / {name:<32} {ours[0] / rate:9.1f}x wall   {ours[1] / per_cpu:7.2f}x per CPU-second")
    checks = [
        (">= 5 M samples/s end to end", ours[0] >= 5e6),
        (">= 100x the KernelCPD loop", ours[0] / speed["ruptures KernelCPD linear loop"][0] >= 100),
        ("peak memory <= 2 GB", psutil.Process().memory_info().rss <= 2 * 2**30 and ours[3] <= 2 * 2**30),
        ("F1 not lower than any peer's (on the same series)", all(s[4] >= s[2] - 1e-9 for s in speed.values())),
    ]
    fc = speed.get("fastcpd detect_mean loop")
    if fc:
        checks.insert(2, (">= 0.8x fastcpd per core (per CPU-second)", ours[1] >= 0.8 * fc[1]))
    print(f"\nprocess peak RSS {psutil.Process().memory_info().rss / 2**20:.0f} MB (data itself "
          f"{values.nbytes / 2**20:.0f} MB)")
    for what, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ARL0 and detection delay of the unknown-shift detector (FOCuS) vs fixed CUSUMs, side by side.

For every detector: the in-control ARL0 and the zero-state delay (ARL1, samples) for shifts of
0.5, 1, 2, 3 sigma, and the ratio of that delay to the CUSUM tuned to the true shift (k = delta/2,
h set by the integral equation to ARL0 = 465). Fixed CUSUMs use k = 0.25 / 0.5 / 1.0 / 1.5 with
h for ARL0 = 465 too, so every row is compared at the same false-alarm rate. A steady-state table
(shift after 100 in-control samples, false alarms excluded) and a speed check follow.

    .venv/bin/python benchmarks/spc_arl.py [--runs 20000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import xarray as xr

from workbench.spc import FOCUS_THRESHOLD, cusum
from workbench.spc.arl import cusum_arl, cusum_h_for_arl0
from workbench.spc.montecarlo import cusum_run_lengths, ewma_run_lengths, focus_run_lengths

DELTAS = (0.5, 1.0, 2.0, 3.0)
ARL0 = 465.0


def _detectors(runs: int, change_at: int):
    """name -> function(delta) -> RunLengths."""
    dets = {f"FOCuS (threshold {FOCUS_THRESHOLD})": lambda d: focus_run_lengths(
        threshold=FOCUS_THRESHOLD, delta=d, n_runs=runs, seed=1, change_at=change_at)}
    for k in (0.25, 0.5, 1.0, 1.5):
        h = cusum_h_for_arl0(k, ARL0)
        dets[f"CUSUM k={k} h={h:.3f}"] = (lambda d, k=k, h=h: cusum_run_lengths(
            k=k, h=h, delta=d, n_runs=runs, seed=1, change_at=change_at))
    dets["EWMA lam=0.2 L=2.86 (ARL0 371)"] = lambda d: ewma_run_lengths(
        lam=0.2, L=2.86, delta=d, n_runs=runs, seed=1, change_at=change_at)
    return dets


def _table(runs: int, change_at: int, tuned: dict) -> None:
    head = f"{'detector':34s} {'ARL0':>7s} " + " ".join(f"{'d=' + str(d):>14s}" for d in DELTAS)
    print(head)
    print("-" * len(head))
    for name, run in _detectors(runs, change_at).items():
        arl0 = run(0.0) if change_at == 0 else None
        cells = []
        for d in DELTAS:
            delay = run(d).arl
            cells.append(f"{delay:7.2f} ({delay / tuned[d]:4.2f})")
        a0 = f"{arl0.arl:7.1f}" if arl0 is not None else f"{'-':>7s}"
        print(f"{name:34s} {a0} " + " ".join(f"{c:>14s}" for c in cells))


def _speed() -> None:
    rng = np.random.default_rng(0)
    x = xr.DataArray(rng.normal(size=(24, 100_000)), dims=("lane", "time"))
    cusum(x[:, :10], target=0.0, sigma=1.0)  # compile/load
    t0 = time.perf_counter()
    cusum(x, target=0.0, sigma=1.0)
    fast = time.perf_counter() - t0
    row = x.values[0, :20_000]
    t0 = time.perf_counter()
    up = lo = 0.0
    for v in row:  # the textbook Python loop, one lane, a fifth of the samples
        up, lo = max(0.0, up + v - 0.5), max(0.0, lo - v - 0.5)
    slow = (time.perf_counter() - t0) * 24 * 5
    print(f"\nvectorised cusum, 24 lanes x 100k samples: {fast * 1e3:.1f} ms; "
          f"plain Python loop (extrapolated): {slow * 1e3:.0f} ms; speed-up x{slow / fast:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=20_000, help="Monte Carlo runs per cell")
    runs = ap.parse_args().runs
    tuned = {d: cusum_arl(k=d / 2, h=cusum_h_for_arl0(d / 2, ARL0), delta=d) for d in DELTAS}
    print(f"Zero-state delay in samples (ratio to the CUSUM tuned to the true shift), {runs} runs")
    print("tuned CUSUM (k=d/2, ARL0 465, integral equation): "
          + ", ".join(f"d={d}: {tuned[d]:.2f}" for d in DELTAS) + "\n")
    _table(runs, 0, tuned)
    steady = {d: cusum_run_lengths(k=d / 2, h=cusum_h_for_arl0(d / 2, ARL0), delta=d,
                                   n_runs=runs // 2, seed=2, change_at=100).arl for d in DELTAS}
    print("\nSteady-state delay, shift after 100 in-control samples, false alarms excluded (ratio to"
          " the tuned CUSUM's steady-state delay: " + ", ".join(f"d={d}: {steady[d]:.2f}" for d in DELTAS)
          + ")\n")
    _table(runs // 2, 100, steady)
    _speed()


if __name__ == "__main__":
    main()

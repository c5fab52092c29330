"""Joint change points across a rig's sensors (``detect(..., joint="sensor")``) against detecting each sensor
alone (``detect`` on the same (rig, sensor, time) array without ``joint``), measured in the same run.

Data: rigs of 8 sensors of unit white noise, quiet (no change) and stepped (6 steps of 2 sd, each on a random
half of the sensors), 8 x 4,000 samples and 8 x 86,400 (a day at 1 Hz). CPU-seconds (``time.process_time``)
per rig, end to end (noise estimates, penalty, search); the ratio joint / per-sensor says what one shared
segmentation costs over eight separate ones. Target: <= 3x per-sensor on every rig kind. (The exact joint
search before the merge-gain rule was O(n^2) on quiet rigs: 0.60 CPU-s per quiet 8 x 4,000 rig, about 100x
per-sensor, and 260 CPU-s per quiet 8 x 86,400 rig; now 0.009 s and 0.23 s.)

    .venv/bin/python benchmarks/changepoints_joint.py            # ~10 s
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.changepoints import detect  # noqa: E402

TARGET = 3.0


def rigs(n_rigs: int, n: int, stepped: bool, seed: int) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_rigs, 8, n))
    if stepped:
        for r in range(n_rigs):
            for p in rng.choice(np.arange(100, n - 100), 6, replace=False):
                x[r, rng.random(8) < 0.5, p:] += rng.choice([-2.0, 2.0])
    return xr.DataArray(x, dims=("rig", "sensor", "time"), name="signal")


def cpu(fn):
    c = time.process_time()
    out = fn()
    return out, time.process_time() - c


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for stepped in (False, True):  # numba JIT / cache load and the thread pool's start, not timed
        warm = rigs(20, 4000, stepped, args.seed + 1)
        detect(warm, joint="sensor")
        detect(warm)
    print(f"{'rig':<22}{'rigs':>5}{'joint CPU-s/rig':>17}{'per-sensor':>12}{'ratio':>8}{'joint changes':>15}")
    ok = True
    for n, n_rigs in ((4000, 20), (86_400, 2)):
        for stepped in (False, True):
            da = rigs(n_rigs, n, stepped, args.seed)
            joint, tj = cpu(lambda da=da: detect(da, joint="sensor").values)
            _, ts = cpu(lambda da=da: detect(da).values)
            ratio = tj / ts
            ok &= ratio <= TARGET
            kind = f"8 x {n} {'stepped' if stepped else 'quiet'}"
            found = joint[:, 0].sum(axis=1)
            print(f"{kind:<22}{n_rigs:>5}{tj / n_rigs:>17.4f}{ts / n_rigs:>12.4f}{ratio:>7.2f}x"
                  f"{float(found.mean()):>15.1f}")
    print(f"\n  {'PASS' if ok else 'FAIL'}  joint <= {TARGET:g}x per-sensor detection, CPU-seconds, every rig kind")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

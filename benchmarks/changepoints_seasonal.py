"""Seasonal series of economic length: false changes and F1 of the default on generated series.

A sine season of amplitude 1 or 3 noise sds, AR(1) phi 0.3 noise of unit marginal sd, with or without a
linear drift of 5 sds over the series; half of the sets get one level shift of +-3 sds at a random place in
the middle half. Lengths and periods as economic and shop-floor series have them: 144 monthly samples (12
years), 300 with P 12, 520 weekly samples with a yearly season (10 years), 1,000 hourly samples with a daily
season. Printed per case: the share of series without a change that got none ("clean"), the F1 (margin 5)
of the shifted ones, and the models chosen for those.

    .venv/bin/python benchmarks/changepoints_seasonal.py             # 40 series a case, ~5 s
    .venv/bin/python benchmarks/changepoints_seasonal.py --series 200
    .venv/bin/python benchmarks/changepoints_seasonal.py --tree ../other-checkout   # its detect, same series
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import xarray as xr

HERE = Path(__file__).resolve().parents[1]
CASES = [(144, 12), (300, 12), (520, 52), (1000, 24)]


def series(rng, n, period, amp, drift, step, phi=0.3):
    """(values, true change points) of one series."""
    t = np.arange(n)
    w = rng.standard_normal(n)
    e = np.empty(n)
    e[0] = w[0]
    for i in range(1, n):
        e[i] = phi * e[i - 1] + w[i] * np.sqrt(1 - phi**2)
    x = amp * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)) + drift * t / n + e
    if not step:
        return x, []
    at = int(rng.integers(n // 4, 3 * n // 4))
    x[at:] += step * rng.choice([-1, 1])
    return x, [at]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=40, help="series per case")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--tree", type=Path, default=HERE, help="the checkout whose workbench is measured")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.tree.resolve()))
    from workbench.changepoints import detect, f1_score

    print(f"workbench from {args.tree.resolve()}")
    rng = np.random.default_rng(args.seed)
    print(f"{'n':>5} {'P':>3} {'season':>6} {'drift':>5}  {'clean':>5} {'F1':>5}  models (shifted set)")
    for n, period in CASES:
        for amp in (1.0, 3.0):
            for drift in (0.0, 5.0):
                quiet = np.array([series(rng, n, period, amp, drift, 0.0)[0] for _ in range(args.series)])
                shifted, truth = zip(*[series(rng, n, period, amp, drift, 3.0) for _ in range(args.series)])
                clean = 1.0 - detect(xr.DataArray(quiet, dims=("s", "time"))).values.any(1).mean()
                r = detect(xr.DataArray(np.array(shifted), dims=("s", "time")))
                f1 = np.mean([f1_score(c, np.flatnonzero(f), margin=5) for c, f in zip(truth, r.values)])
                print(f"{n:5d} {period:3d} {amp:6.0f} {drift:5.0f}  {clean:5.2f} {f1:5.2f}  {r.attrs['model']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

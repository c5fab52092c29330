"""Change points on real annotated series: TSSB (75 series, ../shared/data/changepoints/tssb) with defaults.

Prints, for the project's ``detect`` with its defaults (and with the shape option, ``method="shape"``),
the mean segmentation covering next to the seven methods published on TSSB with the number of segments
unknown (``published_covering_unknown.csv``), and the mean predicted vs true number of change points.
No per-series tuning: one call per series, nothing from ``desc.txt`` but the truth for scoring.

    .venv/bin/python benchmarks/changepoints_real.py                  # defaults and shape, ~4 CPU-min (shape: O(n^2))
    .venv/bin/python benchmarks/changepoints_real.py --only default   # defaults only, ~15 s
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.changepoints import detect  # noqa: E402
from workbench.changepoints.scoring import covering  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "changepoints" / "tssb"
TARGETS = {"default": 0.65, "shape": 0.80}


def load_tssb(root: Path = DATA):
    """[(name, values, true change points)] from desc.txt (name,window,cp1,...) and <name>.txt."""
    desc = root / "desc.txt"
    if not desc.exists():
        raise SystemExit(f"TSSB not found: expected {desc} (the shared data beside the checkout, see its NOTICE.md)")
    out = []
    for line in desc.read_text().splitlines():
        if line.strip():
            name, _window, *cps = line.strip().split(",")
            out.append((name, np.loadtxt(root / f"{name}.txt"), [int(c) for c in cps]))
    return out


def score(series, **kw):
    """(per-series covering, predicted counts, CPU seconds) of detect(**kw) on each series."""
    covs, counts = [], []
    c0 = time.process_time()
    for _, x, cps in series:
        found = np.flatnonzero(detect(xr.DataArray(x, dims="time"), **kw).values)
        covs.append(covering(cps, found, x.size))
        counts.append(found.size)
    return np.array(covs), np.array(counts), time.process_time() - c0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(TARGETS), help="run one configuration")
    args = ap.parse_args(argv)
    series = load_tssb()
    published = pd.read_csv(DATA / "published_covering_unknown.csv").set_index("dataset")
    names = [s[0] for s in series]
    true_counts = np.array([len(s[2]) for s in series])
    print(f"TSSB: {len(series)} series, {sum(s[1].size for s in series)} samples, mean true change points "
          f"{true_counts.mean():.2f}; load avg {os.getloadavg()[0]:.1f}")
    rows = [(m, float(published.loc[names, m].mean()), None) for m in published.columns]
    configs = {"default": {}, "shape": {"method": "shape"}}
    checks = []
    for label, kw in configs.items():
        if args.only and label != args.only:
            continue
        covs, counts, cpu = score(series, **kw)
        rows.append((f"project detect ({label})", float(covs.mean()), counts.mean()))
        checks.append((label, float(covs.mean()), cpu))
    rows.append(("no change at all", float(np.mean([covering(c, [], x.size) for _, x, c in series])), 0.0))
    print(f"\n{'method':<30}{'covering':>10}{'predicted':>11}{'true':>7}")
    for name, cov, count in sorted(rows, key=lambda r: -r[1]):
        pred = f"{count:11.2f}{true_counts.mean():7.2f}" if count is not None else ""
        print(f"{name:<30}{cov:10.3f}{pred}")
    print()
    for label, cov, cpu in checks:
        ok = cov >= TARGETS[label]
        print(f"  {'PASS' if ok else 'FAIL'}  covering with {label} >= {TARGETS[label]}: {cov:.3f} ({cpu:.1f} CPU-s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

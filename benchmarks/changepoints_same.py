"""Same results after a speed-up: ``detect``'s flags and attrs, and ``noise_level``, on every TSSB series and
on the generator rigs, from this checkout and from another one (default: ../main), compared exactly.

Each checkout runs in its own subprocess (PYTHONPATH set to it) and writes its results to an .npz; the two
files must hold the same flags (bit for bit), the same attrs (models chosen, reasons, values masked) and
the same noise profile (float64 equality). Cases: the 75 TSSB series; 8 x 10,000 samples of every
``process_noise`` kind, with and without 5 steps of 3 sigma; 64 series of the changepoints benchmark (white
and AR(1) 0.5); short series (20 to 600 samples); PLC sentinels and absurd values; curved drifts; pattern
changes; a joint rig of 8 sensors.

    .venv/bin/python benchmarks/changepoints_same.py                  # this checkout against ../main
    .venv/bin/python benchmarks/changepoints_same.py --base /path/to/other/checkout
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]


def cases(data: Path):
    """{name: (values, detect kwargs)} of every case, the same arrays in both checkouts (seeded)."""
    from workbench.changepoints.synthetic import (
        CURVES,
        NOISES,
        curved_drift,
        pattern_changes,
        piecewise_constant,
        process_noise,
    )

    out = {}
    desc = data / "changepoints" / "tssb" / "desc.txt"
    if not desc.exists():
        raise SystemExit(f"TSSB missing: expected {desc} (see ../shared/data/NOTICE.md)")
    for line in desc.read_text().splitlines():
        if line.strip():
            name = line.split(",")[0]
            out[f"tssb/{name}"] = (np.loadtxt(desc.parent / f"{name}.txt")[None, :], {})
    rng = np.random.default_rng(14)
    for kind in NOISES:
        x = process_noise(kind, (8, 10_000), rng)
        out[f"noise/{kind}"] = (x.copy(), {})
        for r in range(8):
            for p in np.sort(rng.choice(np.arange(400, 9600, 400), 5, replace=False)):
                x[r, p:] += 3.0 * rng.choice([-1.0, 1.0])
        out[f"steps/{kind}"] = (x, {})
    for phi in (0.0, 0.5):
        out[f"bench/phi{phi}"] = (piecewise_constant(64, 10_000, 5, jump=3.0, phi=phi, seed=0)[0], {})
    for n in (20, 33, 64, 100, 150, 300, 600):
        x = process_noise("white", (16, n), rng)
        x[:, n // 2:] += rng.choice([0.0, 2.0, 5.0], (16, 1))
        out[f"short/{n}"] = (x, {})
        out[f"short_ar/{n}"] = (process_noise("ar1", (16, n), rng), {})
    x = process_noise("white", (6, 400), rng)
    x[:, 200:] += 3.0
    x[0, 50], x[1, 50], x[2, 50], x[3, 300] = 3.4e38, -9.9e37, 1e10, 1e160
    x[4, 10:20] = np.nan
    x[5, ::7] = 1e12
    out["absurd"] = (x, {})
    for curve in CURVES:
        out[f"curve/{curve}"] = (curved_drift(curve, "white", (4, 4000), rng), {})
    values, _ = pattern_changes(["sine", "square", "sawtooth", "white"], 800, seed=3)
    out["pattern"] = (np.asarray(values)[None, :], {})
    rig = process_noise("ar1", (8, 4000), rng)
    rig[:, 1500:] += 1.0
    rig[:, 3000:] += np.linspace(0, 2, 8)[:, None]
    out["joint"] = (rig, {"joint": "sensor"})
    for name, (x, kw) in list(out.items())[:20]:
        out[f"penalty/{name}"] = (x, {"penalty": 30.0})
    return out


def run_one(data: Path, dest: Path) -> None:
    """Run every case in this process (the checkout on PYTHONPATH) and save flags, attrs, noise profile."""
    import xarray as xr

    from workbench.changepoints import detect, noise_level

    res = {}
    for name, (x, kw) in cases(data).items():
        dims = ("sensor", "time") if kw.get("joint") else ("series", "time")
        da = xr.DataArray(x, dims=dims, name="x")
        got = detect(da, **kw)
        res[f"{name}|flags"] = got.values
        res[f"{name}|attrs"] = np.array(repr(sorted((k, str(v)) for k, v in got.attrs.items())))
        if not kw:
            nl = noise_level(da)
            res[f"{name}|noise"] = np.stack([nl[v].values for v in ("sigma", "phi", "long_run_sigma", "resolution")])
    np.savez(dest, **res)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and (
        np.array_equal(a, b, equal_nan=True) if a.dtype.kind == "f" else np.array_equal(a, b))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=HERE.parent / "main", help="the other checkout")
    ap.add_argument("--data", type=Path, default=HERE.parent / "shared" / "data")
    ap.add_argument("--run-one", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--keep", type=Path, help="keep the base checkout's results here and reuse them next time")
    args = ap.parse_args(argv)
    if args.run_one:
        run_one(args.data, args.run_one)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for label, root in (("base", args.base.resolve()), ("this", HERE)):
            files[label] = Path(tmp) / f"{label}.npz"
            if label == "base" and args.keep:
                files[label] = args.keep
                if args.keep.exists():
                    continue
            env = dict(os.environ, PYTHONPATH=str(root))
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--data", str(args.data), "--run-one",
                            str(files[label])], env=env, cwd=root, check=True)
        a, b = np.load(files["base"]), np.load(files["this"])
        differ = [k for k in a.files if k not in b.files or not _same(a[k], b[k])]
        differ += [k for k in b.files if k not in a.files]
        flags = sum(int(a[k].sum()) for k in a.files if k.endswith("|flags"))
    print(f"{len(a.files)} results compared ({flags} change points in {args.base}); "
          f"{'all the same' if not differ else f'{len(differ)} DIFFER'}")
    for k in differ:
        print(f"  differs: {k}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

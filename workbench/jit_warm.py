"""Compile the numba kernels once, into numba's on-disk cache (``__pycache__`` beside each module).

``scripts/setup.sh`` runs ``python -m workbench.jit_warm`` after installing. Every kernel has ``cache=True``,
so without this the first process of a fresh checkout to call one compiles it (about 7 s of CPU for the
default change-point path, 20-30 s for all of them): the first notebook cell or the demo's first coating
page would wait for it. This runs the analyses once on small synthetic series shaped like real ones
(float64 samples along time; steps, a trend, a curve, a season, a cycle, gaps, a sentinel, several lanes)
so the kernels on their usual paths are compiled and cached at setup. (Measured: it does not shorten the
test suite, whose first workers wrote the cache early anyway.) Numba recompiles by itself when a kernel's
source changes; a kernel this misses is compiled on first use as before. Nothing here is asserted: the
tests do that."""

from __future__ import annotations

import time
import warnings

import numpy as np


def _series(rng: np.random.Generator) -> dict[str, np.ndarray]:
    from workbench.changepoints.synthetic import curved_drift, pattern_changes, process_noise

    n = 2000
    t = np.arange(n)
    step = process_noise("ar1", (4, n), rng) + np.where(t >= n // 2, 3.0, 0.0)
    step[0, 100] = 3.4e38  # a PLC sentinel, masked as a gap
    step[1, 300:320] = np.nan  # a gap
    return {
        "steps": step,
        "quantised": process_noise("quantised", (4, n), rng),
        "adc": np.round(np.cumsum(0.2 * rng.standard_normal((4, 1000)), axis=1)),  # most differences 0
        "trend": process_noise("white", (4, n), rng) + 0.004 * t + np.where(t >= 1200, 3.0, 0.0),
        "curve": curved_drift("exponential", "white", (4, n), rng),
        "short_curve": curved_drift("saturating", "ar1", (4, 450), rng),
        "season": process_noise("white", (4, 480), rng) + 2.0 * np.sin(2 * np.pi * np.arange(480) / 12),
        "cycle": np.asarray(pattern_changes(["sine", "square"], 600, seed=1)[0], dtype=float)[None, :],
        # 64 rows: >= 8 in each of the thread pool's blocks, so the lockstep search (``_lanes``) runs too
        "lanes": process_noise("white", (64, 400), rng) + np.where(np.arange(400) >= 200, 3.0, 0.0),
    }


def warm(verbose: bool = False) -> float:
    """Run the change-point and SPC analyses once on small series; returns the seconds of CPU it took."""
    import xarray as xr

    from workbench import spc
    from workbench.changepoints import detect
    from workbench.spc import montecarlo
    from workbench.spc.arl import cusum_h_for_arl0

    t0 = time.process_time()
    rng = np.random.default_rng(0)

    def step(name, fn):
        t = time.process_time()
        try:
            fn()
        except Exception as exc:  # a path this warm-up misses is compiled on first use; say so
            print(f"jit_warm: {name}: {type(exc).__name__}: {exc}")
        if verbose:
            print(f"jit_warm: {name}: {time.process_time() - t:.1f} s")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, x in _series(rng).items():
            da = xr.DataArray(x, dims=("series", "time"))
            step(f"detect {name}", lambda da=da: detect(da))
        lanes = xr.DataArray(_rig(rng), dims=("rig", "lane", "time"))
        step("detect joint", lambda: detect(lanes, joint="lane"))
        step("detect min_shift", lambda: detect(lanes.isel(rig=0), min_shift=0.5))
        step("detect joint min_shift", lambda: detect(lanes, joint="lane", min_shift=0.5))
        step("detect shape", lambda: detect(xr.DataArray(rng.normal(size=(2, 600)), dims=("s", "time")),
                                            method="shape"))
        base = xr.DataArray(rng.normal(45.0, 1.0, 200), dims="time", attrs={"units": "uohm"})
        new = xr.DataArray(rng.normal(45.5, 1.0, (3, 400)), dims=("lane", "time"), attrs={"units": "uohm"})
        lim = spc.fit(base, chart="imr")
        step("spc rules", lambda: [spc.apply(lim, new), spc.check_rules(new, center=45.0, sigma=1.0, rules=spc.NELSON)])
        step("spc detectors", lambda: [spc.cusum(new, target=45.0, sigma=1.0), spc.ewma(new, target=45.0, sigma=1.0),
                                       spc.shewhart(new, target=45.0, sigma=1.0), spc.focus(new, target=45.0, sigma=1.0)])
        streams = (spc.StreamingCusum(target=45.0, sigma=1.0), spc.StreamingEwma(target=45.0, sigma=1.0),
                   spc.StreamingFocus(target=45.0, sigma=1.0))
        step("spc streaming", lambda: [d.update(v, 1.7e9 + i) for d in streams
                                       for i, v in enumerate((45.0, 46.0, float("nan"), 47.0))])
        step("spc run lengths", lambda: [montecarlo.cusum_run_lengths(k=0.5, h=4.0, n_runs=20),
                                         montecarlo.ewma_run_lengths(lam=0.2, L=2.86, n_runs=20),
                                         montecarlo.shewhart_run_lengths(n_runs=20),
                                         montecarlo.focus_run_lengths(threshold=10.0, n_runs=20)])
        step("spc arl", lambda: cusum_h_for_arl0(0.5))
    return time.process_time() - t0


def _rig(rng: np.random.Generator) -> np.ndarray:
    """Two rigs of four lanes, 1500 samples, a step in half the lanes."""
    x = rng.normal(size=(2, 4, 1500))
    x[:, :2, 700:] += 3.0
    return x


if __name__ == "__main__":
    import sys

    seconds = warm(verbose="-v" in sys.argv)
    print(f"jit_warm: numba kernels compiled and cached ({seconds:.0f} s of CPU; nothing to do next time)")

"""`python -m workbench.jit_warm` (run by scripts/setup.sh): the analyses' numba kernels compiled into numba's
on-disk cache, so the first notebook cell or dashboard page of a fresh checkout does not compile them."""

from pathlib import Path

import workbench
from workbench import jit_warm

PKG = Path(workbench.__file__).parent


def test_the_warm_up_runs_every_analysis_and_leaves_the_kernels_cached(capsys):
    jit_warm.warm()
    out = capsys.readouterr().out
    assert "Error" not in out, f"the warm-up's calls no longer match the analyses' API:\n{out}"
    for module, kernel in [("changepoints", "_kernels.fpop_l2"), ("changepoints", "_robust.noise_profile"),
                           ("changepoints", "_robust.variogram_profile"), ("changepoints", "_robust.block_extrapolated"),
                           ("changepoints", "_lanes._fpop_lanes"), ("changepoints", "seasons._first_dip"),
                           ("changepoints", "seasons._variogram_direct"), ("changepoints", "seasons._block_means"),
                           ("spc", "_kernels.cusum_step"), ("spc", "rules._k_of_m")]:
        index = list((PKG / module / "__pycache__").glob(f"{kernel}-*.nbi"))
        assert index, f"{module}/{kernel} was not compiled into numba's cache"

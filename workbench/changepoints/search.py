"""Compiled exact searches for a change in mean (L2 cost), the speed core of :mod:`workbench.changepoints`.

Both minimise the penalised cost of ruptures' ``Pelt(model="l2")``:

    sum over segments [t, s) of  sum_i (x_i - mean(x[t:s]))**2   +   penalty * (number of segments)

with every segment at least ``min_size`` samples long, from cumulative sums (O(1) per segment cost).

- ``fpop_l2`` (univariate): optimal partitioning with *functional* pruning (FPOP, Maidstone et al. 2017,
  Stat. Comput. 27:519). Each candidate start keeps the set of segment means for which it is still the
  best; it is dropped when that set is empty. That prunes far more than PELT's inequality when there are
  few changes (PELT stays O(n^2) on a series without changes), so a 10,000-sample series keeps ~10
  candidates. The minimum segment length is handled by letting a start compete only once it has
  ``min_size`` samples behind it, which keeps the pruning exact.
- ``pelt_l2_joint`` (several series, one segmentation, ``_joint.py``): PELT inequality pruning plus a
  bounding-box test of the same functional idea in d dimensions (each rival leaves a ball of means where the
  candidate still wins), which alone stays O(n^2) on quiet multi-series data; so a start only enters the
  search from the first end where merging it with its previous segment would cost at least the penalty
  (a necessary condition of optimality, found in a tree of the cumulative sums). Exact as well.

Note: ruptures' own ``Pelt`` prunes with the unconstrained inequality even when ``min_size > 1``, which
can discard the optimum (its result can cost more than ours); ``Dynp`` is exact, and the tests compare
against ``Pelt`` at ``min_size=1`` and against ``Dynp`` for larger minimum sizes.
"""

from __future__ import annotations

import numpy as np

from ._joint import pelt_l2_joint
from ._kernels import fpop_l2

__all__ = ["optimal_breakpoints", "fpop_l2", "pelt_l2_joint"]


def optimal_breakpoints(signal, penalty: float, min_size: int = 1) -> list[int]:
    """Exact penalised change-in-mean (L2) breakpoints in ruptures' convention (segment ends, last = n).

    ``signal`` is (n,) or (n, d) in any unit and at any level (each channel is centred on its median
    first; the result is the same); ``penalty`` is in the signal's unit squared (the same
    number you would pass to ``ruptures.Pelt(model="l2", jump=1).fit(signal).predict(pen=penalty)``).

    >>> optimal_breakpoints([0.0, 0.1, -0.1, 0.0, 5.0, 5.1, 4.9, 5.0], penalty=1.0, min_size=2)
    [4, 8]
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[0] == 0:
        raise ValueError(f"optimal_breakpoints: signal must be a non-empty (n,) or (n, d) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("optimal_breakpoints: signal has NaN/inf; drop them first (detect() does this for you)")
    if not (np.isfinite(penalty) and penalty > 0):
        raise ValueError(f"optimal_breakpoints: penalty must be a positive number, got {penalty!r}")
    if int(min_size) < 1:
        raise ValueError(f"optimal_breakpoints: min_size must be >= 1 sample, got {min_size!r}")
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    # the cost is the same after a shift per channel, its cumulative sums are not: at a level of 1e6 with unit
    # noise they lose the noise to rounding (spurious changes) unless each channel is centred on its median
    x = x - np.median(x, axis=0)
    flags = fpop_l2(np.ascontiguousarray(x), float(penalty), int(min_size)) if x.ndim == 1 else pelt_l2_joint(
        np.ascontiguousarray(x), float(penalty), int(min_size)
    )
    return [int(i) for i in np.flatnonzero(flags)] + [int(x.shape[0])]

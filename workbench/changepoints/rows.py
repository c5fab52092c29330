"""Detection on plain arrays: rows of series (..., n) -> bool flags. The xarray layer calls these per block.

Policy shared by every engine (stated here once, repeated in ``detect``'s docstring):

- NaN/inf samples are dropped, detection runs on the valid samples in order, flags are mapped back to the
  first valid sample of each new segment. A series with fewer than 2 * min_size valid samples (all-NaN
  included) has no changes.
- ``penalty="auto"``: each series is centred on its median and divided by its robust long-run sigma
  (see ``_noise``), so the penalty is unit-free; a constant series has no changes.
  A numeric penalty is used as given, in the data's unit squared (ruptures' convention), on centred data.
- spikes (a sample more than ``spike_threshold`` robust sigmas from its running median over 3 or 5
  samples, never wider than min_size) are replaced by that median before the search, so an isolated
  outlier does not create a two-sample segment.
"""

from __future__ import annotations

import numpy as np

from ._compiled import detect_rows, detect_rows_joint, prepare

__all__ = ["detect_rows", "detect_rows_joint", "detect_rows_ruptures"]


def detect_rows_ruptures(x, *, min_size, factor, penalty, spike_threshold, method, cost, n_bkps):
    """The same policy with a ruptures search (slow pure-Python costs; for comparison and other costs)."""
    import ruptures as rpt

    rows, n = x.shape
    out = np.zeros((rows, n), bool)
    for r in range(rows):
        valid = np.flatnonzero(np.isfinite(x[r]))
        if valid.size < 2 * max(min_size, 1):
            continue
        z, beta, ok = prepare(np.ascontiguousarray(x[r, valid]), min_size, factor, penalty, spike_threshold, 1)
        if not ok:
            continue
        algo = _ruptures_algo(rpt, method, cost, min_size).fit(z)
        try:
            ends = algo.predict(n_bkps=n_bkps) if n_bkps is not None else algo.predict(pen=beta)
        except rpt.exceptions.BadSegmentationParameters:
            continue  # too few samples for that many changes: report none rather than guess
        for e in ends[:-1]:
            out[r, valid[e]] = True
    return out


def _ruptures_algo(rpt, method, cost, min_size):
    if method == "kernelcpd":
        return rpt.KernelCPD(kernel="linear" if cost == "l2" else cost, min_size=min_size, jump=1)
    cls = {"pelt": rpt.Pelt, "binseg": rpt.Binseg, "bottomup": rpt.BottomUp, "dynp": rpt.Dynp}[method]
    return cls(model=cost, min_size=min_size, jump=1)

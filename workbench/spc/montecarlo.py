"""Monte Carlo run lengths of the online detectors (numba), for ARL tests and benchmarks.

All simulations are in standard units: in-control N(0, 1), shift ``delta`` (in sigma) starting at
sample ``change_at`` + 1 (``change_at=0``: zero-state ARL, the convention of the published tables).
They call the very same ``*_update`` kernels as the vectorised and streaming detectors.

A run length counts samples up to and including the alarm. Runs that alarm before the change are
false alarms and are left out of the delays (conditional delay); runs without an alarm within
``max_len`` samples are reported as censored.

>>> from workbench.spc.montecarlo import cusum_run_lengths
>>> rl = cusum_run_lengths(k=0.5, h=5.0, delta=1.0, n_runs=2000, seed=1)
>>> 9.5 < rl.arl < 11.5
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from workbench.spc import _kernels as K


@dataclass(frozen=True)
class RunLengths:
    """Run lengths from one Monte Carlo experiment.

    ``lengths``: delays (samples from the change to the alarm, inclusive) of the runs that alarmed
    after the change; ``false_alarms``: runs that alarmed before it; ``censored``: runs that never
    alarmed within ``max_len``.
    """

    lengths: np.ndarray
    false_alarms: int
    censored: int

    @property
    def arl(self) -> float:
        """Mean run length (samples)."""
        return float(np.mean(self.lengths))

    @property
    def se(self) -> float:
        """Standard error of :attr:`arl` (samples)."""
        return float(np.std(self.lengths, ddof=1) / np.sqrt(len(self.lengths)))


def _check(n_runs: int, max_len: int, change_at: int) -> None:
    if int(n_runs) < 2:
        raise ValueError(f"n_runs={n_runs}: need at least 2 runs to estimate an ARL")
    if int(max_len) <= int(change_at):
        raise ValueError(f"max_len={max_len} must exceed change_at={change_at}")


@njit(cache=True)
def _cusum_mc(k, h, delta, n_runs, seed, max_len, change_at):
    np.random.seed(seed)
    out = np.zeros(n_runs, dtype=np.int64)
    for r in range(n_runs):
        up, lo = 0.0, 0.0
        out[r] = -1
        for i in range(1, max_len + 1):
            x = np.random.standard_normal() + (delta if i > change_at else 0.0)
            up, lo, _, _, _, _, a_up, a_lo, _, _ = K.cusum_update(
                x, 0, up, lo, 0, False, 0.0, k, h, -1, False)
            if a_up or a_lo:
                out[r] = i
                break
    return out


@njit(cache=True)
def _ewma_mc(lam, big_l, exact, delta, n_runs, seed, max_len, change_at):
    np.random.seed(seed)
    out = np.zeros(n_runs, dtype=np.int64)
    for r in range(n_runs):
        z, count = 0.0, 0
        out[r] = -1
        for i in range(1, max_len + 1):
            x = np.random.standard_normal() + (delta if i > change_at else 0.0)
            z, count, _, _, _, _, alarm, _, _ = K.ewma_update(
                x, 0, z, count, 0, False, 0.0, 1.0, lam, big_l, exact, -1, False)
            if alarm:
                out[r] = i
                break
    return out


@njit(cache=True)
def _shewhart_mc(big_l, delta, n_runs, seed, max_len, change_at):
    np.random.seed(seed)
    out = np.zeros(n_runs, dtype=np.int64)
    for r in range(n_runs):
        out[r] = -1
        for i in range(1, max_len + 1):
            x = np.random.standard_normal() + (delta if i > change_at else 0.0)
            a_up, a_lo, _ = K.shewhart_update(x, 0.0, 1.0, big_l)
            if a_up or a_lo:
                out[r] = i
                break
    return out


@njit(cache=True)
def _focus_mc(threshold, delta, n_runs, seed, max_len, change_at):
    np.random.seed(seed)
    out = np.zeros(n_runs, dtype=np.int64)
    up_t = np.zeros(max_len + 2, dtype=np.int64)
    lo_t = np.zeros(max_len + 2, dtype=np.int64)
    up_s = np.zeros(max_len + 2)
    lo_s = np.zeros(max_len + 2)
    ist = np.zeros(6, dtype=np.int64)
    fst = np.zeros(3)
    for r in range(n_runs):
        K.focus_reset(ist, fst, up_t, up_s, lo_t, lo_s)
        out[r] = -1
        for i in range(1, max_len + 1):
            x = np.random.standard_normal() + (delta if i > change_at else 0.0)
            res = K.focus_step(x, 0, ist, fst, up_t, up_s, lo_t, lo_s, 0.0, 1.0, threshold, -1,
                               False)
            if res[3]:
                out[r] = i
                break
    return out


def _collect(raw: np.ndarray, change_at: int) -> RunLengths:
    censored = int(np.sum(raw < 0))
    alarmed = raw[raw > 0]
    false = int(np.sum(alarmed <= change_at))
    return RunLengths(alarmed[alarmed > change_at] - change_at, false, censored)


def cusum_run_lengths(*, k: float, h: float, delta: float = 0.0, n_runs: int = 10_000,
                      seed: int = 0, max_len: int = 1_000_000, change_at: int = 0) -> RunLengths:
    """Run lengths of the two-sided tabular CUSUM (k, h in sigma units) under a shift ``delta``."""
    _check(n_runs, max_len, change_at)
    return _collect(_cusum_mc(float(k), float(h), float(delta), int(n_runs), int(seed),
                              int(max_len), int(change_at)), change_at)


def ewma_run_lengths(*, lam: float, L: float, delta: float = 0.0, exact: bool = False,
                     n_runs: int = 10_000, seed: int = 0, max_len: int = 1_000_000,
                     change_at: int = 0) -> RunLengths:
    """Run lengths of the EWMA chart (z0 = target; asymptotic limits unless ``exact``)."""
    _check(n_runs, max_len, change_at)
    return _collect(_ewma_mc(float(lam), float(L), bool(exact), float(delta), int(n_runs),
                             int(seed), int(max_len), int(change_at)), change_at)


def shewhart_run_lengths(*, L: float = 3.0, delta: float = 0.0, n_runs: int = 10_000,
                         seed: int = 0, max_len: int = 1_000_000,
                         change_at: int = 0) -> RunLengths:
    """Run lengths of the Shewhart individuals chart with limits target +- L sigma."""
    _check(n_runs, max_len, change_at)
    return _collect(_shewhart_mc(float(L), float(delta), int(n_runs), int(seed), int(max_len),
                                 int(change_at)), change_at)


def focus_run_lengths(*, threshold: float, delta: float = 0.0, n_runs: int = 10_000,
                      seed: int = 0, max_len: int = 100_000, change_at: int = 0) -> RunLengths:
    """Run lengths of the FOCuS / GLR detector for shifts of unknown size."""
    _check(n_runs, max_len, change_at)
    return _collect(_focus_mc(float(threshold), float(delta), int(n_runs), int(seed),
                              int(max_len), int(change_at)), change_at)

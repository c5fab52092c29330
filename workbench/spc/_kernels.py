"""Numba kernels shared by the vectorised detectors, the streaming objects and the Monte Carlo.

Every detector is written once as a scalar ``*_update`` function that takes one observation and the
detector state and returns the new state plus the outputs for that sample. The vectorised functions
loop it over rows, the streaming objects call it once per ``update()``, and the Monte Carlo calls it
inside its run-length loops: one arithmetic path, so the three give bit-identical statistics.

Missing-value and gap policy (the same in every caller, see ``workbench.spc`` docs):
- a non-finite value (NaN, +-inf) is *missing*: the statistic is held, no alarm, ``missing`` is True;
- if the time since the last valid sample exceeds ``max_gap`` (ns, < 0 = never), the detector
  restarts from its zero state before using the sample, and ``restart`` is True.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NO_GAP = -1  # max_gap sentinel: never restart on a time gap


@njit(cache=True)
def gap_restart(t, last_t, have_last, max_gap):
    """True when the time since the last valid sample is longer than ``max_gap`` (ns)."""
    return have_last and max_gap >= 0 and (t - last_t) > max_gap


# --------------------------------------------------------------------------------------------- CUSUM
@njit(cache=True)
def cusum_step(x, upper, lower, target, ref, dec):
    """Tabular CUSUM step in data units: ref = k*sigma, dec = h*sigma. Returns (upper, lower)."""
    upper = max(0.0, upper + (x - target) - ref)
    lower = max(0.0, lower - (x - target) - ref)
    return upper, lower


@njit(cache=True)
def cusum_update(x, t, upper, lower, last_t, have_last, target, ref, dec, max_gap, reset):
    """One CUSUM sample with the NaN/gap policy.

    Returns (upper, lower, last_t, have_last, out_upper, out_lower, alarm_up, alarm_lo, missing,
    restart); the ``out_*`` values are what is reported for this sample (before a reset on alarm).
    """
    if not np.isfinite(x):
        return upper, lower, last_t, have_last, upper, lower, False, False, True, False
    restart = gap_restart(t, last_t, have_last, max_gap)
    if restart:
        upper = 0.0
        lower = 0.0
    upper, lower = cusum_step(x, upper, lower, target, ref, dec)
    a_up = upper > dec
    a_lo = lower > dec
    out_u, out_l = upper, lower
    if reset and (a_up or a_lo):
        upper = 0.0
        lower = 0.0
    return upper, lower, t, True, out_u, out_l, a_up, a_lo, False, restart


@njit(cache=True)
def cusum_rows(x, target, ref, dec, t, max_gap, reset):
    m, n = x.shape
    up_o = np.empty((m, n))
    lo_o = np.empty((m, n))
    a_up = np.zeros((m, n), dtype=np.bool_)
    a_lo = np.zeros((m, n), dtype=np.bool_)
    miss = np.zeros((m, n), dtype=np.bool_)
    rst = np.zeros((m, n), dtype=np.bool_)
    for r in range(m):
        up, lo, last_t, have = 0.0, 0.0, np.int64(0), False
        for i in range(n):
            (up, lo, last_t, have, up_o[r, i], lo_o[r, i], a_up[r, i], a_lo[r, i], miss[r, i],
             rst[r, i]) = cusum_update(x[r, i], t[i], up, lo, last_t, have, target[r], ref[r],
                                       dec[r], max_gap, reset)
    return up_o, lo_o, a_up, a_lo, miss, rst


# ---------------------------------------------------------------------------------------------- EWMA
@njit(cache=True)
def ewma_update(x, t, z, count, last_t, have_last, target, sigma, lam, big_l, exact, max_gap,
                reset):
    """One EWMA sample. ``count`` is the number of valid samples since the (re)start.

    Returns (z, count, last_t, have_last, out_z, half_width, alarm, missing, restart). The control
    limits are target +- half_width; exact limits use the valid-sample count, so a NaN does not
    widen them.
    """
    if not np.isfinite(x):
        hw = ewma_half_width(count, sigma, lam, big_l, exact)
        return z, count, last_t, have_last, z, hw, False, True, False
    restart = gap_restart(t, last_t, have_last, max_gap)
    if restart:
        z = target
        count = 0
    z = lam * x + (1.0 - lam) * z
    count += 1
    hw = ewma_half_width(count, sigma, lam, big_l, exact)
    alarm = abs(z - target) > hw
    out_z = z
    if reset and alarm:
        z = target
        count = 0
    return z, count, t, True, out_z, hw, alarm, False, restart


@njit(cache=True)
def ewma_half_width(count, sigma, lam, big_l, exact):
    var = lam / (2.0 - lam)
    if exact:
        var = var * (1.0 - (1.0 - lam) ** (2 * count))
    return big_l * sigma * np.sqrt(var)


@njit(cache=True)
def ewma_rows(x, target, sigma, t, lam, big_l, exact, max_gap, reset):
    m, n = x.shape
    z_o = np.empty((m, n))
    hw_o = np.empty((m, n))
    alarm = np.zeros((m, n), dtype=np.bool_)
    miss = np.zeros((m, n), dtype=np.bool_)
    rst = np.zeros((m, n), dtype=np.bool_)
    for r in range(m):
        z, count, last_t, have = target[r], 0, np.int64(0), False
        for i in range(n):
            (z, count, last_t, have, z_o[r, i], hw_o[r, i], alarm[r, i], miss[r, i],
             rst[r, i]) = ewma_update(x[r, i], t[i], z, count, last_t, have, target[r], sigma[r],
                                      lam, big_l, exact, max_gap, reset)
    return z_o, hw_o, alarm, miss, rst


# ------------------------------------------------------------------------------------------ Shewhart
@njit(cache=True)
def shewhart_update(x, target, sigma, big_l):
    """Returns (alarm_up, alarm_lo, missing) for one individual value against target +- L sigma."""
    if not np.isfinite(x):
        return False, False, True
    return x > target + big_l * sigma, x < target - big_l * sigma, False


@njit(cache=True)
def shewhart_rows(x, target, sigma, big_l):
    m, n = x.shape
    a_up = np.zeros((m, n), dtype=np.bool_)
    a_lo = np.zeros((m, n), dtype=np.bool_)
    miss = np.zeros((m, n), dtype=np.bool_)
    for r in range(m):
        for i in range(n):
            a_up[r, i], a_lo[r, i], miss[r, i] = shewhart_update(x[r, i], target[r], sigma[r], big_l)
    return a_up, a_lo, miss


# ---------------------------------------------------------------- FOCuS (unknown shift size, known mean)
# Romano, Eckley, Fearnhead & Rigaill (2023), "Fast online changepoint detection via functional
# pruning CUSUM statistics", JMLR 24(81). With the pre-change mean known, the GLR statistic for a
# change of unknown size at any tau < n is  max_tau (S_n - S_tau)^2 / (2 (n - tau))  on the
# standardised partial sums S. For an upward change the maximiser is a vertex of the lower convex
# hull of the points (tau, S_tau) after the running minimum of S (FOCuS' pruned quadratics are
# exactly those vertices), so keeping that hull gives the exact statistic in O(hull) per sample;
# the hull has O(log n) points on average. The downward side is the same on -S.


@njit(cache=True)
def _hull_stat(hull_t, hull_s, count, n, s):
    """Best (stat, window length, window sum) over the hull points, for the upward side."""
    best = 0.0
    best_m = 0
    best_d = 0.0
    for j in range(count):
        d = s - hull_s[j]
        if d > 0.0:
            m = n - hull_t[j]
            val = d * d / (2.0 * m)
            if val > best:
                best, best_m, best_d = val, m, d
    return best, best_m, best_d


@njit(cache=True)
def _hull_add(hull_t, hull_s, count, n, s):
    """Add point (n, s) to the lower hull after the running minimum; returns the new count."""
    if count == 0 or s <= hull_s[0]:
        hull_t[0] = n
        hull_s[0] = s
        return 1
    while count >= 2:
        # pop the last vertex while it is not strictly below the chord (slopes non-increasing)
        t1, s1 = hull_t[count - 2], hull_s[count - 2]
        t2, s2 = hull_t[count - 1], hull_s[count - 1]
        if (s2 - s1) * (n - t2) >= (s - s2) * (t2 - t1):
            count -= 1
        else:
            break
    hull_t[count] = n
    hull_s[count] = s
    return count + 1


@njit(cache=True)
def focus_reset(ist, fst, up_t, up_s, lo_t, lo_s):
    """Zero state: no samples, both hulls hold only the origin (tau=0, S=0)."""
    ist[0], ist[1], ist[2], ist[3] = 0, 1, 1, 0
    fst[0], fst[1], fst[2] = 0.0, 0.0, 0.0
    up_t[0], up_s[0], lo_t[0], lo_s[0] = 0, 0.0, 0, 0.0


@njit(cache=True)
def focus_step(x, t, ist, fst, up_t, up_s, lo_t, lo_s, target, sigma, threshold, max_gap, reset):
    """One FOCuS sample; state is updated in place.

    ``ist`` = int64[6]: (n valid samples since restart, hull sizes up/down, since, last_t,
    have_last); ``fst`` = float64[3]: (partial sum S_n, stat, shift). The hull arrays need room for
    n + 2 points. Returns (stat, shift, since, alarm, missing, restart): ``stat`` is the GLR
    statistic (dimensionless log-likelihood ratio), ``shift`` the maximum-likelihood shift in data
    units and ``since`` how many samples it has lasted (0 when stat is 0). Held over a missing value.
    """
    if not np.isfinite(x):
        return fst[1], fst[2], ist[3], False, True, False
    restart = gap_restart(t, ist[4], ist[5] == 1, max_gap)
    if restart:
        focus_reset(ist, fst, up_t, up_s, lo_t, lo_s)
    n = ist[0] + 1
    cum = fst[0] + (x - target) / sigma
    su, mu, du = _hull_stat(up_t, up_s, ist[1], n, cum)
    sl, ml, dl = _hull_stat(lo_t, lo_s, ist[2], n, -cum)
    ist[1] = _hull_add(up_t, up_s, ist[1], n, cum)
    ist[2] = _hull_add(lo_t, lo_s, ist[2], n, -cum)
    ist[0] = n
    fst[0] = cum
    if su >= sl:
        stat, since, shift = su, mu, (sigma * du / mu if mu > 0 else 0.0)
    else:
        stat, since, shift = sl, ml, -sigma * dl / ml
    alarm = stat > threshold
    ist[4], ist[5] = t, 1
    if reset and alarm:
        focus_reset(ist, fst, up_t, up_s, lo_t, lo_s)
    else:
        fst[1], fst[2], ist[3] = stat, shift, since
    return stat, shift, since, alarm, False, restart


@njit(cache=True)
def focus_rows(x, target, sigma, t, threshold, max_gap, reset):
    m, n = x.shape
    stat_o = np.empty((m, n))
    shift_o = np.empty((m, n))
    since_o = np.zeros((m, n), dtype=np.int64)
    alarm = np.zeros((m, n), dtype=np.bool_)
    miss = np.zeros((m, n), dtype=np.bool_)
    rst = np.zeros((m, n), dtype=np.bool_)
    up_t = np.zeros(n + 2, dtype=np.int64)
    lo_t = np.zeros(n + 2, dtype=np.int64)
    up_s = np.zeros(n + 2)
    lo_s = np.zeros(n + 2)
    ist = np.zeros(6, dtype=np.int64)
    fst = np.zeros(3)
    for r in range(m):
        focus_reset(ist, fst, up_t, up_s, lo_t, lo_s)
        ist[4], ist[5] = 0, 0
        for i in range(n):
            (stat_o[r, i], shift_o[r, i], since_o[r, i], alarm[r, i], miss[r, i],
             rst[r, i]) = focus_step(x[r, i], t[i], ist, fst, up_t, up_s, lo_t, lo_s, target[r],
                                     sigma[r], threshold, max_gap, reset)
    return stat_o, shift_o, since_o, alarm, miss, rst

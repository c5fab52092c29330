"""Compiled robust statistics of one series: noise profile, despiking, and the absurd-value screen.

Pure numba functions on plain float64 arrays; the decisions built on them live in ``policy.py`` (the why
of each estimator is in ``noise.py``); the order statistics and robust scales they use are ``_order.py``'s
(exact by contract, so a cached copy compiled in here gives the same values after an edit there; see its
docstring). Otherwise every njit function that calls another lives in the same module as its callee:
numba's on-disk cache only notices edits to the defining file. An index that LLVM cannot prove
non-negative (``x[i - 1]`` with i from a variable start) gets numba's negative-index wraparound test, which
stops vectorisation: such loops run on views indexed from 0 or 1, or with unsigned indices.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._order import _abs_scale, _centred_scale, _qn_scale, _scale_in_place, _select, _select_bracketed

# ---------------------------------------------------------------- noise profile
_MAX_PAIRS = 4096
PHI_MAX = 0.95  # beyond this the series is a random walk for our purposes; cap the inflation (x39)


_QN_MIN_PAIRS, _QN_MAX_PAIRS = 10, 512  # Qn where the MAD is too noisy and its O(k^2) pairs are cheap (<= 131k)


@nb.njit(cache=True, nogil=True)
def _min_step(x):
    """Smallest nonzero |x[i] - x[i - 1]| (inf if none). Branch-free (the comparison is a coin flip on noise),
    in 4 independent running minima: one chain of min waits ~4 cycles a sample; the minimum is the same."""
    n = x.shape[0]
    r0 = np.inf
    r1 = np.inf
    r2 = np.inf
    r3 = np.inf
    i = 1
    while i + 3 < n:
        g0 = abs(x[i] - x[i - 1])
        g1 = abs(x[i + 1] - x[i])
        g2 = abs(x[i + 2] - x[i + 1])
        g3 = abs(x[i + 3] - x[i + 2])
        r0 = min(r0, g0 if g0 > 0.0 else np.inf)
        r1 = min(r1, g1 if g1 > 0.0 else np.inf)
        r2 = min(r2, g2 if g2 > 0.0 else np.inf)
        r3 = min(r3, g3 if g3 > 0.0 else np.inf)
        i += 4
    while i < n:
        g0 = abs(x[i] - x[i - 1])
        r0 = min(r0, g0 if g0 > 0.0 else np.inf)
        i += 1
    return min(min(r0, r1), min(r2, r3))


@nb.njit(cache=True, nogil=True)
def noise_profile(x, efficient=True):
    """(sigma, phi, long_run_sigma, resolution) of a finite 1-D float64 array (see module docstring).
    ``efficient``: Qn instead of the MAD on short, unquantised series (``noise.py``)."""
    n = x.shape[0]
    if n < 4:
        return 0.0, 0.0, 0.0, 0.0
    step = max(1, (n - 2) // _MAX_PAIRS)
    k = (n - 2 + step - 1) // step
    # rows: first differences d, d_t + d_{t-1}, d_t - d_{t-1}
    pairs = np.empty((3, k))
    for i in range(k):
        t = 2 + i * step
        a = x[t] - x[t - 1]
        b = x[t - 1] - x[t - 2]
        pairs[0, i] = a
        pairs[1, i] = a + b
        pairs[2, i] = a - b
    res = _min_step(x)
    if not np.isfinite(res):
        res = 0.0
    scales = np.empty(3)
    zeros = 0
    for i in range(k):
        zeros += pairs[0, i] == 0.0
    efficient = efficient and _QN_MIN_PAIRS <= k <= _QN_MAX_PAIRS and zeros < 0.1 * k  # short, not quantised: Qn
    for r in range(3):  # one call site: numba/LLVM made repeated inlined calls ~6x slower here
        scales[r] = _qn_scale(pairs[r]) if efficient else _scale_in_place(pairs[r])  # pairs[r]: used up
    s_d = scales[0]
    su = scales[1]
    sv = scales[2]
    den = su * su + sv * sv
    moving = k - zeros  # differences finite: every one is zero or moves
    phi = 0.0
    # a signal pinned at one code (< 10 % of steps move) has no estimable autocorrelation: keep phi = 0
    if den > 0.0 and moving >= 0.1 * k:
        rho = (su * su - sv * sv) / den
        phi = min(max(1.0 + 2.0 * rho, 0.0), PHI_MAX)
    sigma = s_d / math.sqrt(2.0 * (1.0 - phi))
    floor = res / math.sqrt(12.0)
    if sigma < floor:
        sigma = floor
    long_run = sigma * math.sqrt((1.0 + phi) / (1.0 - phi))
    return sigma, phi, long_run, res


@nb.njit(cache=True, nogil=True)
def _middle(w, width):
    """Median of w[:width] (width 3 or 5) by insertion sort in place."""
    for j in range(1, width):
        key = w[j]
        kk = j - 1
        while kk >= 0 and w[kk] > key:
            w[kk + 1] = w[kk]
            kk -= 1
        w[kk + 1] = key
    return w[width // 2]


@nb.njit(cache=True, nogil=True)
def _despiked(x, i, h, lim, w):
    """x[i], or the median of the 2h + 1 samples around it when it is further than lim from that median
    (``despike``'s rule for one sample; h = 0: x[i])."""
    n = x.shape[0]
    v = x[i]
    if h < 1 or i < h or i >= n - h:
        return v
    # cheap necessary condition: a sample > lim off the median of 5 (or 3) is > lim off a neighbour
    if abs(v - x[i - 1]) <= lim and abs(v - x[i + 1]) <= lim:
        return v
    for j in range(2 * h + 1):
        w[j] = x[i - h + j]
    med = _middle(w, 2 * h + 1)
    return med if abs(v - med) > lim else v


@nb.njit(cache=True, nogil=True)
def despike(x, sigma, width, threshold):
    """Replace samples further than threshold*sigma from the running median of ``width`` (odd) samples."""
    n = x.shape[0]
    out = np.empty(n)
    h = width // 2 if sigma > 0.0 and n >= width else 0
    w = np.empty(max(width, 1))
    for i in range(n):
        out[i] = _despiked(x, i, h, threshold * sigma, w)
    return out


@nb.njit(cache=True, nogil=True)
def _auto_penalty(n, d, factor):
    if n < 2:
        return 1.0
    x = factor * math.log(n)
    d = max(d, 1)
    return d + 2.0 * math.sqrt(d * x) + 2.0 * x



# ---------------------------------------------------------------- long-run scale of coarsely quantised series
@nb.njit(cache=True, nogil=True)
def _lag_scale(x, h):
    """(robust scale of x[t + h] - x[t] over <= _MAX_PAIRS evenly spaced t, share of them that are not 0)."""
    m = x.shape[0] - h
    step = max(1, m // _MAX_PAIRS)
    k = (m + step - 1) // step
    d = np.empty(k)
    moving = 0
    for i in range(k):
        v = x[i * step + h] - x[i * step]
        d[i] = v
        moving += np.int64(v != 0.0)
    return _scale_in_place(d), moving / max(k, 1)


@nb.njit(cache=True, nogil=True)
def variogram_profile(x, min_moving):
    """(long-run sigma, phi, lag h) of a finite 1-D float64 array from its semivariogram at lags h and 2h,
    gamma(h) = scale(x[t + h] - x[t])^2 / 2, for an AR(1) process gamma(h) = sigma_x^2 (1 - phi^h): phi^h =
    gamma(2h) / gamma(h) - 1, sigma_x^2 = gamma(h) / (1 - phi^h). h is the first of 1, 2, 4, ... at which at
    least ``min_moving`` of the lag-h differences are not 0 (and 2h pairs still cover half the series);
    (0, 0, 0) if none, and (0, 0, 1) when that is the first differences themselves (the AR(1) estimate from
    differences holds then). For a slowly varying signal read through coarse steps (an ADC of a few counts): its
    first differences are mostly 0 and the rest alternate +-1 step around a code boundary, so the AR(1)
    estimate from differences reads a short memory (phi 0.57 for 0.9, long-run sigma a quarter of the
    truth on 1,000 samples), while the levels a few samples apart still show the memory. Level shifts and
    drifts touch few lag differences (robust scales), as in the other estimates."""
    n = x.shape[0]
    h = 1
    s1 = 0.0
    found = False
    while 4 * h <= n // 2:
        s1, mv = _lag_scale(x, h)
        if mv >= min_moving:
            found = True
            break
        h *= 2
    if not found or not s1 > 0.0 or h == 1:  # h = 1: the first differences move, the AR(1) estimate holds
        return 0.0, 0.0, h if found else 0
    s2, _ = _lag_scale(x, 2 * h)
    g1 = 0.5 * s1 * s1
    g2 = 0.5 * s2 * s2
    cap = PHI_MAX ** h
    ph = min(max(g2 / g1 - 1.0, 0.0), cap)
    phi = ph ** (1.0 / h)
    sx2 = g1 / (1.0 - ph)
    return math.sqrt(sx2 * (1.0 + phi) / (1.0 - phi)), phi, h


# ---------------------------------------------------------------- long-run scale from block means, trend
_JUMP_CHUNK = 256  # samples per chunk of the spike pre-test


@nb.njit(cache=True, nogil=True)
def _any_jump(x, lo, hi, lim):
    """True if some |x[i] - x[i - 1]| > lim for lo <= i <= hi (1 <= lo, hi < len(x)): the spike rule's
    necessary condition over a chunk, without a branch per sample."""
    return _jumps(x[lo - 1:hi + 1], lim) > 0


@nb.njit(cache=True, nogil=True)
def _jumps(x, lim):
    """How many |x[i] - x[i - 1]| > lim. Int counts and indices from 1 on a view: LLVM vectorises the loop
    (~7x faster than over x[lo:hi] by index, where numba's negative-index wraparound test stops it)."""
    hits = 0
    for i in range(1, x.shape[0]):
        hits += np.int64(abs(x[i] - x[i - 1]) > lim)
    return hits


@nb.njit(cache=True, nogil=True)
def block_profile(x, min_blocks, sigma=0.0, width=0, threshold=0.0):
    """(block long-run sigma, trend per sample, trend z) of a finite 1-D float64 array, spikes removed first
    as ``despike(x, sigma, width, threshold)`` would (width 0: none; no copy of x is made).

    For block lengths b = 2, 4, 8, ... while there are >= ``min_blocks`` blocks: the differences of
    adjacent block means have variance 2 sigma_LR^2 / b whatever the correlation within b samples, so
    sigma_LR(b) = robust scale of those differences x sqrt(b / 2); the largest over b is returned (the
    plateau of a variance-time plot; slow wander and periodic components raise it, as they should).
    Level shifts touch one difference per scale, a linear trend only their median: both are ignored.
    The trend is that median / b at the largest scale, with z = median / its standard error.
    """
    n = x.shape[0]
    best = 0.0
    slope = 0.0
    z = 0.0
    b = 2
    k = n // 2
    h = width // 2 if sigma > 0.0 and n >= width else 0
    lim = threshold * sigma
    w = np.empty(max(width, 1))
    means = np.empty(max(k, 1))
    for j in range(k):  # block means at b = 2; each next scale averages pairs of the previous (O(n) in all)
        means[j] = 0.5 * (x[2 * j] + x[2 * j + 1])
    stop = min(n - h, 2 * k) if h > 0 else 0
    for lo in range(h, stop, _JUMP_CHUNK):  # spikes: the pair's mean again, despiked
        hi = min(lo + _JUMP_CHUNK, stop)
        if not _any_jump(x, lo, hi, lim):  # most chunks: no sample can be a spike (one vectorised pass)
            continue
        for i in range(lo, hi):
            # cheap necessary condition: a sample > lim off the median of 5 (or 3) is > lim off a neighbour
            if abs(x[i] - x[i - 1]) > lim or abs(x[i] - x[i + 1]) > lim:
                j = i // 2
                means[j] = 0.5 * (_despiked(x, 2 * j, h, lim, w) + _despiked(x, 2 * j + 1, h, lim, w))
    while k >= min_blocks:
        d = np.empty(k - 1)
        for j in range(k - 1):
            d[j] = means[j + 1] - means[j]
        s, med = _centred_scale(d)
        best = max(best, s * math.sqrt(b / 2.0))
        slope = med / b
        se = 1.2533 * s / math.sqrt(k - 1)  # standard error of a median of k - 1 roughly normal values
        z = abs(med) / se if se > 0.0 else (np.inf if med != 0.0 else 0.0)
        k //= 2
        for j in range(k):
            means[j] = 0.5 * (means[2 * j] + means[2 * j + 1])
        b *= 2
    return best, slope, z


@nb.njit(cache=True, nogil=True)
def block_extrapolated(x, min_blocks):
    """Long-run sigma of a finite 1-D float64 array from block means down to ``min_blocks`` blocks, with the
    block estimate's bias at each scale extrapolated away.

    V(b) = (robust scale of adjacent block-mean differences)^2 x b / 2 approaches sigma_LR^2 from below as
    sigma_LR^2 (1 - c / b) for a short-memory process (c ~ the correlation time), too slowly for the scales a
    short series has: AR(1) phi 0.9 reads 0.2-0.6 sigma_LR at 4-31 samples per block. Richardson's step
    2 V(2b) - V(b) removes the 1/b term; the largest of it and of V(2b) over the scales is returned (0 if
    fewer than two scales). It is noisier than ``block_profile`` (few blocks, a difference of two
    estimates): white noise reads ~1.2 sigma. ``policy.long_run`` uses it only for series whose first
    differences are mostly 0 (a slow signal read through a few ADC codes), where every other estimate
    reads the code flicker and not the memory."""
    n = x.shape[0]
    k = n // 2
    if k < 2 * min_blocks:
        return 0.0
    means = np.empty(k)
    for j in range(k):
        means[j] = 0.5 * (x[2 * j] + x[2 * j + 1])
    b = 2
    prev = -1.0
    best = 0.0
    while k >= min_blocks:
        d = np.empty(k - 1)
        for j in range(k - 1):
            d[j] = means[j + 1] - means[j]
        s, _ = _centred_scale(d)
        v = s * s * b / 2.0
        if prev >= 0.0:
            best = max(best, v, 2.0 * v - prev)
        prev = v
        k //= 2
        for j in range(k):
            means[j] = 0.5 * (means[2 * j] + means[2 * j + 1])
        b *= 2
    return math.sqrt(best)


# ---------------------------------------------------------------- absurd values (PLC sentinels)
PLC_ABSURD = 1e30  # |x| at or above this is a controller's bad-value code (3.4e38, -9.9e37, ...), never a reading
RANGE_FACTOR = 20.0  # a value further than this many robust ranges outside the 1-99 % range is absurd


@nb.njit(cache=True, nogil=True)
def _inside_range(buf, low, high):
    """True if no value in [low, high] can lie outside ``mask_absurd``'s limits, proven without its two
    selections: a sample's ~8 % and ~92 % values s < t are checked by one count to bound q01 <= s and
    q99 >= t, so the limits are at least 20 (t - s) outside [s, t] (19: a margin for rounding)."""
    k = buf.shape[0]
    step = max(1, k // 64)
    sample = buf[::step].copy()
    ns = sample.shape[0]
    s = _select(sample, ns // 12)
    t = _select(sample, ns - 1 - ns // 12)
    span = t - s
    if not (span > 1e-9 * max(abs(s), abs(t))):
        return False
    le_s = 0
    lt_t = 0
    for i in range(k):  # int counts: vectorised
        v = buf[i]
        le_s += np.int64(v <= s)
        lt_t += np.int64(v < t)
    if le_s < int(0.01 * k) + 1 or lt_t > int(0.99 * k):  # q01 > s or q99 < t: no proof
        return False
    return low >= s - (RANGE_FACTOR - 1.0) * span and high <= t + (RANGE_FACTOR - 1.0) * span


@nb.njit(cache=True, nogil=True)
def mask_gaps(x):
    """(x with absurd values set to NaN, how many, how many samples are gaps in all): ``mask_absurd`` that
    also counts the NaN the series already held (0 gaps: the caller needs no mask of its own). A copy when
    something is masked or x holds NaN; x itself otherwise (most series: nothing to copy).

    Absurd values: PLC bad-value codes (|x| >= 1e30) and values
    more than RANGE_FACTOR x (q99 - q01) outside [q01, q99] (quantiles of <= 4096 evenly spaced samples).
    A real level shift moves q01/q99 with it as soon as it holds 1 % of the series, so it is never masked.
    When ``_inside_range`` proves nothing can be outside the limits, their two selections are skipped."""
    n = x.shape[0]
    odd = 0
    for i in range(n):  # int counts, no branch: vectorised
        v = x[i]
        odd += np.int64(abs(v) >= PLC_ABSURD) + np.int64(v != v)  # a code or NaN: the general path
    if odd > 0:
        return _mask_gaps_copy(x)
    low, high = _min_max(x)
    a, b = _absurd_limits(x[::max(1, n // _MAX_PAIRS)], low, high)
    if a == -np.inf and b == np.inf:
        return x, 0, 0
    out = x.copy()
    count = _mask_outside(out, a, b)
    return out, count, count


@nb.njit(cache=True, nogil=True)
def _absurd_limits(sample, low, high):
    """(a, b): values below a or above b are absurd (RANGE_FACTOR x (q99 - q01) outside [q01, q99] of the
    finite ``sample``); (-inf, inf) when the sample is too small (< 20), has no spread, or ``_inside_range``
    proves that nothing in [low, high], the series' range, lies outside (its two selections skipped)."""
    k = sample.shape[0]
    if k < 20 or _inside_range(sample, low, high):
        return -np.inf, np.inf
    buf = sample.copy()
    lo = _select_bracketed(buf, int(0.01 * k))
    hi = _select_bracketed(buf, int(0.99 * k))
    r = hi - lo
    if not r > 0.0:
        return -np.inf, np.inf
    return lo - RANGE_FACTOR * r, hi + RANGE_FACTOR * r


@nb.njit(cache=True, nogil=True)
def _mask_outside(out, a, b):
    """Sets the values of ``out`` below a or above b to NaN, in place; how many."""
    count = 0
    for i in range(out.shape[0]):
        v = out[i]
        if v < a or v > b:
            out[i] = np.nan
            count += 1
    return count


@nb.njit(cache=True, nogil=True)
def two_valued(x):
    """True if the NaN-free x takes at most two distinct values (a state: on/off, open/closed)."""
    lo, hi = _min_max(x)
    other = 0
    for i in range(x.shape[0]):  # int counts, no branch: vectorised
        other += np.int64(x[i] != lo) & np.int64(x[i] != hi)
    return other == 0


@nb.njit(cache=True, nogil=True)
def _min_max(x):
    """(min, max) of a NaN-free x, in 4 independent running minima and maxima (one chain waits ~4 cycles)."""
    n = x.shape[0]
    l0 = l1 = l2 = l3 = np.inf
    h0 = h1 = h2 = h3 = -np.inf
    i = 0
    while i + 3 < n:
        l0 = min(l0, x[i])
        l1 = min(l1, x[i + 1])
        l2 = min(l2, x[i + 2])
        l3 = min(l3, x[i + 3])
        h0 = max(h0, x[i])
        h1 = max(h1, x[i + 1])
        h2 = max(h2, x[i + 2])
        h3 = max(h3, x[i + 3])
        i += 4
    while i < n:
        l0 = min(l0, x[i])
        h0 = max(h0, x[i])
        i += 1
    return min(min(l0, l1), min(l2, l3)), max(max(h0, h1), max(h2, h3))


@nb.njit(cache=True, nogil=True)
def _mask_gaps_copy(x):
    """``mask_gaps`` of a series holding NaN or PLC codes: on a copy."""
    n = x.shape[0]
    out = x.copy()
    count = 0
    nans = 0
    low = np.inf  # range of what is left (NaN compares False)
    high = -np.inf
    for i in range(n):
        v = out[i]
        if abs(v) >= PLC_ABSURD:
            out[i] = np.nan
            count += 1
        elif not math.isnan(v):
            low = min(low, v)
            high = max(high, v)
        else:
            nans += 1
    step = max(1, n // _MAX_PAIRS)
    sub = np.empty((n + step - 1) // step)
    k = 0
    for i in range(0, n, step):
        if np.isfinite(out[i]):
            sub[k] = out[i]
            k += 1
    a, b = _absurd_limits(sub[:k], low, high)
    if a != -np.inf or b != np.inf:
        count += _mask_outside(out, a, b)
    return out, count, count + nans


@nb.njit(cache=True, nogil=True)
def mask_absurd(x):
    """x with absurd values set to NaN (a copy if any; x itself if none), and how many (``mask_gaps``)."""
    out, count, _ = mask_gaps(x)
    return out, count


# ---------------------------------------------------------------- standardising for the search
@nb.njit(cache=True, nogil=True)
def standardise(xv, centre, slope, inv_scale, lim, half, z, s1a, s2a):
    """z = (x - centre - slope (i - n/2)) / scale with spikes and short pulses replaced by the running median of
    2*half+1 scaled samples, and the cumulative sums of z and z^2 for the search. In three passes, each
    a tight loop (one loop doing all three ran ~2x slower): the scaled samples, the spike rule (after one
    vectorised count that finds no neighbours more than lim apart on most series), the sums."""
    n = xv.shape[0]
    s1a[0] = 0.0
    s2a[0] = 0.0
    if n == 0:
        return z
    mid = 0.5 * n
    for i in range(n):
        z[i] = (xv[i] - centre - slope * (i - mid)) * inv_scale
    if half > 0 and n > 2 * half and _jumps(z, lim) > 0:
        _despike_scaled(xv, centre, slope, inv_scale, mid, lim, half, z)
    a1 = 0.0
    a2 = 0.0
    for i in range(n):
        v = z[i]
        a1 += v
        a2 += v * v
        s1a[i + 1] = a1
        s2a[i + 1] = a2
    return z


_SPIKE_CHUNK = 64  # samples per chunk of standardise's spike pre-test


@nb.njit(cache=True, nogil=True)
def _despike_scaled(xv, centre, slope, inv_scale, mid, lim, half, z):
    """``standardise``'s spike rule on the scaled samples z, replaced in place: a sample more than lim off
    the median of the 2*half+1 scaled samples around it becomes that median (half <= 4: a pulse of up to 4
    samples, shorter than a segment of min_size 5). The rule reads the samples as scaled before any
    replacement (the window recomputed from xv, as z before it may have changed)."""
    n = xv.shape[0]
    width = 2 * half + 1
    w = np.empty(width)
    two = half > 2  # neighbours looked at on each side by the cheap test: 1, or 2 for windows of 7 and 9
    for lo in range(half, n - half, _SPIKE_CHUNK):
        hi = min(lo + _SPIKE_CHUNK, n - half)
        # z[lo:] is unchanged yet, z[lo - 1] may be: read as scaled
        prev = (xv[lo - 1] - centre - slope * (lo - 1 - mid)) * inv_scale
        prev2 = (xv[lo - 2] - centre - slope * (lo - 2 - mid)) * inv_scale if two else 0.0
        if abs(z[lo] - prev) <= lim and _jumps(z[lo:hi + 1], lim) == 0:  # most chunks: no spike can be here
            continue
        for i in range(lo, hi):
            v = z[i]
            # cheap test first: if v and its 1 (2) nearest samples on each side, a majority of the window,
            # are all within lim of v, so is the median (at most half of the window lies beyond v + lim, at
            # most half below v - lim)
            far = abs(v - prev) > lim or abs(v - z[i + 1]) > lim
            if two:
                far = far or abs(v - prev2) > lim or abs(v - z[i + 2]) > lim
            if far:
                for j in range(width):
                    w[j] = (xv[i - half + j] - centre - slope * (i - half + j - mid)) * inv_scale
                med = _middle(w, width)
                if abs(v - med) > lim:
                    z[i] = med
            prev2 = prev
            prev = v


# ---------------------------------------------------------------- noise that grows along the series
@nb.njit(cache=True, nogil=True)
def spread_profile(x, blocks):
    """(largest, median) robust scale of the first differences of x over ``blocks`` equal pieces (at most
    256 differences each, evenly spaced): a noise sd that grows along the series shows as largest >> median.
    Steps and spikes touch single differences and are ignored by the robust scale."""
    n = x.shape[0]
    per = (n - 1) // blocks
    scales = np.empty(blocks)
    for b in range(blocks):
        step = max(1, per // 256)
        k = (per + step - 1) // step
        d = np.empty(k)
        zeros = 0
        for j in range(k):  # differences of noise are centred on 0 (a drift: ~0): |d| is the deviation
            i = b * per + j * step + 1
            v = x[i] - x[i - 1]
            d[j] = abs(v)
            zeros += np.int64(v == 0.0)
        scales[b] = _abs_scale(d, zeros)
    big = scales.max()
    return big, _select(scales.copy(), blocks // 2)

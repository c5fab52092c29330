"""Counter-based random numbers: every random value is a pure function of (seed, stream, index).

Why counter-based: the batch history and the live clock must give *identical* values at the same
timestamps, and a live read at 14:03:15 must not depend on how many values were drawn before it.
Here the n-th value of a stream is ``hash(seed, stream, n)`` (splitmix64 finaliser), so any
sample can be recomputed on its own, in any order, vectorised or one at a time.

Example
-------
>>> key = stream_key(0, "gauge", 3)
>>> bool(uniform(key, 10) == uniform(key, [9, 10, 11])[1])
True
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
from scipy.special import ndtri

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


@functools.lru_cache(maxsize=65536)
def stream_key(seed: int, *names) -> np.uint64:
    """A 64-bit key for one named random stream of one seed (stable across runs and platforms)."""
    digest = hashlib.blake2b(repr((int(seed),) + tuple(names)).encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    return x ^ (x >> _S31)


def uniform(key, index) -> np.ndarray:
    """Uniform values in (0, 1) for integer ``index`` (any shape; broadcasts with an array of keys)."""
    idx = np.asarray(index, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = _mix(_mix(idx * _GOLDEN + np.asarray(key, dtype=np.uint64)) ^ np.asarray(key, dtype=np.uint64))
    return ((x >> _S11).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def normal(key, index) -> np.ndarray:
    """Standard normal values for integer ``index`` (inverse-CDF of :func:`uniform`)."""
    return ndtri(uniform(key, index))


def ar1(key, index, *, phi: float, sigma: float, taps: int | None = None) -> np.ndarray:
    """AR(1)-like noise with lag-1 correlation ``phi`` and standard deviation ``sigma``.

    Computed as a truncated moving average x_k = c·Σ_j phi^j e_(k-j) over ``taps`` past innovations
    (default: until phi^j < 1e-4), so a single sample needs no history: batch and live agree exactly.
    The sum runs in the same order for one index or many, so results are bit-identical.

    >>> x = ar1(stream_key(0, "x"), np.arange(20000), phi=0.7, sigma=2.0)
    >>> round(float(x.std()), 1), round(float(np.corrcoef(x[1:], x[:-1])[0, 1]), 1)
    (2.0, 0.7)
    """
    if not 0.0 <= phi < 1.0:
        raise ValueError(f"ar1: phi must be in [0, 1), got {phi}")
    if taps is None:
        taps = 1 if phi == 0 else int(np.ceil(np.log(1e-4) / np.log(phi))) + 1
    w = phi ** np.arange(taps)
    w = w / np.sqrt(np.sum(w**2))
    idx = np.asarray(index, dtype=np.int64)
    key = np.asarray(key, dtype=np.uint64).ravel() if np.ndim(key) else np.asarray(key, dtype=np.uint64)
    # Innovations on the covering index range once, then gathered per tap (same values as per-index).
    lo, hi = (int(idx.min()), int(idx.max())) if idx.size else (0, 0)
    span = np.arange(lo - taps + 1, hi + 1, dtype=np.int64)
    if key.ndim:  # one key per column (e.g. lanes): innovations (span, n_keys)
        e = normal(key[None, :], span[:, None])
    else:
        e = normal(key, span)
    pos = idx - (lo - taps + 1)
    acc = np.zeros(np.broadcast_shapes(idx.shape, key.shape), dtype=np.float64)
    for j in range(taps):
        acc = acc + w[j] * _take(e, pos - j, key.ndim)
    return sigma * acc


def _take(e: np.ndarray, pos: np.ndarray, keyed: int) -> np.ndarray:
    if not keyed:
        return e[pos]
    if pos.ndim == 2:  # pos (n, 1) against e (span, n_keys)
        return np.take_along_axis(e, np.broadcast_to(pos, (pos.shape[0], e.shape[1])), axis=0)
    return e[pos]


def smooth_trend(key, seconds, *, period_s: float, sigma: float) -> np.ndarray:
    """A slow, smooth random wander (value noise): knots every ``period_s`` joined by a cosine blend.

    Used for slow process trends (room temperature, coater wander). Pure function of time.
    """
    t = np.asarray(seconds, dtype=np.float64) / period_s
    k = np.floor(t)
    frac = t - k
    w = 0.5 - 0.5 * np.cos(np.pi * frac)
    k = k.astype(np.int64)
    return sigma * ((1 - w) * normal(key, k) + w * normal(key, k + 1))


def spikes(key, index, *, probability: float, size: float) -> np.ndarray:
    """Rare outliers: with ``probability`` per sample, a spike of ±(2..4)·``size``, else 0."""
    u = uniform(key, index)
    mag = uniform(np.asarray(key, dtype=np.uint64) ^ np.uint64(0x5DEECE66D), index)
    sign = np.where(mag < 0.5, -1.0, 1.0)
    return np.where(u < probability, sign * size * (2.0 + 4.0 * np.abs(mag - 0.5) * 2), 0.0)


def quantise(x, resolution: float | None) -> np.ndarray:
    """Round to the instrument resolution (a float like 0.01); ``None`` leaves values alone."""
    if not resolution:
        return np.asarray(x, dtype=np.float64)
    decimals = max(0, int(np.ceil(-np.log10(resolution))) + 1)
    return np.round(np.round(np.asarray(x) / resolution) * resolution, decimals)

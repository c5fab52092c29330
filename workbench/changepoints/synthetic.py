"""Series with known change points and realistic noise (AR(1), quantised, spiky), for tests and benchmarks.

Every generator is seeded and returns the truth (indices of the first sample of each new segment) with
the values, in the style of ruptures' ``pw_constant``.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def ar1_noise(shape, phi: float, rng: np.random.Generator, sigma: float = 1.0) -> np.ndarray:
    """Stationary AR(1) noise along the last axis with marginal sd ``sigma`` (x_t = phi x_{t-1} + e_t).

    >>> x = ar1_noise((4, 20_000), 0.7, np.random.default_rng(0))
    >>> round(float(x.std()), 1), round(float(np.corrcoef(x[0, 1:], x[0, :-1])[0, 1]), 1)
    (1.0, 0.7)
    """
    if not -1.0 < phi < 1.0:
        raise ValueError(f"ar1_noise: phi must be in (-1, 1) for a stationary series, got {phi}")
    shape = tuple(np.atleast_1d(shape))
    e = rng.normal(size=shape) * np.sqrt(1.0 - phi**2)
    e[..., 0] = rng.normal(size=shape[:-1])  # start in the stationary distribution
    return sigma * lfilter([1.0], [1.0, -phi], e, axis=-1)


def quantise(x: np.ndarray, step: float) -> np.ndarray:
    """Round to a gauge/ADC resolution ``step`` (same unit as x).

    >>> quantise(np.array([0.04, 0.06, -0.14]), 0.1).round(2).tolist()
    [0.0, 0.1, -0.1]
    """
    if not step > 0:
        raise ValueError(f"quantise: step must be positive, got {step}")
    return np.round(np.asarray(x) / step) * step


def piecewise_constant(
    n_series: int,
    n_samples: int,
    n_changes: int,
    *,
    jump: float = 3.0,
    phi: float = 0.0,
    min_gap: int = 50,
    seed: int = 0,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(values (n_series, n_samples), truth per series) with ``n_changes`` steps of +-``jump`` noise sds.

    Change positions are uniform but at least ``min_gap`` samples apart and from both ends; the noise is
    AR(1) with coefficient ``phi`` and marginal sd 1 (``phi=0``: white).

    >>> x, truth = piecewise_constant(2, 1000, 3, seed=1)
    >>> x.shape, [len(t) for t in truth]
    ((2, 1000), [3, 3])
    """
    rng = np.random.default_rng(seed)
    free = n_samples - 2 * min_gap - (n_changes - 1) * min_gap
    if free < n_changes:
        raise ValueError(f"piecewise_constant: {n_changes} changes {min_gap} apart do not fit in {n_samples} samples")
    values = ar1_noise((n_series, n_samples), phi, rng) if phi else rng.normal(size=(n_series, n_samples))
    truth = []
    for r in range(n_series):
        pos = np.sort(rng.choice(free, size=n_changes, replace=False)) + min_gap + np.arange(n_changes) * min_gap
        steps = jump * rng.choice([-1.0, 1.0], size=n_changes)
        level = np.zeros(n_samples)
        for p, s in zip(pos, steps):
            level[p:] += s
        values[r] += level
        truth.append(pos)
    return values, truth


NOISES = ("white", "ar1", "quantised", "ar1_quantised", "trend", "sine", "heteroscedastic")


def process_noise(kind: str, shape, rng: np.random.Generator) -> np.ndarray:
    """No-change series of unit (marginal) noise sd as plant sensors give them, along the last axis.

    ``white``; ``ar1`` (phi 0.7); ``quantised`` (white rounded to 0.5 sd, an ADC of a few codes);
    ``ar1_quantised`` (phi 0.5, then rounded to 0.5 sd); ``trend`` (white on a drift of 8 sd over the
    series); ``sine`` (white on a sine of amplitude 2 sd, period 50 samples: a traverse or a cycle);
    ``heteroscedastic`` (white whose sd grows from 0.5 to 2 along the series).

    >>> process_noise("quantised", (2, 8), np.random.default_rng(0)).shape
    (2, 8)
    """
    shape = tuple(np.atleast_1d(shape))
    n = shape[-1]
    t = np.arange(n)
    if kind == "white":
        return rng.normal(size=shape)
    if kind == "ar1":
        return ar1_noise(shape, 0.7, rng)
    if kind == "quantised":
        return quantise(rng.normal(size=shape), 0.5)
    if kind == "ar1_quantised":
        return quantise(ar1_noise(shape, 0.5, rng), 0.5)
    if kind == "trend":
        return rng.normal(size=shape) + 8.0 * t / n
    if kind == "sine":
        return rng.normal(size=shape) + 2.0 * np.sin(2 * np.pi * t / 50 + rng.uniform(0, 2 * np.pi, shape[:-1] + (1,)))
    if kind == "heteroscedastic":
        return rng.normal(size=shape) * np.linspace(0.5, 2.0, n)
    raise ValueError(f"process_noise: unknown kind {kind!r}; use one of {NOISES}")


CURVES = ("exponential", "saturating", "quadratic", "logistic")
CURVE_NOISES = ("white", "ar1", "quantised")
CURVE_NOISE_LONG_RUN = {"white": 1.0, "ar1": np.sqrt(3.0), "quantised": 1.0}  # long-run / marginal sd


def curved_drift(curve: str, noise: str, shape, rng: np.random.Generator, *, rise: float = 8.0) -> np.ndarray:
    """No-change series along the last axis: a smooth drift of ``rise`` noise sds plus unit noise.

    Curves over t = 0 .. 1: ``exponential`` (rise exp(-t / 0.15): a heater settling, an electrode drying),
    ``saturating`` (rise (1 - exp(-t / 0.15)): warming up, a filter loading), ``quadratic`` (rise t^2:
    accelerating wear), ``logistic`` (rise / (1 + exp(-(t - 0.5) / 0.05)): a slow change of state over a
    fifth of the series). Noise: ``white``, ``ar1`` (phi 0.5, marginal sd 1, long-run sd sqrt(3)),
    ``quantised`` (white rounded to 0.5 sd).

    >>> x = curved_drift("saturating", "white", (2, 1000), np.random.default_rng(0))
    >>> x.shape, bool(x[:, -100:].mean() > 7)
    ((2, 1000), True)
    """
    shape = tuple(np.atleast_1d(shape))
    if noise == "white":
        e = rng.normal(size=shape)
    elif noise == "ar1":
        e = ar1_noise(shape, 0.5, rng)
    elif noise == "quantised":
        e = quantise(rng.normal(size=shape), 0.5)
    else:
        raise ValueError(f"curved_drift: unknown noise {noise!r}; use one of {CURVE_NOISES}")
    return e + rise * drift_shape(curve, shape[-1])


def drift_shape(curve: str, n: int) -> np.ndarray:
    """The curve of ``curved_drift`` over n samples, rising by 1 (exponential: falling from 1).

    >>> drift_shape("quadratic", 4).tolist()
    [0.0, 0.0625, 0.25, 0.5625]
    """
    t = np.arange(n) / n
    curves = {"exponential": lambda: np.exp(-t / 0.15), "saturating": lambda: 1.0 - np.exp(-t / 0.15),
              "quadratic": lambda: t * t, "logistic": lambda: 1.0 / (1.0 + np.exp(-(t - 0.5) / 0.05))}
    if curve not in curves:
        raise ValueError(f"curved_drift: unknown curve {curve!r}; use one of {CURVES}")
    return curves[curve]()


PATTERNS = ("sine", "square", "sawtooth", "fast_sine", "smooth_ar", "white")


def pattern(kind: str, n: int, period: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of one regime of mean 0 and sd 1, so that only the shape tells regimes apart: ``sine``,
    ``square`` and ``sawtooth`` of ``period`` samples (random phase), ``fast_sine`` (period x 0.6),
    ``smooth_ar`` (AR(1), phi 0.9: a slow random wander) and ``white``.

    >>> x = pattern("square", 4000, 40, np.random.default_rng(0))
    >>> round(float(x.mean()), 2), round(float(x.std()), 2)
    (0.0, 1.0)
    """
    t = np.arange(n) / period + rng.uniform()
    if kind == "sine":
        x = np.sin(2 * np.pi * t)
    elif kind == "square":
        x = np.sign(np.sin(2 * np.pi * t))
    elif kind == "sawtooth":
        x = t % 1.0
    elif kind == "fast_sine":
        x = np.sin(2 * np.pi * t / 0.6)
    elif kind == "smooth_ar":
        x = ar1_noise(n, 0.9, rng)
    elif kind == "white":
        x = rng.normal(size=n)
    else:
        raise ValueError(f"pattern: unknown kind {kind!r}; use one of {PATTERNS}")
    return (x - x.mean()) / x.std()


def pattern_changes(kinds, length: int, *, period: int = 40, noise: float = 0.2, seed: int = 0):
    """(values, truth): regimes ``kinds`` (see ``pattern``) of ``length`` samples each, one after the other,
    plus white noise of sd ``noise``; every regime has mean 0 and sd 1, so no change is in level or spread.

    >>> x, truth = pattern_changes(["sine", "square"], 1000)
    >>> x.shape, truth.tolist()
    ((2000,), [1000])
    """
    rng = np.random.default_rng(seed)
    x = np.concatenate([pattern(k, length, period, rng) for k in kinds])
    return x + noise * rng.normal(size=x.size), np.arange(1, len(kinds)) * length

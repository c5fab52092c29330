"""Control-chart constants for subgroup sizes n = 2..25, computed from their definitions.

- d2(n) = E[R]/sigma, the mean range of n standard normals:  int [1 - Phi^n - (1-Phi)^n] dx.
- d3(n) = sd(R)/sigma, from E[R^2] = int w^2 f(w) dw with the density of the range
  f(w) = n(n-1) int phi(x) phi(x+w) [Phi(x+w) - Phi(x)]^(n-2) dx (Tippett 1925), minus d2^2.
- c4(n) = E[s]/sigma = sqrt(2/(n-1)) Gamma(n/2) / Gamma((n-1)/2) (mean of a chi variable).
- A2 = 3/(d2 sqrt n), A3 = 3/(c4 sqrt n), D3/D4 = max(0, 1 -+ 3 d3/d2), B3/B4 = max(0, 1 -+ 3
  sqrt(1-c4^2)/c4).

The integrals use the trapezoidal rule on a uniform grid, which converges geometrically for these
smooth, fast-decaying integrands (error far below the 3-4 published digits; checked against the
published table in tests/test_spc_constants.py).

>>> round(d2(2), 3), round(d3(2), 3), round(c4(5), 4), round(A2(5), 3), round(D4(2), 3)
(1.128, 0.853, 0.94, 0.577, 3.267)
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

N_MIN, N_MAX = 2, 25
_STEP = 0.02
_GRID = np.arange(-9.0, 9.0 + _STEP / 2, _STEP)


def _check_n(n: int) -> int:
    if not (isinstance(n, (int, np.integer)) and N_MIN <= n <= N_MAX):
        raise ValueError(f"subgroup size n={n!r}: control-chart constants are tabulated for "
                         f"integers {N_MIN}..{N_MAX}; use individuals (I-MR) charts for n=1")
    return int(n)


@functools.lru_cache(maxsize=None)
def d2(n: int) -> float:
    """Mean of the range of n standard normal values (E[R]/sigma)."""
    n = _check_n(n)
    phi = special.ndtr(_GRID)
    return float(np.trapezoid(1.0 - phi**n - (1.0 - phi) ** n, dx=_STEP))


@functools.lru_cache(maxsize=None)
def d3(n: int) -> float:
    """Standard deviation of the range of n standard normal values (sd(R)/sigma)."""
    n = _check_n(n)
    w = np.arange(0.0, 12.0 + _STEP / 2, _STEP)[:, None]
    x = _GRID[None, :]
    # density of the range: f(w) = n(n-1) int phi(x) phi(x+w) [Phi(x+w) - Phi(x)]^(n-2) dx
    inner = (np.exp(-0.5 * (x**2 + (x + w) ** 2)) / (2 * np.pi)
             * (special.ndtr(x + w) - special.ndtr(x)) ** (n - 2))
    density = n * (n - 1) * np.trapezoid(inner, dx=_STEP, axis=1)
    # w^2 f(w) has zero value and slope at w = 0, so the trapezoid stays O(h^4) accurate there
    second = np.trapezoid(w[:, 0] ** 2 * density, dx=_STEP)
    return float(np.sqrt(second - d2(n) ** 2))


@functools.lru_cache(maxsize=None)
def c4(n: int) -> float:
    """Mean of the sample standard deviation of n standard normal values (E[s]/sigma)."""
    n = _check_n(n)
    return float(np.sqrt(2.0 / (n - 1)) * np.exp(special.gammaln(n / 2) - special.gammaln((n - 1) / 2)))


def A2(n: int) -> float:
    """X-bar chart factor with R-bar: limits X-double-bar +- A2 R-bar."""
    return float(3.0 / (d2(n) * np.sqrt(n)))


def A3(n: int) -> float:
    """X-bar chart factor with S-bar: limits X-double-bar +- A3 S-bar."""
    return float(3.0 / (c4(n) * np.sqrt(n)))


def D3(n: int) -> float:
    """R chart lower factor: LCL = D3 R-bar (0 below n = 7)."""
    return float(max(0.0, 1.0 - 3.0 * d3(n) / d2(n)))


def D4(n: int) -> float:
    """R chart upper factor: UCL = D4 R-bar."""
    return float(1.0 + 3.0 * d3(n) / d2(n))


def B3(n: int) -> float:
    """S chart lower factor: LCL = B3 S-bar (0 below n = 6)."""
    return float(max(0.0, 1.0 - 3.0 * np.sqrt(1.0 - c4(n) ** 2) / c4(n)))


def B4(n: int) -> float:
    """S chart upper factor: UCL = B4 S-bar."""
    return float(1.0 + 3.0 * np.sqrt(1.0 - c4(n) ** 2) / c4(n))


def table() -> "pandas.DataFrame":  # noqa: F821
    """All constants for n = 2..25 as a DataFrame indexed by n.

    >>> round(float(table().loc[10, "D4"]), 3)
    1.777
    """
    import pandas as pd

    funcs = {"d2": d2, "d3": d3, "c4": c4, "A2": A2, "A3": A3, "B3": B3, "B4": B4, "D3": D3, "D4": D4}
    rows = {n: {k: f(n) for k, f in funcs.items()} for n in range(N_MIN, N_MAX + 1)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("n")

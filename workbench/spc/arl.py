"""Exact (numerical) average run lengths of the tabular CUSUM, and h for a wanted ARL0.

The zero-state ARL of a one-sided CUSUM  C_i = max(0, C_{i-1} + X_i - k),  signal when C_i > h,
with X ~ N(delta, 1), solves the integral equation (Page 1954; Brook & Evans 1972)

    L(u) = 1 + L(0) * Phi(k - u - delta) + int_0^h L(y) phi(y + k - u - delta) dy,

solved here by Nystrom's method with Gauss-Legendre nodes. The two-sided ARL follows from
1/ARL = 1/ARL+ + 1/ARL- (Lucas & Crosier 1982; exact when k >= 0 makes the two sides unable to be
positive together, which holds for the charts used here up to a negligible interaction).

>>> round(cusum_arl(k=0.5, h=5.0), 0)
465.0
>>> round(cusum_arl(k=0.5, h=5.0, delta=1.0), 1)
10.4
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import optimize, special


@lru_cache(maxsize=8)
def _gauss_legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights on [-1, 1] (an eigenvalue problem: ~20 ms, the bulk of one ARL; computed once)."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def _one_sided_arl(k: float, h: float, delta: float, nodes: int) -> float:
    x, w = _gauss_legendre(nodes)
    y = 0.5 * h * (x + 1.0)
    wy = 0.5 * h * w
    # kernel for u in the nodes, plus the atom at 0; solve for L at (0, y_1..y_N)
    u = np.concatenate(([0.0], y))
    pdf = np.exp(-0.5 * (y[None, :] + k - u[:, None] - delta) ** 2) / np.sqrt(2 * np.pi)
    a = np.zeros((nodes + 1, nodes + 1))
    a[:, 0] = special.ndtr(k - u - delta)
    a[:, 1:] = pdf * wy[None, :]
    lvec = np.linalg.solve(np.eye(nodes + 1) - a, np.ones(nodes + 1))
    return float(lvec[0])


def cusum_arl(*, k: float, h: float, delta: float = 0.0, nodes: int = 96) -> float:
    """Zero-state two-sided ARL (samples) of the tabular CUSUM, k and h in sigma units.

    ``delta`` is the mean shift in sigma. Accurate to < 0.1 % for h <= 10 with the default nodes.

    >>> round(cusum_arl(k=0.5, h=4.0), 0)
    168.0
    """
    if not (k >= 0 and h > 0):
        raise ValueError(f"cusum_arl: need k >= 0 and h > 0 (got k={k}, h={h})")
    up = _one_sided_arl(k, h, delta, nodes)
    down = up if delta == 0 else _one_sided_arl(k, h, -delta, nodes)  # in control the two sides are mirror images
    return 1.0 / (1.0 / up + 1.0 / down)


def cusum_h_for_arl0(k: float, arl0: float = 465.0) -> float:
    """Decision interval h (sigma units) giving the wanted in-control ARL for reference value k.

    >>> round(cusum_h_for_arl0(0.5, 465.0), 2)
    5.0
    """
    if not arl0 > 1:
        raise ValueError(f"cusum_h_for_arl0: arl0 must be > 1 sample (got {arl0})")
    return float(optimize.brentq(lambda h: cusum_arl(k=k, h=h) - arl0, 1e-3, 60.0, xtol=1e-6))

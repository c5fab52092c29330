"""Effect estimates from a trial: difference of settled means with confidence intervals; DOE main effects.

Pure functions on numpy arrays. Samples of a process signal are autocorrelated, so the standard error
uses an effective sample size ``n_eff = n (1 - r1) / (1 + r1)`` (r1: lag-1 autocorrelation, clipped to
[0, 0.95]) — with white noise it is the ordinary Welch interval, with AR(1) noise it does not pretend
to know more than the data say.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> d = mean_difference(rng.normal(1.0, 0.1, 200), rng.normal(0.0, 0.1, 200))
>>> d.lo < 1.0 < d.hi
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Difference:
    """``effect`` = mean(after) - mean(before) with a two-sided ``level`` confidence interval [lo, hi]."""

    effect: float
    lo: float
    hi: float
    n_after: int
    n_before: int
    n_eff_after: float
    n_eff_before: float
    level: float = 0.95


def effective_n(x: np.ndarray) -> float:
    """Effective number of independent samples of an AR(1)-like series (≤ n).

    >>> round(effective_n(np.arange(10.0) % 2), 1)   # alternating: r1 < 0 is clipped to 0
    10.0
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n < 3:
        return float(n)
    d = x - x.mean()
    denom = float(d @ d)
    r1 = float(d[1:] @ d[:-1]) / denom if denom > 0 else 0.0
    r1 = min(max(r1, 0.0), 0.95)
    return max(1.0, n * (1 - r1) / (1 + r1))


def mean_difference(after, before, *, level: float = 0.95, autocorrelated: bool = True) -> Difference:
    """Welch difference of means of two samples (NaNs dropped); ``autocorrelated`` uses :func:`effective_n`.

    Raises ValueError when a side has fewer than 2 finite samples (say which)."""
    a = np.asarray(after, dtype=float)
    b = np.asarray(before, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        raise ValueError(f"need at least 2 settled samples on each side, got {a.size} after and {b.size} before; "
                         "lengthen the dwell or shorten transient_s")
    na, nb = (effective_n(a), effective_n(b)) if autocorrelated else (float(a.size), float(b.size))
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se = math.sqrt(va + vb)
    if se == 0:
        df = float(a.size + b.size - 2)
    else:
        df = (va + vb) ** 2 / ((va**2 / max(na - 1, 1e-9)) + (vb**2 / max(nb - 1, 1e-9)))
    t = float(stats.t.ppf(0.5 + level / 2, max(df, 1.0)))
    eff = float(a.mean() - b.mean())
    return Difference(eff, eff - t * se, eff + t * se, int(a.size), int(b.size), na, nb, level)


def main_effects(run_means: list[float], levels: list[dict], *, level: float = 0.95) -> list[dict]:
    """DOE main effects from one mean per run. For each factor: mean response at each level, and the
    effect of its highest level minus its lowest, with a Welch CI over the runs at those levels.

    >>> rows = main_effects([1.0, 3.1, 0.9, 2.9], [{"a": 0}, {"a": 1}, {"a": 0}, {"a": 1}])
    >>> round(rows[0]["effect"], 2)
    2.05
    """
    y = np.asarray(run_means, dtype=float)
    out = []
    factors = list(levels[0]) if levels else []
    for f in factors:
        x = np.asarray([lv[f] for lv in levels], dtype=float)
        lvls = np.unique(x)
        lo_v, hi_v = lvls[0], lvls[-1]
        hi, lo = y[x == hi_v], y[x == lo_v]
        row = {"factor": f, "low": float(lo_v), "high": float(hi_v),
               "level_means": {float(v): float(np.nanmean(y[x == v])) for v in lvls},
               "effect": float(np.nanmean(hi) - np.nanmean(lo)), "ci_low": math.nan, "ci_high": math.nan,
               "runs_low": int(lo.size), "runs_high": int(hi.size)}
        if hi.size >= 2 and lo.size >= 2:
            d = mean_difference(hi, lo, level=level, autocorrelated=False)
            row["ci_low"], row["ci_high"] = d.lo, d.hi
        out.append(row)
    return out


__all__ = ["Difference", "effective_n", "mean_difference", "main_effects"]

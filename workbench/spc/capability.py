"""Process capability: Cp, Cpk (sigma within), Pp, Ppk (sigma overall), with confidence intervals.

- Cp = (USL - LSL) / 6 sigma_within, Cpk = min(USL - mean, mean - LSL) / 3 sigma_within;
  Pp and Ppk the same with sigma_overall. With one spec limit only Cpk/Ppk (= Cpu or Cpl) exist.
- sigma_within comes from the Phase I limits if given (their ``sigma_method`` is reported), else
  from the data's average moving range / d2(2); sigma_overall is the sample standard deviation.
- Confidence intervals: Bissell (1990) for Cpk and Ppk, k_hat +- z sqrt(1/(9n) + k_hat^2/(2(n-1)));
  chi-square for Cp and Pp. (Bissell's formula is derived for the overall s; for Cpk it is the
  customary approximation.)
- Stability first: capability of an unstable process predicts nothing. The data are charted
  (I chart, limits from ``limits`` or from the data) with ``stability_rules``; if any fires,
  ``on_unstable="raise"`` (default) raises :class:`ProcessNotStableError` naming rule and sample,
  ``"report"`` returns the numbers with ``stable=False``.
- Missing values are dropped (their count is reported).
- ``ppm_within``/``ppm_overall``: expected parts per million out of spec under a normal model
  (a centred Cpk of 1.33 is ~64 ppm, 1.67 ~0.6 ppm).

>>> import numpy as np
>>> r = capability(np.array([10.0, 12.0, 11.0, 13.0, 12.0]), lsl=6.0, usl=18.0)
>>> round(r.cp, 4), round(r.cpk, 4), r.sigma_within_method
(1.5045, 1.4042, 'average moving range / d2(2)')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
from scipy import stats

from workbench.spc._inputs import SPCInputError, as_dataarray, param
from workbench.spc.limits import ChartLimits, fit
from workbench.spc.rules import check_rules

STABILITY_RULES = ("nelson1_beyond_3sigma", "nelson2_9_same_side")


class ProcessNotStableError(ValueError):
    """Capability was asked for a process that is not in statistical control."""


@dataclass(frozen=True)
class Capability:
    """Capability indices with the sigmas they used (data units) and their confidence intervals."""

    n: int
    missing: int
    mean: float
    lsl: float | None
    usl: float | None
    sigma_within: float
    sigma_within_method: str
    sigma_overall: float
    sigma_overall_method: str
    cp: float
    cpk: float
    pp: float
    ppk: float
    cp_ci: tuple[float, float]
    cpk_ci: tuple[float, float]
    pp_ci: tuple[float, float]
    ppk_ci: tuple[float, float]
    ppm_within: float
    ppm_overall: float
    confidence: float
    stable: bool
    violations: tuple[tuple[str, int], ...]
    units: str | None


def _indices(mean: float, sigma: float, lsl: float | None, usl: float | None):
    pot = (usl - lsl) / (6 * sigma) if lsl is not None and usl is not None else float("nan")
    sides = [(usl - mean) / (3 * sigma)] if usl is not None else []
    sides += [(mean - lsl) / (3 * sigma)] if lsl is not None else []
    return pot, min(sides)


def _ppm(mean: float, sigma: float, lsl: float | None, usl: float | None) -> float:
    """Expected parts per million outside the spec limits under a normal model."""
    below = stats.norm.cdf((lsl - mean) / sigma) if lsl is not None else 0.0
    above = stats.norm.sf((usl - mean) / sigma) if usl is not None else 0.0
    return float(1e6 * (below + above))


def _bissell(k: float, n: int, z: float) -> tuple[float, float]:
    half = z * np.sqrt(1.0 / (9.0 * n) + k * k / (2.0 * (n - 1)))
    return (k - half, k + half)


def _chi2_ci(c: float, n: int, alpha: float) -> tuple[float, float]:
    if not np.isfinite(c):
        return (float("nan"), float("nan"))
    df = n - 1
    return (c * np.sqrt(stats.chi2.ppf(alpha / 2, df) / df),
            c * np.sqrt(stats.chi2.ppf(1 - alpha / 2, df) / df))


def _stability(x, limits: ChartLimits, rules: Iterable[str]) -> tuple[tuple[str, int], ...]:
    ds = check_rules(x, center=limits.center, sigma=limits.sigma_within, rules=tuple(rules),
                     dim=limits.dim)
    names = ds.attrs["rules"].split(",")
    return tuple((n, int(i)) for n in names for i in np.flatnonzero(ds[n].values))


def capability(x: Any, *, lsl: Any = None, usl: Any = None, limits: ChartLimits | None = None,
               dim: str = "time", confidence: float = 0.95,
               stability_rules: Iterable[str] = STABILITY_RULES,
               on_unstable: str = "raise") -> Capability:
    """Cp, Cpk, Pp, Ppk of one series (1-D along ``dim``) against its spec limits.

    ``lsl``/``usl`` are floats in the data's units or Quantities; ``limits`` (from
    :func:`workbench.spc.fit`, chart "imr") supplies sigma_within and the stability chart.
    """
    where = "workbench.spc.capability"
    if on_unstable not in ("raise", "report"):
        raise SPCInputError(f"{where}: on_unstable={on_unstable!r}; use 'raise' or 'report'")
    if not 0 < confidence < 1:
        raise SPCInputError(f"{where}: confidence={confidence}; use a fraction such as 0.95")
    da = as_dataarray(x, dim, where=where)
    if da.ndim != 1:
        raise SPCInputError(f"{where}: needs one series, got dims {da.dims}; select one (e.g. "
                            f"da.sel(lane=3)) or loop over the other dims")
    units = da.attrs.get("units")
    lo = None if lsl is None else param(lsl, units, name="lsl", where=where, difference=False)
    hi = None if usl is None else param(usl, units, name="usl", where=where, difference=False)
    if lo is None and hi is None:
        raise SPCInputError(f"{where}: give at least one spec limit (lsl=, usl=)")
    if lo is not None and hi is not None and not lo < hi:
        raise SPCInputError(f"{where}: need lsl < usl, got lsl={lo}, usl={hi}")
    values = np.asarray(da.values, dtype=float)
    valid = values[np.isfinite(values)]
    n = valid.size
    if n < 3:
        raise SPCInputError(f"{where}: {n} valid values; capability needs many more (>= 30 "
                            f"is a common minimum, 100+ for tight intervals)")
    if limits is None:
        limits = fit(da, chart="imr", dim=dim)
    elif limits.chart != "imr" or not np.ndim(limits.sigma_within) == 0:
        raise SPCInputError(f"{where}: limits must be scalar I-MR limits (fit(..., chart='imr'))")
    violations = _stability(da, limits, stability_rules)
    if violations and on_unstable == "raise":
        shown = ", ".join(f"{r} at sample {i}" for r, i in violations[:5])
        raise ProcessNotStableError(
            f"{where}: process not in statistical control ({len(violations)} rule violations: "
            f"{shown}); find and remove the special cause, or pass on_unstable='report'")
    mean, s_within, s_overall = float(valid.mean()), float(limits.sigma_within), float(valid.std(ddof=1))
    cp, cpk = _indices(mean, s_within, lo, hi)
    pp, ppk = _indices(mean, s_overall, lo, hi)
    alpha = 1.0 - confidence
    z = float(stats.norm.ppf(1 - alpha / 2))
    return Capability(
        n=n, missing=int(values.size - n), mean=mean, lsl=lo, usl=hi,
        sigma_within=s_within, sigma_within_method=limits.sigma_method, sigma_overall=s_overall,
        sigma_overall_method="sample standard deviation (n-1)", cp=cp, cpk=cpk, pp=pp, ppk=ppk,
        cp_ci=_chi2_ci(cp, n, alpha), cpk_ci=_bissell(cpk, n, z), pp_ci=_chi2_ci(pp, n, alpha),
        ppk_ci=_bissell(ppk, n, z), ppm_within=_ppm(mean, s_within, lo, hi),
        ppm_overall=_ppm(mean, s_overall, lo, hi), confidence=confidence, stable=not violations,
        violations=violations, units=units,
    )

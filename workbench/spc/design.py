"""The design of the live SPC monitors: which shift matters, which sigma, which k and h.

**Minimum shift of practical interest** (:func:`min_shift_of`). A quarter of the tolerance half-width,
unless the tag's spec sets ``min_shift``. Two standard arguments give the same fraction: a process just
capable by the usual requirement (Cpk = 1.33) has the half-width at 4 sigma; a mean shift of one sigma (a
quarter of the half-width) takes it to Cpk = 1.0, the edge of capability, where nonconforming parts start
to count (Montgomery, *Introduction to SPC*, §8.3). The six-sigma convention (half-width 6 sigma, a 1.5
sigma long-term shift tolerated) gives 1.5 / 6 = 1/4 too. A one-sided spec takes the distance from the
target, or else from the in-control centre, to its limit as the half-width. The CUSUM is designed to
detect this shift (Page's reference value k = shift / 2), and the offline change points merge smaller
ones away (``workbench.changepoints.detect(min_shift=...)``).

**The in-control state from Phase I** (:func:`phase1_statistics`, stored in an approved limit set):

- centre: the window's mean (the approved level, not the spec target: an edge lane runs heavy by design);
- ``long_run_sd``: the sigma a *sum* of n samples grows with (sqrt(n) x long_run_sd), which is what a
  CUSUM or FOCuS statistic accumulates. For white noise it is the ordinary sd; for AR(1) noise with lag-1
  correlation phi it is sigma * sqrt((1 + phi) / (1 - phi)), up to 2-4 x the short-term (within, MR-bar/d2)
  sigma that a Shewhart individuals chart uses. Standardised by the within sigma, an autocorrelated,
  quiet process alarms every few minutes; by the long-run sd it keeps the design ARL0. Estimated by
  batch means (sqrt(n) batches of sqrt(n) samples: sd of the batch means x sqrt(batch), Runger &
  Willemain 1996), which needs no noise model (AR, quantisation and wander faster than a batch all
  enter), never below the window's overall sd nor the AR(1)-adjusted MR-bar/d2 (sigma_within x
  sqrt(1 + phi) / (1 - phi)), which is steadier on a short window (100 samples: 10 batches only).
- ``level_sd``: the slow, hour-scale wander of the level (lot to lot, CD profile drift), the sd of the
  means of 16 blocks of the window less the noise's share (long_run_sd^2 / block length). A CUSUM adds up
  every sustained offset beyond its reference value, whatever sigma scales it, so this common-cause
  wander is not noise to standardise by but an *acceptable band* of levels (Wheeler's between-subgroup
  component; the acceptable process level of an acceptance control chart): a = 3 x level_sd.

**CUSUM design** (:func:`design_cusum`). The reference value K sits midway between the acceptable level
a and the rejectable level, the minimum shift delta (ISO 7870-4: reference value midway between the
acceptable and the rejectable level), K = (a + delta) / 2, which is
Page's delta / 2 when the level does not wander. If the wander is as large as delta (a >= delta) the
chart cannot tell them apart: K = a, and :attr:`CusumDesign.note` says so (the shifts it detects are
then larger than delta: reduce the wander, or accept it). The decision interval H = h x long_run_sd, h
for the design in-control ARL0 (:data:`ARL0` samples, :func:`workbench.spc.arl.cusum_h_for_arl0` at k =
K / long_run_sd). Each value enters winsorised at centre +- :data:`WINSOR` long-run sd (a robust CUSUM,
Lucas & Crosier 1982): one gross outlier (a cold weld at 2 x the median resistance) adds at most 4 sigma,
less than H, so isolated outliers are left to the limit and Shewhart alarms, sustained shifts still add up.

>>> from workbench.config import SpecLimits
>>> min_shift_of(SpecLimits(lsl=16.86, target=17.2, usl=17.54))
0.085
>>> d = design_cusum(center=17.2, long_run_sd=0.09, level_sd=0.0, min_shift=0.085)
>>> round(d.k, 3), round(d.reference, 4), d.arl0
(0.472, 0.0425, 20000.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TOLERANCE_FRACTION = 0.25  # min shift = this x the tolerance half-width (see module doc)
ARL0 = 20_000.0  # design in-control ARL per tag, samples: 24 lanes at one scan / 15 s -> ~1 false alarm / 3.5 h line-wide
WINSOR = 4.0  # each value enters the CUSUM clipped at centre +- this many long-run sd
LEVEL_Z = 3.0  # acceptable band of the level's own wander: +- this many level sd (Shewhart's 3 sigma)
MIN_H = 0.5  # decision interval floor, long-run sd (a reference many sigma out needs almost none for ARL0)
LEVEL_BLOCKS = 16  # blocks of the Phase I window whose means measure the level's wander

__all__ = [
    "ARL0",
    "TOLERANCE_FRACTION",
    "WINSOR",
    "CusumDesign",
    "design_cusum",
    "min_shift_of",
    "phase1_statistics",
]


def min_shift_of(spec, centre: float | None = None) -> float | None:
    """The minimum shift of practical interest of a tag (or its :class:`~workbench.config.SpecLimits`).

    ``spec.min_shift`` if set, else :data:`TOLERANCE_FRACTION` of the tolerance half-width (one-sided:
    target, or else ``centre``, to the limit). None when the tag has no spec, or a one-sided spec with
    neither target nor centre.
    """
    spec = getattr(spec, "spec", spec)
    if spec is None:
        return None
    if spec.min_shift is not None:
        return float(spec.min_shift)
    if spec.lsl is not None and spec.usl is not None:
        half = (spec.usl - spec.lsl) / 2.0
    else:
        middle = spec.target if spec.target is not None else centre
        if middle is None or not math.isfinite(middle):
            return None
        half = abs((spec.usl if spec.usl is not None else spec.lsl) - middle)
    return round(TOLERANCE_FRACTION * half, 12) if half > 0 else None


def phase1_statistics(values) -> dict:
    """Centre, long-run sd and level wander sd of a Phase I window (finite values in time order)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = v.size
    if n < 2 * LEVEL_BLOCKS:
        raise ValueError(f"Phase I needs at least {2 * LEVEL_BLOCKS} valid samples for its long-run and level "
                         f"sigma, got {n}; choose a longer window")
    b = max(2, round(math.sqrt(n)))  # batch means: sqrt(n) batches of sqrt(n) samples (Runger & Willemain)
    batches = v[: (n // b) * b].reshape(-1, b).mean(axis=1)
    d = v - v.mean()
    phi = float(np.dot(d[1:], d[:-1]) / np.dot(d, d)) if np.dot(d, d) > 0 else 0.0
    phi = min(phi, 0.9) if phi > 2.0 / math.sqrt(n) else 0.0  # significant lag-1 correlation only
    ar1 = float(np.mean(np.abs(np.diff(v)))) / 1.128 * math.sqrt(1.0 + phi) / (1.0 - phi)  # MR-bar/d2, AR(1)
    lr = max(float(np.std(batches, ddof=1)) * math.sqrt(b), ar1, float(np.std(v, ddof=1)))
    if not lr > 0:
        raise ValueError("Phase I window has no variation; choose a window with the process running")
    bl = n // LEVEL_BLOCKS
    means = v[: bl * LEVEL_BLOCKS].reshape(LEVEL_BLOCKS, bl).mean(axis=1)
    level = math.sqrt(max(float(np.var(means, ddof=1)) - lr * lr / bl, 0.0))
    return {"center": float(v.mean()), "long_run_sd": lr, "level_sd": level, "samples": int(n)}


@dataclass(frozen=True)
class CusumDesign:
    """A CUSUM designed from Phase I and the minimum shift (data units except k, h: long-run sd units)."""

    center: float
    sigma: float  # long-run sd: the CUSUM's and FOCuS's yardstick
    min_shift: float | None
    allowance: float  # acceptable band of the level's own wander (a)
    reference: float  # K, data units
    k: float
    h: float
    arl0: float
    note: str

    @property
    def decision_interval(self) -> float:
        return self.h * self.sigma

    def clip(self, value: float) -> float:
        """The value as the CUSUM takes it: winsorised at centre +- WINSOR sigma."""
        lim = WINSOR * self.sigma
        return min(max(value, self.center - lim), self.center + lim)


def design_cusum(*, center: float, long_run_sd: float, level_sd: float = 0.0, min_shift: float | None,
                 arl0: float = ARL0) -> CusumDesign:
    """K from the minimum shift and the level's wander, h for ``arl0`` (see module doc)."""
    from workbench.spc.arl import cusum_h_for_arl0

    if not (long_run_sd > 0 and math.isfinite(long_run_sd)):
        raise ValueError(f"design_cusum: long_run_sd must be a positive number, got {long_run_sd!r}")
    a = LEVEL_Z * max(float(level_sd), 0.0)
    if min_shift is None:
        ref, note = max(0.5 * long_run_sd, a), "no spec: reference 0.5 long-run sd (textbook k = 0.5)"
    elif a >= min_shift:
        ref = a
        note = (f"the level's own wander (+-{a:.3g}) is as large as the minimum shift {min_shift:.3g}: the "
                f"chart alarms beyond the wander only")
    else:
        ref, note = 0.5 * (a + min_shift), ""
    k = ref / long_run_sd
    try:
        h = cusum_h_for_arl0(k, arl0)
    except ValueError:  # K many sigma out: even h -> 0 gives more than arl0; half a sigma keeps it a sum
        h = MIN_H
    return CusumDesign(center=float(center), sigma=float(long_run_sd), min_shift=min_shift, allowance=a,
                       reference=ref, k=k, h=max(h, MIN_H), arl0=float(arl0), note=note)

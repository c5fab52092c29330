"""Online monitors of one tag, one sample at a time: pure state machines the live store runs on every
good reading (no I/O, no clock: every update takes the sample's own time).

* :class:`LimitDetector`: the alarm limits of the line config (low_low/low/high/high_high) with a deadband.
* :class:`SpcMonitor`: in-control state from the approved limit set (or a provisional Phase I), then a
  CUSUM alarm and FOCuS change points (:mod:`workbench.spc.streaming`), designed in :mod:`workbench.spc.design`.
* :class:`ChangePoint`: a shift found online (where it began, when it was signalled, its size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from workbench.config import Tag
from workbench.spc.design import ARL0, design_cusum, min_shift_of, phase1_statistics
from workbench.spc.streaming import StreamingCusum, StreamingFocus


@dataclass
class ChangePoint:
    """A shift found online by the FOCuS detector: where it began (``since``) and when it was signalled."""

    tag: str
    station: str
    since: datetime
    signalled_at: datetime
    shift: float
    units: str


class LimitDetector:
    """Alarm limits (low_low/low/high/high_high) from the line config, with a deadband against chatter.

    ``update(value)`` -> {kind: active?} for every configured limit; the deadband is two instrument
    resolutions (a limit, once crossed, clears only that far back inside).

    >>> from workbench.config import Tag
    >>> d = LimitDetector(Tag(path="p/a/l/s/x", units="degC", resolution=0.1, alarm={"high": -40.0}))
    >>> d.update(-39.9), d.update(-40.1), d.update(-40.3)
    ({'high': True}, {'high': True}, {'high': False})
    """

    ORDER = (("high_high", "high", "high"), ("high", "high", "medium"),
             ("low", "low", "medium"), ("low_low", "low", "high"))

    def __init__(self, tag: Tag):
        self.tag = tag
        self.deadband = 2.0 * tag.resolution if tag.resolution else 0.0
        self.state: dict[str, bool] = {}

    def limits(self) -> list[tuple[str, float, str, str]]:
        """(kind, limit, side, priority) of every configured limit."""
        lim = self.tag.alarm
        out = []
        for kind, side, prio in self.ORDER:
            v = getattr(lim, kind) if lim else None
            if v is not None:
                out.append((kind, v, side, prio))
        return out

    def update(self, value: float) -> dict[str, bool]:
        if not math.isfinite(value):
            return dict(self.state)
        for kind, limit, side, _ in self.limits():
            was = self.state.get(kind, False)
            if side == "high":
                now = value > limit if not was else value > limit - self.deadband
            else:
                now = value < limit if not was else value < limit + self.deadband
            self.state[kind] = now
        return dict(self.state)


def focus_shift(result: dict) -> float:
    """The estimated shift (data units) in a StreamingFocus result (key 'mean_shift'; 'shift' in early versions)."""
    return float(result["mean_shift"] if "mean_shift" in result else result["shift"])


class SpcMonitor:
    """Streaming SPC on one tag with spec limits: a CUSUM alarm and FOCuS change points, designed from SPC
    principles (:mod:`workbench.spc.design`: the module doc discusses each choice).

    In-control state: the approved limit set in force (``limit_set``, :mod:`workbench.spc.limitsets`:
    Phase I on a chosen history window, its centre, long-run sd and level wander); without one, a
    provisional Phase I from the first ``warmup`` good samples (``provisional`` is True; approve a set).

    - yardstick: the long-run sd (what a sum of n samples grows with), not MR-bar/d2: on autocorrelated
      data the within sigma understates it 2-4 x and the chart cries wolf;
    - CUSUM: reference K midway between the level's own wander (3 level sd) and the tag's minimum shift of
      practical interest (:func:`~workbench.spc.design.min_shift_of`: spec.min_shift, or a quarter of the
      tolerance half-width), h for the design ARL0 (:data:`~workbench.spc.design.ARL0` samples), values
      winsorised at +- 4 long-run sd so one outlier cannot alarm it;
    - FOCuS: the same centre and yardstick; a change it finds is listed only if its estimated shift is at
      least the minimum shift (smaller ones re-centre it silently, counted in ``merged_changes``). The
      threshold is above the SPC default (6.08, ARL0 ~ 490 samples) because a line screen watches dozens of
      lanes at once.
    """

    ARL0 = ARL0

    def __init__(self, tag: Tag, warmup: int = 100, focus_threshold: float = 9.0, settle: int = 20,
                 limit_set=None):
        self.tag, self.warmup, self.focus_threshold, self.settle = tag, max(int(warmup), 32), focus_threshold, settle
        self._settling: list[float] | None = None
        self._seed: list[float] = []
        self.cusum = self.focus = self.design = None
        self.sigma = self.target = self.level = self.min_shift = None
        self.limit_set, self.provisional, self.merged_changes = limit_set, limit_set is None, 0
        if limit_set is not None:
            lim = limit_set.limits
            lr = lim.get("long_run_sd")
            if lr is None or not np.isfinite(lr):  # a set fitted before the design was stored: its overall sd
                lr = lim.get("overall_sd") if np.isfinite(lim.get("overall_sd", np.nan)) else lim["sigma_within"]
            self._start(float(limit_set.center), float(lr), float(lim.get("level_sd", 0.0) or 0.0))

    def _start(self, center: float, long_run_sd: float, level_sd: float) -> None:
        self.min_shift = min_shift_of(self.tag, center)
        sigma = max(long_run_sd, self.tag.resolution or 1e-9)
        self.design = design_cusum(center=center, long_run_sd=sigma, level_sd=level_sd, min_shift=self.min_shift)
        self.sigma, self.target = sigma, center
        self.cusum = StreamingCusum(target=center, sigma=sigma, k=self.design.k, h=self.design.h,
                                    reset_on_alarm=False)
        self.level = center
        self.focus = self._new_focus(self.level)

    def _start_from_seed(self) -> None:
        try:
            p = phase1_statistics(self._seed)
        except ValueError:  # no variation in the seed (a quantised, quiet tag): one resolution step
            p = {"center": float(np.mean(self._seed)), "long_run_sd": self.tag.resolution or 1e-9, "level_sd": 0.0}
        self._start(p["center"], p["long_run_sd"], p["level_sd"])

    def _new_focus(self, level: float) -> StreamingFocus:
        return StreamingFocus(target=level, sigma=self.sigma, threshold=self.focus_threshold, reset_on_alarm=True)

    def back_inside(self, cusum: dict) -> bool:
        """The CUSUM statistics are back well inside (half the decision interval): its alarm may clear."""
        return max(cusum["upper"], cusum["lower"]) < 0.5 * self.design.decision_interval

    def update(self, value: float, t: datetime) -> tuple[dict | None, dict | None]:
        """Feed one sample; returns (cusum result, focus result), both None during a provisional warm-up."""
        if not math.isfinite(value):
            return None, None
        if self.cusum is None:
            self._seed.append(value)
            if len(self._seed) < self.warmup:
                return None, None
            self._start_from_seed()
        ts = t.astimezone(timezone.utc).replace(tzinfo=None)
        cus = self.cusum.update(self.design.clip(value), ts)
        if self._settling is not None:
            # after a change point, learn the new level from `settle` samples before looking again
            self._settling.append(value)
            if len(self._settling) >= self.settle:
                self.level = float(np.mean(self._settling))
                self._settling = None
                self.focus = self._new_focus(self.level)
            return cus, None
        foc = self.focus.update(value, ts)
        if foc["alarm"]:
            self._settling = []
            if self.min_shift is not None and abs(focus_shift(foc)) < self.min_shift:
                self.merged_changes += 1  # statistically real, smaller than the shift that matters
                foc = {**foc, "alarm": False, "below_min_shift": True}
        return cus, foc


def autocorrelation_factor(seed) -> float:
    """What MR-bar/d2 must be multiplied by to give the long-run sd of AR(1)-like noise (1 for white noise).

    Real instruments' noise is autocorrelated (a scanning gauge scan to scan, a hygrometer's 10 s samples):
    with lag-1 correlation phi, MR-bar/d2 estimates sigma*sqrt(1 - phi), while a CUSUM or FOCuS sum of n
    samples varies as n*sigma^2*(1 + phi)/(1 - phi). Standardised by MR-bar/d2 they cry wolf every few
    minutes on a quiet line; by the long-run sd they keep their in-control ARL. phi is the Phase I lag-1
    autocorrelation, used only when significant (> 2/sqrt(n)) and capped at 0.9.

    >>> import numpy as np
    >>> round(autocorrelation_factor(np.random.default_rng(0).standard_normal(200)), 2)   # white: unchanged
    1.0
    """
    x = np.asarray(seed, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 10 or not np.std(x) > 0:
        return 1.0
    d = x - x.mean()
    phi = float(np.dot(d[1:], d[:-1]) / np.dot(d, d))
    if phi <= 2.0 / math.sqrt(x.size):
        return 1.0
    phi = min(phi, 0.9)
    return math.sqrt(1.0 + phi) / (1.0 - phi)


__all__ = ["ChangePoint", "LimitDetector", "SpcMonitor", "focus_shift", "autocorrelation_factor"]

"""Online monitors of one tag, one sample at a time: pure state machines the live store runs on every
good reading (no I/O, no clock: every update takes the sample's own time).

* :class:`LimitDetector`: the alarm limits of the line config (low_low/low/high/high_high) with a deadband.
* :class:`SpcMonitor`: Phase I from the first samples, then a CUSUM alarm and FOCuS change points
  (:mod:`workbench.spc.streaming`).
* :class:`ChangePoint`: a shift found online (where it began, when it was signalled, its size).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import xarray as xr

from workbench.config import Tag
from workbench.spc.limits import fit
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
    """Streaming SPC on one tag with spec limits: a CUSUM alarm and FOCuS change points.

    The FOCuS threshold is above the SPC default (6.08, ARL0 ~ 490 samples) because a line screen watches
    dozens of lanes at once: a change point there must be credible, not one false call per lane-hour.

    Phase I: the first ``warmup`` good samples estimate sigma from the average moving range (MR-bar/d2),
    scaled to the long-run sd when they are autocorrelated (:func:`autocorrelation_factor`), and, where the
    spec gives no target, the mean; then :class:`workbench.spc.streaming.StreamingCusum`
    and :class:`~workbench.spc.streaming.StreamingFocus` take every sample.
    """

    # CUSUM k = 0.5 sigma with h for an in-control ARL of ~20,000 samples per tag: a line screen watches
    # dozens of tags, and the textbook h = 5 (ARL0 465) would alarm every few minutes across 24 lanes.
    # h from workbench.spc.arl.cusum_h_for_arl0(0.5, 20000) = 8.746; tests check cusum_arl(0.5, 8.75) >= 20000.
    CUSUM_K, CUSUM_H = 0.5, 8.75

    def __init__(self, tag: Tag, warmup: int = 100, focus_threshold: float = 9.0, settle: int = 20):
        self.tag, self.warmup, self.focus_threshold, self.settle = tag, warmup, focus_threshold, settle
        self._settling: list[float] | None = None
        self._seed: list[float] = []
        self.cusum = self.focus = None
        self.sigma = self.target = self.level = None

    def _start(self) -> None:
        with warnings.catch_warnings():  # a quantised seed below one step is floored at it (below, as always)
            warnings.simplefilter("ignore", UserWarning)
            limits = fit(xr.DataArray(np.asarray(self._seed), dims="time"), chart="imr",
                         resolution=self.tag.resolution or 1e-9)  # Phase I: MR-bar/d2
        self.sigma = max(float(limits.sigma_within) * autocorrelation_factor(self._seed), self.tag.resolution or 1e-9)
        spec = self.tag.spec
        self.target = spec.target if spec and spec.target is not None else float(limits.center)
        self.cusum = StreamingCusum(target=self.target, sigma=self.sigma, k=self.CUSUM_K, h=self.CUSUM_H,
                                    reset_on_alarm=False)
        self.level = self.target
        self.focus = self._new_focus(self.level)

    def _new_focus(self, level: float) -> StreamingFocus:
        return StreamingFocus(target=level, sigma=self.sigma, threshold=self.focus_threshold, reset_on_alarm=True)

    def back_inside(self, cusum: dict) -> bool:
        """The CUSUM statistics are back well inside (half the decision interval): its alarm may clear."""
        return max(cusum["upper"], cusum["lower"]) < 0.5 * self.CUSUM_H * self.sigma

    def update(self, value: float, t: datetime) -> tuple[dict | None, dict | None]:
        """Feed one sample; returns (cusum result, focus result), both None during the warm-up."""
        if not math.isfinite(value):
            return None, None
        if self.cusum is None:
            self._seed.append(value)
            if len(self._seed) < self.warmup:
                return None, None
            self._start()
        ts = t.astimezone(timezone.utc).replace(tzinfo=None)
        cus = self.cusum.update(value, ts)
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

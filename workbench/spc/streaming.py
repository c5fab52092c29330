"""Streaming detectors for the live dashboard: ``update(value, timestamp)`` one sample at a time.

Each object runs the same numba step as its vectorised twin in :mod:`workbench.spc.detectors`,
so on the same data it returns bit-identical statistics and alarms (tested), with the same
missing-value, gap and reset policy. ``update`` returns a dict keyed like the vectorised Dataset's
variables, plus ``time``.

>>> import pandas as pd
>>> c = StreamingCusum(target=45.0, sigma=1.0, units="uohm", h=4.0)
>>> [c.update(v, pd.Timestamp("2026-01-05 06:00") + pd.Timedelta(seconds=i))["alarm"]
...  for i, v in enumerate([45.0, 48.0, 48.0])]
[False, False, True]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pint

from workbench.spc import _kernels as K
from workbench.spc._inputs import SPCInputError, param, positive
from workbench.spc.detectors import FOCUS_THRESHOLD


def _ns(timestamp: Any, where: str) -> int:
    try:
        ts = pd.Timestamp(timestamp)
    except (TypeError, ValueError):
        raise SPCInputError(f"{where}: timestamp {timestamp!r} is not a date/time") from None
    if ts is pd.NaT:
        raise SPCInputError(f"{where}: timestamp is NaT; pass the sample's source timestamp")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.value)


class _Streaming:
    """Shared bookkeeping: units of values, time order, and the gap rule."""

    _where = "workbench.spc.streaming"

    def __init__(self, target: Any, sigma: Any, units: str | None, max_gap: Any) -> None:
        self.units = units
        self.target = param(target, units, name="target", where=self._where, difference=False)
        self.sigma = param(sigma, units, name="sigma", where=self._where, difference=True)
        positive(self.sigma, "sigma", self._where)
        self.max_gap = -1 if max_gap is None else int(pd.Timedelta(max_gap).value)
        if max_gap is not None and self.max_gap <= 0:
            raise SPCInputError(f"{self._where}: max_gap must be a positive duration, got {max_gap!r}")
        self._last_seen: int | None = None  # last timestamp of any update (order check)
        self._last_t = np.int64(0)  # last timestamp of a *valid* sample (gap rule)
        self._have = False

    def _value(self, value: Any) -> float:
        if isinstance(value, pint.Quantity):
            return param(value, self.units, name="value", where=self._where, difference=False)
        if value is None:
            return float("nan")
        return float(value)

    def _time(self, timestamp: Any) -> int:
        t = _ns(timestamp, self._where)
        if self._last_seen is not None and t < self._last_seen:
            raise SPCInputError(
                f"{self._where}: timestamp {pd.Timestamp(t)} is earlier than the previous sample "
                f"{pd.Timestamp(self._last_seen)}; feed samples in time order")
        self._last_seen = t
        return t


class StreamingCusum(_Streaming):
    """Two-sided tabular CUSUM, one sample at a time (twin of :func:`workbench.spc.cusum`)."""

    def __init__(self, *, target: Any, sigma: Any, k: float = 0.5, h: float = 5.0,
                 units: str | None = None, max_gap: Any = None, reset_on_alarm: bool = False):
        super().__init__(target, sigma, units, max_gap)
        if not (k >= 0 and h > 0):
            raise SPCInputError(f"{self._where}: need k >= 0 and h > 0 (got k={k}, h={h})")
        self.ref, self.dec = self.sigma * float(k), self.sigma * float(h)
        self.reset_on_alarm = bool(reset_on_alarm)
        self.upper = self.lower = 0.0

    def update(self, value: Any, timestamp: Any) -> dict:
        """Feed one sample; returns upper, lower, alarm, alarm_upper, alarm_lower, missing, restart."""
        t = self._time(timestamp)
        (self.upper, self.lower, self._last_t, self._have, up, lo, a_up, a_lo, miss,
         rst) = K.cusum_update(self._value(value), np.int64(t), self.upper, self.lower,
                               np.int64(self._last_t), self._have, self.target, self.ref, self.dec,
                               self.max_gap, self.reset_on_alarm)
        return {"time": pd.Timestamp(t), "upper": up, "lower": lo, "alarm": a_up or a_lo,
                "alarm_upper": a_up, "alarm_lower": a_lo, "missing": miss, "restart": rst}


class StreamingEwma(_Streaming):
    """EWMA chart, one sample at a time (twin of :func:`workbench.spc.ewma`)."""

    def __init__(self, *, target: Any, sigma: Any, lam: float = 0.2, L: float = 2.86,
                 limits: str = "asymptotic", units: str | None = None, max_gap: Any = None,
                 reset_on_alarm: bool = False):
        super().__init__(target, sigma, units, max_gap)
        if not (0 < lam <= 1 and L > 0) or limits not in ("asymptotic", "exact"):
            raise SPCInputError(f"{self._where}: need 0 < lam <= 1, L > 0, limits 'asymptotic' or "
                                f"'exact' (got lam={lam}, L={L}, limits={limits!r})")
        self.lam, self.L, self.exact = float(lam), float(L), limits == "exact"
        self.reset_on_alarm = bool(reset_on_alarm)
        self.z, self.count = self.target, 0

    def update(self, value: Any, timestamp: Any) -> dict:
        """Feed one sample; returns ewma, ucl, lcl, alarm, missing, restart."""
        t = self._time(timestamp)
        (self.z, self.count, self._last_t, self._have, z, hw, alarm, miss,
         rst) = K.ewma_update(self._value(value), np.int64(t), self.z, self.count,
                              np.int64(self._last_t), self._have, self.target, self.sigma,
                              self.lam, self.L, self.exact, self.max_gap, self.reset_on_alarm)
        return {"time": pd.Timestamp(t), "ewma": z, "target": self.target, "ucl": self.target + hw,
                "lcl": self.target - hw, "alarm": alarm, "missing": miss, "restart": rst}


class StreamingShewhart(_Streaming):
    """Shewhart individuals chart, one sample at a time (twin of :func:`workbench.spc.shewhart`)."""

    def __init__(self, *, target: Any, sigma: Any, L: float = 3.0, units: str | None = None):
        super().__init__(target, sigma, units, None)
        if not L > 0:
            raise SPCInputError(f"{self._where}: L must be > 0, got {L}")
        self.L = float(L)

    def update(self, value: Any, timestamp: Any) -> dict:
        """Feed one sample; returns value, alarm, alarm_upper, alarm_lower, missing."""
        t = self._time(timestamp)
        x = self._value(value)
        a_up, a_lo, miss = K.shewhart_update(x, self.target, self.sigma, self.L)
        return {"time": pd.Timestamp(t), "value": x, "center": self.target, "alarm": a_up or a_lo,
                "alarm_upper": a_up,
                "alarm_lower": a_lo, "missing": miss}


class StreamingFocus(_Streaming):
    """FOCuS / GLR detector for shifts of unknown size (twin of :func:`workbench.spc.focus`)."""

    def __init__(self, *, target: Any, sigma: Any, threshold: float = FOCUS_THRESHOLD,
                 units: str | None = None, max_gap: Any = None, reset_on_alarm: bool = False):
        super().__init__(target, sigma, units, max_gap)
        if not threshold > 0:
            raise SPCInputError(f"{self._where}: threshold must be > 0, got {threshold}")
        self.threshold = float(threshold)
        self.reset_on_alarm = bool(reset_on_alarm)
        self._ist = np.zeros(6, dtype=np.int64)
        self._fst = np.zeros(3)
        self._hulls = [np.zeros(64, dtype=np.int64), np.zeros(64), np.zeros(64, dtype=np.int64),
                       np.zeros(64)]
        K.focus_reset(self._ist, self._fst, *self._hulls)

    def _room(self) -> None:
        # a hull holds at most n + 1 points; it is O(log n) in practice, so growth is rare
        need = max(int(self._ist[1]), int(self._ist[2])) + 2
        if need > len(self._hulls[0]):
            self._hulls = [np.concatenate([a, np.zeros_like(a)]) for a in self._hulls]

    def update(self, value: Any, timestamp: Any) -> dict:
        """Feed one sample; returns statistic, mean_shift, since, alarm, missing, restart."""
        t = self._time(timestamp)
        self._room()
        stat, shift, since, alarm, miss, rst = K.focus_step(
            self._value(value), np.int64(t), self._ist, self._fst, *self._hulls, self.target,
            self.sigma, self.threshold, self.max_gap, self.reset_on_alarm)
        return {"time": pd.Timestamp(t), "statistic": stat, "mean_shift": shift, "since": int(since),
                "alarm": alarm, "missing": miss, "restart": rst}

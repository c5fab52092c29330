"""Setpoint dynamics: a written setpoint reaches the process after a dead time, then as a first-order lag.

A :class:`SetpointSchedule` keeps the writes (time, value) of one setpoint. The process value is

    y(t) = y0 + Σ_i Δ_i · g(t − t_i),   g(s) = 0 for s < θ,   1 − exp(−(s − θ)/τ) otherwise,

a pure function of time, so the batch history and the live clock agree at every timestamp and a
write never changes anything before it (causal). Times are seconds since the line's epoch.

Example
-------
>>> s = SetpointSchedule(100.0, Lag(dead_time_s=5, tau_s=10))
>>> s.write(0.0, 110.0)
110.0
>>> [round(float(v), 3) for v in s.response([4.0, 15.0, 1000.0])]
[100.0, 106.321, 110.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Lag:
    """Dead time θ (s) then a first-order lag with time constant τ (s)."""

    dead_time_s: float
    tau_s: float

    def step(self, s: np.ndarray) -> np.ndarray:
        """Unit step response g(s) at ``s`` seconds after the write."""
        s = np.asarray(s, dtype=np.float64) - self.dead_time_s
        return np.where(s > 0, -np.expm1(-np.maximum(s, 0) / self.tau_s), 0.0)

    def step_integral(self, s: np.ndarray) -> np.ndarray:
        """∫₀ˢ g(u) du (seconds): used for web position, the integral of line speed."""
        s = np.maximum(np.asarray(s, dtype=np.float64) - self.dead_time_s, 0.0)
        return s + self.tau_s * np.expm1(-s / self.tau_s)


class SetpointSchedule:
    """The writes of one setpoint and the process value that follows them."""

    def __init__(self, initial: float, lag: Lag):
        self.initial = float(initial)
        self.lag = lag
        self._times: list[float] = []
        self._values: list[float] = []

    def write(self, t_s: float, value: float) -> float:
        """Record a write of ``value`` at ``t_s`` seconds; returns the value applied."""
        i = int(np.searchsorted(self._times, t_s, side="right"))
        self._times.insert(i, float(t_s))
        self._values.insert(i, float(value))
        return float(value)

    @property
    def writes(self) -> list[tuple[float, float]]:
        return list(zip(self._times, self._values))

    def _steps(self):
        vals = np.asarray([self.initial] + self._values)
        return np.asarray(self._times), np.diff(vals)

    def setpoint(self, t_s) -> np.ndarray:
        """The setpoint in force at ``t_s`` (a step function of time)."""
        t = np.asarray(t_s, dtype=np.float64)
        out = np.full(t.shape, self.initial)
        for ti, d in zip(*self._steps()):
            out = out + np.where(t >= ti, d, 0.0)
        return out

    def response(self, t_s) -> np.ndarray:
        """The process value (no noise) at ``t_s``: dead time + first-order lag after each write."""
        t = np.asarray(t_s, dtype=np.float64)
        out = np.full(t.shape, self.initial)
        for ti, d in zip(*self._steps()):
            out = out + d * self.lag.step(t - ti)
        return out

    def integral(self, t_s) -> np.ndarray:
        """∫₀ᵗ response(u) du in value·seconds (negative for t < 0, where the value was the initial one)."""
        t = np.asarray(t_s, dtype=np.float64)
        out = self.initial * t
        for ti, d in zip(*self._steps()):
            out = out + d * self.lag.step_integral(t - ti)
        return out

    def copy(self) -> "SetpointSchedule":
        new = SetpointSchedule(self.initial, self.lag)
        new._times, new._values = list(self._times), list(self._values)
        return new

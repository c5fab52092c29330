"""Laser tab welder: two tab welds per cell, per-weld four-wire resistance and pulse energy.

Energy at the workpiece E = P_laser · t_pulse · T_window (T_window falls when spatter contaminates
the protective window). Less energy, less fused area, higher resistance:

    R = R0_tab · (E_nom / E)^2.2 · lognormal(σ = 3.5 %)   (+ rare cold joints, +25…80 µΩ)

R0 ≈ 45 µΩ for a good weld of a Cu foil stack (DOMAIN.md). Welds happen on a fixed takt: cell n's
positive tab at ``start_s + n·cell_takt_s``, its negative tab half a takt later. The line is warm:
welds (and cells) before the line's start have negative numbers internally; ids stay positive.

>>> from workbench.simulate import virtual_line
>>> w = virtual_line(seed=0, events=None).welder
>>> v = w.welds(range(2000))
>>> 43 < float(np.median(v["weld_resistance"])) < 47
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import rng
from ._ids import ids
from .dynamics import SetpointSchedule


@dataclass(frozen=True)
class WelderParams:
    start_s: int = 0                   # phase of the takt (s since the line's start)
    cell_takt_s: int = 40
    tabs: tuple = ("pos", "neg")
    r0_uohm: tuple = (44.0, 45.0)
    exponent: float = 2.2
    sigma_log: float = 0.035
    cold_joint_p: float = 0.003
    cold_joint_uohm: tuple = (25.0, 80.0)
    laser_power_w: float = 2500.0
    pulse_s: float = 0.008
    window_transmission: float = 0.97
    energy_sigma: float = 0.006
    power_sigma: float = 0.002
    first_cell: int = 1_000_000        # cell ids VC1000000, VC1000001, ... from the line's start

    @property
    def weld_period_s(self) -> int:
        return self.cell_takt_s // len(self.tabs)

    @property
    def nominal_energy_j(self) -> float:
        return self.laser_power_w * self.pulse_s * self.window_transmission


class Welder:
    """Welder state: seed, parameters, the laser-power setpoint schedule and events."""

    def __init__(self, seed: int, params: WelderParams, power: SetpointSchedule, events,
                 resolution: dict | None = None):
        self.seed, self.p, self.power, self.events = seed, params, power, events
        self.resolution = {"weld_resistance": 0.1, "laser_energy": 0.01, "laser_power": 1.0, **(resolution or {})}

    def _k(self, *names) -> np.uint64:
        return rng.stream_key(self.seed, "welding", *names)

    def weld_time(self, i) -> np.ndarray:
        """Time (whole s since epoch) of weld ``i``."""
        return self.p.start_s + np.asarray(i, dtype=np.int64) * self.p.weld_period_s

    def welds_between(self, t0_s: float, t1_s: float) -> np.ndarray:
        lo = int(np.ceil((t0_s - self.p.start_s) / self.p.weld_period_s))
        hi = int(np.ceil((t1_s - self.p.start_s) / self.p.weld_period_s))
        return np.arange(lo, max(lo, hi), dtype=np.int64)

    def last_weld(self, t_s: float) -> int:
        """Index of the last weld at or before ``t_s`` (negative before the line's start)."""
        return int(np.floor((t_s - self.p.start_s) / self.p.weld_period_s))

    def cell_id(self, n) -> np.ndarray:
        return ids("VC", np.asarray(n) + self.p.first_cell, 7)

    def transmission(self, t_s) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)
        tr = np.full(t.shape, self.p.window_transmission)
        for e in self.events("laser_window_contamination", t):
            tr = tr * (1 + e.magnitude / 100 * e.ramp(t))
        return tr

    def laser_power(self, sec) -> np.ndarray:
        """Measured laser power (W) at whole seconds."""
        sec = np.asarray(sec, dtype=np.int64)
        noise = rng.ar1(self._k("power"), sec, phi=0.5, sigma=self.p.power_sigma)
        return rng.quantise(self.power.response(sec.astype(np.float64)) * (1 + noise), self.resolution["laser_power"])

    def welds(self, i) -> dict:
        """Weld records for weld indices ``i``: time, cell, tab, energy (J), resistance (µΩ), power (W)."""
        i = np.atleast_1d(np.asarray(i, dtype=np.int64))
        t = self.weld_time(i).astype(np.float64)
        n_tabs = len(self.p.tabs)
        tab = i % n_tabs
        power_true = self.power.response(t)
        energy = power_true * self.p.pulse_s * self.transmission(t) * (
            1 + self.p.energy_sigma * rng.normal(self._k("energy"), i))
        r0 = np.asarray(self.p.r0_uohm)[tab]
        r = r0 * (self.p.nominal_energy_j / energy) ** self.p.exponent * np.exp(
            self.p.sigma_log * rng.normal(self._k("resistance"), i))
        cold = rng.uniform(self._k("cold"), i) < self.p.cold_joint_p
        lo, hi = self.p.cold_joint_uohm
        r = r + np.where(cold, lo + (hi - lo) * rng.uniform(self._k("cold_size"), i), 0.0)
        return dict(
            t=t, cell=i // n_tabs, tab=np.asarray(self.p.tabs)[tab],
            weld_resistance=rng.quantise(r, self.resolution["weld_resistance"]),
            laser_energy=rng.quantise(energy, self.resolution["laser_energy"]),
            laser_power=self.laser_power(t.astype(np.int64)), laser_power_setpoint=self.power.setpoint(t),
            cold_joint=cold,
        )

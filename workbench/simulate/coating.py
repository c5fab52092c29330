"""Slot-die coater with a scanning areal-mass gauge, slurry lots and mother rolls.

Physics (DOMAIN.md): slot-die coating is pre-metered, so the dry areal mass laid down is

    m_A = w_s · ṁ_pump / (W · U)        [g/m²; /10 for mg/cm²]

(w_s solids mass fraction, ṁ_pump slurry mass flow, W coated width, U web speed), shaped across the
web by a cross-direction profile with heavy edges (normalised to mean 1, so the lanes' mean obeys
the mass balance exactly). The gauge sits ``path_m`` downstream of the die (after the dryer): the scan
at time t sees material coated at τ = t − d, with d the web transport delay. All functions take
seconds since the line's epoch. Everything is per side, coating only.

>>> from workbench.simulate import virtual_line
>>> c = virtual_line(seed=0, events=None).coater
>>> p = c.p   # nominal pump rate (g/min) and its mass-balance weight (mg/cm², per side)
>>> p.pump_rate_g_min, round(p.solids_fraction * p.pump_rate_g_min / (p.coated_width_m * p.line_speed_m_min) / 10, 2)
(2911, 17.2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import rng
from ._ids import ids
from .dynamics import SetpointSchedule


@dataclass(frozen=True)
class CoaterParams:
    n_lanes: int = 24
    coated_width_m: float = 0.55
    line_speed_m_min: float = 20.0
    solids_fraction: float = 0.65
    target_mg_cm2: float = 17.2
    scan_period_s: int = 15
    scan_jitter_s: int = 2             # scan start jitter ±2 s: irregular sampling, as on a real scanner
    path_m: float = 36.0               # die -> gauge web path (dryer)
    roll_length_m: float = 1500.0
    lot_period_s: float = 9000.0       # one 2.5 h slurry batch
    lot_jitter_s: float = 600.0
    solids_lot_sd: float = 0.0015      # lot-to-lot solids variation
    solids_lab_sd: float = 0.0003
    edge_gain: float = 0.025           # heavy edges: bead spreads at the die ends
    edge_length_mm: float = 25.0
    smile: float = 0.002               # centre slightly light
    flow_wander: float = 0.0015        # slow slurry flow wander (relative)
    flow_noise: float = 0.001
    lane_wander: float = 0.001         # slow CD-profile drift per lane (relative, 1 h knots)
    gauge_sigma: float = 0.045         # mg/cm², gauge noise (AR(1), phi below)
    gauge_phi: float = 0.6
    gauge_spike_p: float = 0.0005
    meter_sigma: float = 0.001         # relative, Coriolis meter noise on pump_rate
    speed_sigma: float = 0.0005
    first_roll: int = 5000
    first_lot: int = 1000

    @property
    def pump_rate_g_min(self) -> float:
        """Pump mass flow that gives the target weight at nominal speed and solids (g/min)."""
        return round(self.target_mg_cm2 * 10 * self.coated_width_m * self.line_speed_m_min / self.solids_fraction)


class Coater:
    """The coater's state: seed, parameters, setpoint schedules and events (see module doc)."""

    def __init__(self, seed: int, params: CoaterParams, pump: SetpointSchedule, speed: SetpointSchedule,
                 events, resolution: dict | None = None):
        self.seed, self.p = seed, params
        self.pump, self.speed, self.events = pump, speed, events
        # instrument resolution per signal (from the config's tag ``resolution``)
        self.resolution = {"areal_mass": 0.01, "pump_rate": 0.1, "line_speed": 0.01, "solids_fraction": 1e-4,
                           **(resolution or {})}
        self.lanes = np.arange(1, params.n_lanes + 1)
        self.lane_centre_mm = (self.lanes - 0.5) * params.coated_width_m * 1000 / params.n_lanes
        self.profile = self._profile()


    def _k(self, *names) -> np.uint64:
        return rng.stream_key(self.seed, "coating", *names)

    def _lane_keys(self, name: str) -> np.ndarray:
        return np.array([rng.stream_key(self.seed, "coating", name, int(i)) for i in self.lanes], dtype=np.uint64)

    # --- static cross-direction profile --------------------------------------------------------------
    def _profile(self) -> np.ndarray:
        p, x = self.p, self.lane_centre_mm
        width = p.coated_width_m * 1000
        edges = np.exp(-x / p.edge_length_mm) + np.exp(-(width - x) / p.edge_length_mm)
        u = (x - width / 2) / (width / 2)
        prof = 1 + p.edge_gain * edges + p.smile * u**2
        return prof / prof.mean()

    # --- slurry lots ---------------------------------------------------------------------------------
    def lot_boundary(self, k) -> np.ndarray:
        """Start (s since epoch) of lot index ``k`` (feed tank switch time)."""
        k = np.asarray(k, dtype=np.int64)
        jitter = np.round((rng.uniform(self._k("lot_jitter"), k) - 0.5) * 2 * self.p.lot_jitter_s)
        return k * self.p.lot_period_s + jitter  # whole seconds

    def lot_index(self, t_s) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)
        k = np.floor(t / self.p.lot_period_s).astype(np.int64)
        k = k + (t >= self.lot_boundary(k + 1)) - (t < self.lot_boundary(k))
        return k

    def lot_id(self, k) -> np.ndarray:
        return ids("SL", np.asarray(k) + self.p.first_lot, 5)

    def solids_fraction(self, tau_s) -> np.ndarray:
        """True solids mass fraction of the slurry at the die at ``tau_s`` (lot value + events)."""
        k = self.lot_index(tau_s)
        ws = self.p.solids_fraction + self.p.solids_lot_sd * rng.normal(self._k("solids"), k)
        for e in self.events("slurry_lot_step", tau_s):
            ws = ws + e.magnitude * e.window(tau_s)
        return ws

    def solids_lab(self, t_s) -> np.ndarray:
        """The lab value of the lot in the feed tank (the solids_fraction tag)."""
        k = self.lot_index(t_s)
        lab = self.solids_fraction(t_s) + self.p.solids_lab_sd * rng.normal(self._k("lab"), k)
        return rng.quantise(lab, self.resolution["solids_fraction"])

    # --- flows and speeds (true values) ----------------------------------------------------------------
    def pump_flow(self, tau_s) -> np.ndarray:
        """Delivered slurry mass flow (g/min): setpoint response × wear × slow wander (1 s steps)."""
        tau = np.asarray(tau_s, dtype=np.float64)
        sec = np.floor(tau).astype(np.int64)
        factor = 1 + rng.smooth_trend(self._k("flow_wander"), sec, period_s=900, sigma=self.p.flow_wander)
        factor = factor + rng.ar1(self._k("flow_noise"), sec, phi=0.8, sigma=self.p.flow_noise)
        for e in self.events("pump_wear", tau):
            factor = factor * (1 + e.magnitude / 100 * e.ramp(tau))
        return self.pump.response(tau) * factor

    def web_length(self, t_s) -> np.ndarray:
        """Metres of web through the die since the epoch (∫ line speed dt)."""
        return self.speed.integral(t_s) / 60.0

    def transport_delay(self, t_s) -> np.ndarray:
        """Seconds the web needs from die to gauge, arriving at ``t_s`` (fixed point of ∫U = path)."""
        t = np.asarray(t_s, dtype=np.float64)
        d = self.p.path_m / (self.speed.response(t) / 60.0)
        s_t = self.web_length(t)
        for _ in range(4):
            d = d * self.p.path_m / (s_t - self.web_length(t - d))
        return d

    def base_areal_mass(self, tau_s) -> np.ndarray:
        """Mass-balance dry areal mass (mg/cm², per side) of material coated at ``tau_s``."""
        tau = np.asarray(tau_s, dtype=np.float64)
        g_m2 = self.solids_fraction(tau) * self.pump_flow(tau) / (self.p.coated_width_m * self.speed.response(tau))
        return g_m2 / 10.0

    def true_areal_mass(self, tau_s, lanes=None) -> np.ndarray:
        """Lane areal mass (mg/cm²) of material coated at ``tau_s``: (n,) x lanes -> (n, n_lanes)."""
        tau = np.atleast_1d(np.asarray(tau_s, dtype=np.float64))
        sec = np.floor(tau).astype(np.int64)[:, None]
        wander = rng.smooth_trend(self._lane_keys("lane_wander")[None, :], sec, period_s=3600,
                                  sigma=self.p.lane_wander)
        shape = self.profile[None, :] * (1 + wander - wander.mean(axis=1, keepdims=True))
        for e in self.events("die_lip_streak", tau):
            w = e.window(tau)[:, None]
            delta = np.zeros(self.p.n_lanes)
            i = e.lane - 1
            delta[i] = e.magnitude / 100 * self.profile[i]
            for j in (i - 1, i + 1):  # the starved lane's slurry goes to its neighbours
                if 0 <= j < self.p.n_lanes:
                    delta[j] = -e.magnitude / 100 * self.profile[i] / (2 if 0 < i < self.p.n_lanes - 1 else 1)
            shape = shape + w * delta[None, :]
        out = self.base_areal_mass(tau)[:, None] * shape
        if lanes is not None:
            out = out[:, np.asarray(lanes) - 1]
        return out

    # --- the scanning gauge --------------------------------------------------------------------------
    def scan_time(self, k) -> np.ndarray:
        """Start of scan ``k`` in whole seconds since epoch (15 s ± 2 s jitter)."""
        k = np.asarray(k, dtype=np.int64)
        j = np.floor(rng.uniform(self._k("scan_jitter"), k) * (2 * self.p.scan_jitter_s + 1)).astype(np.int64)
        return k * self.p.scan_period_s + j - self.p.scan_jitter_s

    def scans_between(self, t0_s: float, t1_s: float) -> np.ndarray:
        """Scan indices with t0 <= scan_time < t1."""
        k = np.arange(int(np.floor(t0_s / self.p.scan_period_s)) - 1, int(np.ceil(t1_s / self.p.scan_period_s)) + 2)
        t = self.scan_time(k)
        return k[(t >= t0_s) & (t < t1_s)]

    def last_scan(self, t_s: float) -> int:
        """Index of the latest scan at or before ``t_s``."""
        k = np.arange(int(np.floor(t_s / self.p.scan_period_s)) - 1, int(np.floor(t_s / self.p.scan_period_s)) + 2)
        return int(k[self.scan_time(k) <= t_s].max())

    def gauge(self, k) -> dict:
        """Everything the gauge and coater report at scans ``k`` (arrays; see :meth:`Coater.dataset_vars`)."""
        k = np.atleast_1d(np.asarray(k, dtype=np.int64))
        t = self.scan_time(k).astype(np.float64)
        d = self.transport_delay(t)
        tau = t - d
        true = self.true_areal_mass(tau)
        noise = rng.ar1(self._lane_keys("gauge"), k[:, None], phi=self.p.gauge_phi,
                        sigma=self.p.gauge_sigma)
        noise = noise + rng.spikes(self._lane_keys("gauge_spike")[None, :], k[:, None],
                                   probability=self.p.gauge_spike_p, size=self.p.gauge_sigma * 2)
        for e in self.events("gauge_drift", t):
            noise = noise + e.magnitude * e.ramp(t)[:, None]
        s_web = self.web_length(tau)
        roll = np.floor(s_web / self.p.roll_length_m).astype(np.int64)
        return dict(
            t=t, tau=tau, areal_mass=rng.quantise(true + noise, self.resolution["areal_mass"]),
            roll=roll, position=s_web - roll * self.p.roll_length_m, lot=self.lot_index(tau),
        )

    def roll_id(self, roll) -> np.ndarray:
        return ids("CR", np.asarray(roll) + self.p.first_roll, 6)

    # --- 1 Hz process values -------------------------------------------------------------------------
    def process_values(self, sec) -> dict:
        """pump_rate, line_speed (measured), their setpoints and the solids lab value at whole seconds."""
        sec = np.atleast_1d(np.asarray(sec, dtype=np.int64))
        t = sec.astype(np.float64)
        pump = self.pump_flow(t) * (1 + rng.ar1(self._k("meter"), sec, phi=0.5, sigma=self.p.meter_sigma))
        speed = self.speed.response(t) * (1 + rng.ar1(self._k("speed"), sec, phi=0.5, sigma=self.p.speed_sigma))
        return dict(
            pump_rate=rng.quantise(pump, self.resolution["pump_rate"]), pump_rate_setpoint=self.pump.setpoint(t),
            line_speed=rng.quantise(speed, self.resolution["line_speed"]), line_speed_setpoint=self.speed.setpoint(t),
            solids_fraction=self.solids_lab(t),
        )

"""Dry room: desiccant dehumidifier, room moisture, door openings, dew/frost-point sensors.

The room's water content is tracked as its frost point (°C):

    FP_room(t) = FP_supply(t) + moisture-load offset + door pulses + excursions
    FP_supply(t) = setpoint response (dead time + lag) + desiccant-wheel ripple

Sensors 1-3 (chilled mirror) report the frost point; sensor 4 (capacitive, filling zone) reports the
dew point over supercooled water, converted with Hardy's formulas (about 3.7 K below the frost point
near −40 °C). Door openings are random (seeded, about one per hour), each a fast rise and an
exponential decay. Moisture exposure for genealogy is the time integral of ppmv above the room's
baseline (the room without doors and excursions).

>>> from workbench.simulate import virtual_line
>>> room = virtual_line(seed=0, events=None).dryroom
>>> -47.0 < float(room.baseline_frost_point(0.0)) < -45.0   # supply -52 °C + 6 K moisture load
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _hardy, rng
from .dynamics import SetpointSchedule


@dataclass(frozen=True)
class DryRoomParams:
    sensors: tuple = ("s1", "s2", "s3", "s4")
    reports: tuple = ("frost_point", "frost_point", "frost_point", "dew_point")
    location_offset_k: tuple = (0.0, 0.6, -0.4, -1.2)   # s3 near the supply diffuser, s4 filling zone
    sensor_sigma_k: tuple = (0.12, 0.12, 0.12, 0.25)     # capacitive sensor is noisier
    sensor_phi: float = 0.7                              # lag-1 correlation of the sensors' noise (AR(1))
    sample_period_s: int = 10
    supply_setpoint_c: float = -52.0
    load_offset_k: float = 6.0          # people, product and leaks raise the room above the supply air
    wheel_period_s: float = 720.0       # desiccant rotor: regeneration sector passes every 12 min
    wheel_amplitude_k: float = 0.6
    door_bucket_s: float = 1800.0
    door_probability: float = 0.5       # per 30 min bucket: ~1 opening per hour
    door_rise_s: float = 60.0
    door_decay_s: float = 240.0
    door_peak_k: tuple = (1.0, 3.0)
    temperature_c: float = 21.0
    pressure_pa: float = 101325.0


class DryRoom:
    """Dry-room state: seed, parameters, the frost-point setpoint schedule and events."""

    def __init__(self, seed: int, params: DryRoomParams, setpoint: SetpointSchedule, events,
                 resolution: tuple = (0.1, 0.1, 0.1, 0.1)):
        self.seed, self.p, self.setpoint, self.events = seed, params, setpoint, events
        self.resolution = resolution
        a, b = params.door_rise_s, params.door_decay_s  # peak of (1 - e^(-s/a))·e^(-s/b), to scale to peak_k
        s_peak = a * np.log((a + b) / a)
        self._door_shape_peak = float(-np.expm1(-s_peak / a) * np.exp(-s_peak / b))

    def _k(self, *names) -> np.uint64:
        return rng.stream_key(self.seed, "dryroom", *names)

    def supply_frost_point(self, t_s) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)
        phase = 2 * np.pi * t / self.p.wheel_period_s
        ripple = self.p.wheel_amplitude_k * (np.sin(phase) + 0.3 * np.sin(2 * phase + 1.0))
        return self.setpoint.response(t) + ripple

    def baseline_frost_point(self, t_s) -> np.ndarray:
        """Room frost point without doors and excursions (°C): the exposure baseline."""
        t = np.asarray(t_s, dtype=np.float64)
        slow = rng.smooth_trend(self._k("load"), t, period_s=5400, sigma=0.4)
        return self.setpoint.response(t) + self.p.load_offset_k + slow

    def door_pulses(self, t_s) -> tuple[np.ndarray, np.ndarray]:
        """(frost-point rise in K, door-open flag) from the random door openings."""
        t = np.asarray(t_s, dtype=np.float64)
        b0 = np.floor(t / self.p.door_bucket_s).astype(np.int64)
        rise = np.zeros(t.shape)
        is_open = np.zeros(t.shape, dtype=bool)
        for lag in range(4):  # the decay is negligible after 4 buckets (2 h)
            b = b0 - lag
            happens = rng.uniform(self._k("door"), b) < self.p.door_probability
            t_open = (b + rng.uniform(self._k("door_time"), b)) * self.p.door_bucket_s
            lo, hi = self.p.door_peak_k
            peak = lo + (hi - lo) * rng.uniform(self._k("door_peak"), b)
            s = t - t_open
            shape = np.where(s > 0, -np.expm1(-np.maximum(s, 0) / self.p.door_rise_s)
                             * np.exp(-np.maximum(s, 0) / self.p.door_decay_s), 0.0)
            rise = rise + np.where(happens, peak * shape / self._door_shape_peak, 0.0)
            is_open |= happens & (s >= 0) & (s < 45)
        return rise, is_open

    def room_frost_point(self, t_s, sensor: str | None = None) -> np.ndarray:
        """True room frost point (°C) without location offsets; with ``sensor``, also the excursions local
        to that sensor's zone (events with ``sensor=...``), else only room-wide ones."""
        t = np.asarray(t_s, dtype=np.float64)
        ripple = self.supply_frost_point(t) - self.setpoint.response(t)
        fp = self.baseline_frost_point(t) + ripple + self.door_pulses(t)[0]
        for e in self.events("dewpoint_excursion", t):
            if e.sensor is None or e.sensor == sensor:
                fp = fp + e.magnitude * e.excursion(t)
        return fp

    def excess_ppmv(self, t_s, sensor: str | None = None) -> np.ndarray:
        """Moisture above the room's baseline in ``sensor``'s zone, ppmv (≥ 0); exposure = its time integral."""
        p = self.p.pressure_pa
        ex = _hardy.ppmv_from_frost(self.room_frost_point(t_s, sensor), p) - _hardy.ppmv_from_frost(
            self.baseline_frost_point(t_s), p)
        return np.maximum(ex, 0.0)

    def samples(self, k) -> dict:
        """Sensor readings and room values at sample indices ``k`` (every ``sample_period_s``)."""
        k = np.atleast_1d(np.asarray(k, dtype=np.int64))
        t = (k * self.p.sample_period_s).astype(np.float64)
        room = self.room_frost_point(t)
        local = {e.sensor for e in self.events("dewpoint_excursion", t) if e.sensor is not None}
        cols = []
        for i, name in enumerate(self.p.sensors):
            fp = (self.room_frost_point(t, name) if name in local else room) + self.p.location_offset_k[i]
            value = _hardy.dew_from_frost(fp) if self.p.reports[i] == "dew_point" else fp
            value = value + rng.ar1(self._k("sensor", name), k, phi=self.p.sensor_phi, sigma=self.p.sensor_sigma_k[i])
            value = value + rng.spikes(self._k("spike", name), k, probability=3e-4,
                                       size=self.p.sensor_sigma_k[i] * 3)
            cols.append(rng.quantise(value, self.resolution[i]))
        temp = self.p.temperature_c + rng.smooth_trend(self._k("temp"), t, period_s=3600, sigma=0.3)
        temp = temp + rng.ar1(self._k("temp_noise"), k, phi=0.5, sigma=0.05)
        return dict(
            t=t, dew_frost_point=np.stack(cols, axis=-1), temperature=rng.quantise(temp, 0.1),
            frost_point_setpoint=self.setpoint.setpoint(t), door_open=self.door_pulses(t)[1],
        )

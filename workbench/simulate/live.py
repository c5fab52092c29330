"""The live clock over the virtual line: read tags at the simulated "now", write setpoints.

``speed`` is simulated seconds per wall-clock second (0 = the clock moves only by :meth:`advance`,
which is what tests use: no sleeps). A read returns each tag's latest sample at or before now, with
the sample's own source timestamp; values equal the batch history's at the same timestamps.

>>> from workbench.simulate import virtual_line
>>> live = virtual_line(seed=0, events=None).live(speed=0)
>>> live.advance(7200)
>>> live.write("plant1/electrode/coat1/coater/pump_rate_setpoint", 2969.0)
2969.0
>>> str(live.now())
'2026-01-05 08:00:00'
"""

from __future__ import annotations

import math
import time as _time

import pandas as pd

from workbench.units import ureg

INTERNAL_UNITS = {
    ("coating", "areal_mass"): "mg/cm^2", ("coating", "pump_rate"): "g/min",
    ("coating", "pump_rate_setpoint"): "g/min", ("coating", "line_speed"): "m/min",
    ("coating", "line_speed_setpoint"): "m/min", ("coating", "solids_fraction"): "dimensionless",
    ("dryroom", "frost_point"): "degC", ("dryroom", "dew_point"): "degC",
    ("dryroom", "frost_point_setpoint"): "degC", ("dryroom", "temperature"): "degC",
    ("welding", "weld_resistance"): "uohm", ("welding", "laser_energy"): "J",
    ("welding", "laser_power"): "W", ("welding", "laser_power_setpoint"): "W",
    ("formation", "voltage"): "V", ("formation", "current"): "A", ("formation", "temperature"): "degC",
    ("formation", "capacity"): "A*h",
}


class LiveLine:
    """Live view of a :class:`~workbench.simulate.line.VirtualLine`.

    Shares the line's setpoint schedules on purpose: :meth:`write` is ``line.write(path, value, at=now)``,
    so every other live clock, history and ``tag_samples`` of the same line sees the write.
    """

    def __init__(self, line, *, speed: float = 1.0, start=None):
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed >= 0):
            raise ValueError(f"live: speed must be a number >= 0 (simulated s per wall s), got {speed!r}")
        self.line = line
        self.speed = float(speed)
        self._t0 = line.seconds(start) if start is not None else 0.0
        self._offset = 0.0
        self._wall0 = _time.monotonic()
        self._units = {p: self.line.config.tag(p).units for p in line.signals}
        self._now: tuple = (math.nan, None)
        from .samples import converter

        self._converters = {p: converter(INTERNAL_UNITS[(s.station, s.variable)], self._units[p])  # None: same units
                            for p, s in line.signals.items()}
        self._memo: dict = {}          # last sample per source, reused while the clock stays on it
        self._memo_version: tuple = (-1, -1)

    # --- clock ---------------------------------------------------------------------------------------
    def seconds(self) -> float:
        """Simulated seconds since the line's start."""
        return self._t0 + self._offset + self.speed * (_time.monotonic() - self._wall0)

    def now(self) -> pd.Timestamp:
        """Simulated now (tz-naive UTC).

        >>> from workbench.simulate import virtual_line
        >>> str(virtual_line().live(speed=0, start="90min").now())
        '2026-01-05 07:30:00'
        """
        s = self.seconds()
        if self._now[0] != s:  # every reading is qualified against now: one Timestamp per clock step
            self._now = (s, pd.Timestamp(self.line.time(s)))
        return self._now[1]

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward by ``seconds`` (no waiting)."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"advance: seconds must be finite and >= 0, got {seconds!r}")
        self._offset += float(seconds)

    # --- tags ----------------------------------------------------------------------------------------
    def tags(self) -> list[str]:
        """Every tag path the live line serves (config order).

        >>> from workbench.simulate import virtual_line
        >>> len(virtual_line().live(speed=0).tags())
        230
        """
        return list(self.line.signals)

    def write(self, path: str, value: float) -> float:
        """Write a setpoint now into the line's shared schedule (see :meth:`VirtualLine.write`);
        returns the value applied (clamped to the config's min/max)."""
        return self.line.write(path, value, at=self.now())

    def read(self, paths=None) -> dict:
        """{path: (value, units, source_timestamp)} for ``paths`` (default: all tags) at now.

        >>> from workbench.simulate import virtual_line
        >>> live = virtual_line(seed=0).live(speed=0, start="2h")
        >>> v, units, ts = live.read(["plant1/dryroom/room1/hygrometer/frost_point_s1"])[
        ...     "plant1/dryroom/room1/hygrometer/frost_point_s1"]
        >>> units, str(ts)
        ('degC', '2026-01-05 08:00:00')


        Values are floats in the tag's configured units (NaN for an idle formation channel's voltage).
        """
        from .line import ENSURE_LOOKBACK_S

        t = self.seconds()
        # The same event reach as tag_samples/history, so a read never depends on what ran before.
        self.line.events.ensure(t - ENSURE_LOOKBACK_S, t + 1.0)
        paths = self.tags() if paths is None else ([paths] if isinstance(paths, str) else list(paths))
        # Memoised samples are valid for one setpoint schedule and one event set: a write (by any live
        # clock of this line or vl.write) or newly generated event days drop them.
        version = (self.line.write_count, self.line.events.version)
        if self._memo_version != version:
            self._memo, self._memo_version = {}, version
        cache = self._memo
        out, stamps = {}, {}  # most tags share a few sample times
        for p in paths:
            sig = self.line.signals.get(p)
            if sig is None:
                raise KeyError(f"no tag {p!r} on the virtual line; see live.tags()")
            value, t_s = self._value(sig, t, cache)
            ts = stamps.get(t_s)
            if ts is None:
                ts = stamps[t_s] = pd.Timestamp(self.line.time(t_s))
            out[p] = (self._carried(p, sig, value, t_s, cache), self._units[p], ts)
        return out

    def _carried(self, path: str, sig, value: float, t_s: float, cache: dict) -> float:
        """The value over the wire (:mod:`.instruments`): aged, in the tag's units, quantised, bad-value codes,
        NaN while the link is down. One memo per tag, kept while its sample stays the same."""
        w = self.line.wire(sig)
        k = cache["gauge_k"] if w.grid == "scan" else cache["weld_i"] if w.grid == "weld" else round(t_s / w.period_s)
        memo = cache.get(("wire", path))
        if memo is not None and memo[0] == k:
            return memo[1]
        v = self.line.carry_one(path, k, t_s, value, convert=self._converters[path])
        cache[("wire", path)] = (k, v)
        return v

    def link_down(self, path: str, when=None) -> bool:
        """Is the link that carries ``path`` down at ``when`` (a source timestamp; default now)? A reading
        taken then is a gap (NaN), not a value: adapters report it as disconnected.

        >>> from workbench.simulate import virtual_line
        >>> virtual_line(seed=0, instruments=None).live(speed=0).link_down("plant1/assembly/weld1/welder/laser_power")
        False
        """
        t = self.seconds() if when is None else self.line.seconds(when)
        w = self.line.wire(self.line.signals[path])
        return bool(self.line.instruments.link_down(w.link, t))

    def _value(self, sig, t: float, cache: dict) -> tuple[float, float]:
        line = self.line
        if sig.station == "coating":
            if sig.variable == "areal_mass":
                if cache.get("scan_at") != t:  # every lane of a read asks for the same scan
                    cache["scan_at"], cache["scan_k"] = t, line.coater.last_scan(t)
                k = cache["scan_k"]
                if cache.get("gauge_k") != k:
                    cache["gauge"], cache["gauge_k"] = line.coater.gauge([k]), k
                g = cache["gauge"]
                return float(g["areal_mass"][0, sig.lane - 1]), float(g["t"][0])
            sec = math.floor(t)
            if cache.get("coater_pv_s") != sec:
                cache["coater_pv"], cache["coater_pv_s"] = line.coater.process_values([sec]), sec
            return float(cache["coater_pv"][sig.variable][0]), float(sec)
        if sig.station == "dryroom":
            dt = line.dryroom.p.sample_period_s
            k = math.floor(t / dt)
            if cache.get("room_k") != k:
                cache["room"], cache["room_k"] = line.dryroom.samples([k]), k
            v = cache["room"]
            if sig.sensor:
                i = line.dryroom.p.sensors.index(sig.sensor)
                return float(v["dew_frost_point"][0, i]), float(k * dt)
            return float(v[sig.variable][0]), float(k * dt)
        if sig.station == "welding":
            if sig.variable == "laser_power":
                sec = math.floor(t)
                return float(line.welder.laser_power([sec])[0]), float(sec)
            if sig.variable == "laser_power_setpoint":
                sec = math.floor(t)
                return float(line.welder.power.setpoint(float(sec))), float(sec)
            i = line.welder.last_weld(t)
            if cache.get("weld_i") != i:
                cache["weld"], cache["weld_i"] = line.welder.welds([i]), i
            return float(cache["weld"][sig.variable][0]), float(cache["weld"]["t"][0])
        if sig.station == "formation":
            return self._formation_value(sig, t, cache)
        raise KeyError(sig.path)

    def _formation_value(self, sig, t: float, cache: dict) -> tuple[float, float]:
        from . import formation_live
        sec = math.floor(t / formation_live.SAMPLE_S) * formation_live.SAMPLE_S
        return formation_live.channel_value(self, sig, sec, cache), float(sec)


def _convert(value: float, src: str, dst: str) -> float:
    if src == dst or math.isnan(value):
        return value
    return float(ureg.Quantity(value, src).to(dst).magnitude)

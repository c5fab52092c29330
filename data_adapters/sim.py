"""The in-process adapter over the virtual line (:mod:`workbench.simulate`).

A ticker task advances the virtual line's clock (``speed`` simulated seconds per wall-clock second)
and delivers every tag whose source timestamp moved to the subscribers. Writes go to the virtual
line's setpoints, which respond with dead time and first-order lag.

Example
-------
>>> import asyncio
>>> from data_adapters.sim import sim_adapter
>>> async def demo():
...     async with sim_adapter(seed=0, speed=10) as line:
...         path = "plant1/assembly/weld1/welder/laser_power_setpoint"
...         return (await line.read([path]))[path].units
>>> asyncio.run(demo())
'W'
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from workbench.config import LineConfig, default_config_path, load_line_config

from data_adapters.base import Adapter, BackendError, Quality, Reading, ReadingCallback, utcnow

log = logging.getLogger(__name__)


def _utc(ts: Any) -> datetime:
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.to_pydatetime(warn=False)  # sub-microsecond digits of simulated times are not kept


class SimBackend:
    """Backend over ``workbench.simulate.virtual_line(seed).live(speed)``.

    ``every_sample``: serve as a station does, which samples on its own clock whatever load its host
    is under. A ticker woken late (a loaded machine) then advances the line one tick's worth at a time
    and delivers each, so every sample of a tag sampled no faster than ``tick_s * speed`` line seconds
    (the laser's 1 Hz, at speed 1) reaches the subscribers with its own source time; a stall longer than
    ``MAX_CATCH_UP`` ticks is logged and its older samples are lost. Servers of the line (OPC UA, MQTT,
    REST: ``workbench sim-server``) use it. Without it (the default: an in-process dashboard) a late tick
    is one larger step that delivers only the newest samples, so a dashboard that falls behind does not
    fall further behind.
    """

    MAX_CATCH_UP = 400  # ticks caught up after one stall at most (100 s at tick_s 0.25)

    def __init__(self, line: LineConfig, *, seed: int = 0, speed: float = 1.0, tick_s: float = 0.25,
                 events: Any = "default", start: Any = None, vl: Any = None, every_sample: bool = False):
        if speed < 0:
            raise ValueError(f"speed must be >= 0 simulated seconds per second (0: only live.advance() moves "
                             f"the clock), got {speed}")
        self.line = line
        self.seed, self.speed, self.tick_s = seed, speed, tick_s
        self.every_sample = bool(every_sample)
        self.events, self.start = events, start
        self._vl = vl
        self.live = None
        self._subs: dict[int, tuple[list[str], ReadingCallback]] = {}
        self._last_ts: dict[int, dict[str, Any]] = {}
        self._next_handle = 0
        self._task: asyncio.Task | None = None
        self._connected = False
        self._units = {p: t.units for p, t in line.tags.items()}
        self._held: dict[str, tuple[float, datetime]] = {}  # written setpoint -> (value, line time)

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        if self.live is None:
            vl = self._vl
            if vl is None:  # import only when needed: a given vl must work without the simulator
                from workbench.simulate import virtual_line

                vl = virtual_line(seed=self.seed, **({"start": self.start} if self.start else {}),
                                  events=self.events)
            # speed 0: the live clock moves only when the ticker advances it (by elapsed x speed), so
            # simulated time runs at exactly `speed` and stays in step with what subscribers are sent.
            self.live = vl.live(speed=0)
        self._connected = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-ticker")

    async def close(self) -> None:
        self._connected = False
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def line_time(self) -> datetime:
        """The virtual line's own clock (UTC); staleness and rate limits are judged against it."""
        return _utc(self.live.now()) if self.live is not None else utcnow()

    def _readings(self, paths: list[str]) -> dict[str, Reading]:
        now = utcnow()
        out, stamps = {}, {}  # the tags of a read share a few sample times: each is converted once
        for path, (value, units, ts) in self.live.read(paths).items():
            v = float(value) if value is not None else math.nan
            if ts not in stamps:
                stamps[ts] = _utc(ts)
            ts = stamps[ts]
            held = self._held.get(path)
            if held is not None:
                # Like a PLC register, a written setpoint reads back at once; the line's own 1 Hz
                # (dry room: 10 s) report of the setpoint catches up at its next sample.
                if ts <= held[1]:
                    v, ts = held
                else:
                    del self._held[path]
            if math.isfinite(v):
                q = Quality.GOOD
            else:  # a link drop-out of the virtual line is a lost link (a gap), not a bad value
                q = Quality.DISCONNECTED if self.live.link_down(path, ts) else Quality.BAD
            out[path] = Reading(path, v, self._units.get(path, units), ts, q, now)
        return out

    async def read(self, paths: list[str]) -> dict[str, Reading]:
        if not self._connected or self.live is None:
            raise BackendError("virtual line is not connected")
        return self._readings(paths)

    async def subscribe(self, paths: list[str], on_reading: ReadingCallback) -> int:
        self._next_handle += 1
        self._subs[self._next_handle] = (list(paths), on_reading)
        self._last_ts[self._next_handle] = {}
        return self._next_handle

    async def unsubscribe(self, handle: int) -> None:
        self._subs.pop(handle, None)
        self._last_ts.pop(handle, None)

    async def write(self, path: str, value: float) -> float | None:
        """Write a setpoint; returns the value the virtual line applied (it clamps to its limits)."""
        if not self._connected or self.live is None:
            raise BackendError("virtual line is not connected")
        applied = self.live.write(path, value)
        self._held[path] = (float(applied), self.line_time())
        return applied

    async def _run(self) -> None:
        """Advance the line by the wall time elapsed x speed and deliver. A late tick (a loaded machine) is
        one larger step that delivers the newest samples, or with ``every_sample`` the ticks it missed, each
        delivered (see the class). Trials on the virtual line use its own clock instead
        (:class:`data_adapters.trials.simline.VirtualLineClock`)."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.tick_s)
            now = loop.time()
            await self._tick((now - last) * self.speed)
            last = now

    async def _tick(self, elapsed: float) -> None:
        """Move the line on by ``elapsed`` line seconds and deliver (one wake-up of the ticker)."""
        for step in self._steps(elapsed):
            self.live.advance(step)
            await self._deliver()

    def _steps(self, elapsed: float) -> list[float]:
        """The line seconds to advance by, each followed by a delivery: one step, or with ``every_sample``
        equal steps of at most one tick (``tick_s * speed``), so no sample instant is stepped over.

        >>> b = SimBackend.__new__(SimBackend); b.tick_s, b.speed, b.every_sample = 0.25, 1.0, True
        >>> b._steps(0.26), b._steps(1.0), len(b._steps(1e6)), b._steps(0.0)
        ([0.13, 0.13], [0.25, 0.25, 0.25, 0.25], 400, [0.0])
        """
        tick = self.tick_s * self.speed
        if not self.every_sample or tick <= 0 or elapsed <= tick:
            return [elapsed]
        n = math.ceil(elapsed / tick - 1e-9)
        if n > self.MAX_CATCH_UP:
            lost = elapsed - self.MAX_CATCH_UP * tick
            log.warning("virtual line ticker stalled %.1f line s: samples of the first %.1f s are not delivered "
                        "(a gap); the last %d ticks are", elapsed, lost, self.MAX_CATCH_UP)
            return [lost + tick] + [tick] * (self.MAX_CATCH_UP - 1)
        return [elapsed / n] * n

    async def _deliver(self) -> None:
        for handle, (paths, callback) in list(self._subs.items()):
            seen = self._last_ts.get(handle, {})
            try:
                readings = self._readings(paths)
            except Exception:
                log.exception("virtual line read failed")
                continue
            for path, r in readings.items():
                if seen.get(path) != r.source_time:
                    seen[path] = r.source_time
                    await callback(r)


def sim_adapter(config: LineConfig | str | None = None, *, seed: int | None = None, speed: float | None = None,
                audit=None, **backend_kw) -> Adapter:
    """An :class:`Adapter` over the virtual line for the whole line config (default: the shipped one).

    ``seed`` and ``speed`` default to the first station's ``adapter: {kind: sim}`` settings.
    """
    line = config if isinstance(config, LineConfig) else load_line_config(config or default_config_path())
    sims = [s.adapter for s in line.stations if s.adapter.kind == "sim"]
    if not sims:
        raise ValueError(f"{line.source}: no station uses adapter kind 'sim'")
    seed = sims[0].seed if seed is None else seed
    speed = sims[0].speed if speed is None else speed
    tags = [t for s in line.stations if s.adapter.kind == "sim" for t in s.tags]
    backend = SimBackend(line, seed=seed, speed=speed, **backend_kw)
    return Adapter(tags, backend, audit=audit, name=f"{line.name} (virtual)", clock=backend.line_time)


__all__ = ["SimBackend", "sim_adapter"]

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
    """Backend over ``workbench.simulate.virtual_line(seed).live(speed)``."""

    def __init__(self, line: LineConfig, *, seed: int = 0, speed: float = 1.0, tick_s: float = 0.25,
                 events: Any = "default", start: Any = None, vl: Any = None):
        if speed < 0:
            raise ValueError(f"speed must be >= 0 simulated seconds per second (0: only live.advance() moves "
                             f"the clock), got {speed}")
        self.line = line
        self.seed, self.speed, self.tick_s = seed, speed, tick_s
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
        out = {}
        for path, (value, units, ts) in self.live.read(paths).items():
            v = float(value) if value is not None else math.nan
            ts = _utc(ts)
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
        """Advance the line by the wall time elapsed x speed, then deliver the newest samples. A late tick (a
        loaded machine) is one larger step: catching up tick by tick would deliver more the later it runs,
        and a dashboard server that falls behind would fall further behind (trials on the virtual line use
        its own clock instead, :class:`data_adapters.trials.simline.VirtualLineClock`)."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.tick_s)
            now = loop.time()
            self.live.advance((now - last) * self.speed)
            last = now
            await self._deliver()

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

"""The virtual line as a trial station: the sim backend on the *line's* clock.

A trial on the virtual line runs fast (``speed`` simulated seconds per wall second). So that the guard's
rate check, staleness and the recorded times all use one clock, the adapter's clock here is the virtual
line's own (``live.now()``), and the backend's ticker only delivers readings (the live clock already
moves with ``speed``).

With ``virtual=True`` the line's clock stops following the wall clock: it moves only when the trial
waits (:class:`VirtualLineClock`, passed to the controller as ``clock=``), delivering the line's readings
step by step, so what the trial records does not depend on the machine's load. Tests run it flat out;
the trial console paces it (``pace=speed``: each step also waits its share of wall time, so the screen
follows the trial), and a trial on the virtual line gives the same estimates on any machine.

>>> adapter = trial_sim_adapter(seed=0, speed=50)
>>> adapter.name
'Virtual cell line 1 (virtual, trial clock)'
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pandas as pd

from workbench.config import LineConfig, default_config_path, load_line_config

from data_adapters.base import Adapter, utcnow
from data_adapters.sim import SimBackend


class LineClockSimBackend(SimBackend):
    """SimBackend whose live clock runs continuously at ``speed``; the ticker only delivers readings.

    (SimBackend's own clock moves in ticker steps of ``tick_s * speed`` seconds; a guard checking
    ``max_rate`` against a clock that jumps would refuse writes that are in fact slow enough.)"""

    virtual = False  # True: the live clock moves only by VirtualLineClock.sleep (tests)

    async def connect(self) -> None:
        if self.live is None:  # a continuous clock (SimBackend's moves in ticker steps, too coarse for rates)
            vl = self._vl
            if vl is None:
                from workbench.simulate import virtual_line

                vl = virtual_line(seed=self.seed, **({"start": self.start} if self.start else {}),
                                  events=self.events)
            self.live = vl.live(speed=0 if self.virtual else self.speed)
        await super().connect()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            await self._deliver()

    def clock(self) -> datetime:
        if self.live is None:
            return utcnow()
        return pd.Timestamp(self.live.now()).tz_localize("UTC").to_pydatetime(warn=False)


class VirtualLineClock:
    """The virtual line's clock as a trial's station clock: time moves only when the trial waits.

    ``sleep(s)`` advances the line by ``s`` in steps of ``step_s`` and delivers the readings of each
    step to the subscribers (recorder, interlocks), as the ticker would have. ``pace``: line seconds
    per wall second to keep to (None: as fast as the machine goes). Pacing only decides when a step
    happens in wall time, never what the line does: a late step is caught up, not skipped."""

    def __init__(self, adapter: Adapter, step_s: float = 0.5, pace: float | None = None):
        self.backend = adapter.backend
        if not getattr(self.backend, "virtual", False):
            raise ValueError("VirtualLineClock needs trial_sim_adapter(..., virtual=True)")
        if pace is not None and not pace > 0:
            raise ValueError(f"pace must be > 0 line seconds per wall second, got {pace}")
        self.step_s, self.pace = step_s, pace

    def now(self) -> datetime:
        return self.backend.clock()

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        start, done = loop.time(), 0.0
        remaining = max(0.0, float(seconds))
        while remaining > 0:
            dt = min(self.step_s, remaining)
            self.backend.live.advance(dt)
            remaining -= dt
            done += dt
            await self.backend._deliver()
            if self.pace is not None:  # wait for this step's wall time (none when behind: catch up)
                await asyncio.sleep(max(0.0, start + done / self.pace - loop.time()))
        await asyncio.sleep(0)


def trial_sim_adapter(config: LineConfig | str | None = None, *, seed: int = 0, speed: float = 50.0,
                      audit=None, events=None, tick_s: float = 0.05, start=None, virtual: bool = False) -> Adapter:
    """An unconnected :class:`Adapter` over the virtual line on the line's clock (see module doc).

    ``events``: the simulator's injected events (None = a quiet line; e.g. a ``dewpoint_excursion``
    dict with ``start``/``end`` offsets like ``"10min"``)."""
    line = config if isinstance(config, LineConfig) else load_line_config(config or default_config_path())
    tags = [t for s in line.stations if s.adapter.kind == "sim" for t in s.tags]
    backend = LineClockSimBackend(line, seed=seed, speed=speed, tick_s=tick_s, events=events, start=start)
    backend.virtual = virtual
    return Adapter(tags, backend, audit=audit, name=f"{line.name} (virtual, trial clock)", clock=backend.clock)



__all__ = ["LineClockSimBackend", "VirtualLineClock", "trial_sim_adapter"]

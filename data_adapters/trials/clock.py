"""Station clocks for the trial runner: the wall clock of a real line, or a virtual clock for tests.

The runner asks its clock for two things: ``now()`` (station time, UTC) and ``await sleep(s)`` (wait
``s`` seconds of station time). On a real line both follow the wall clock (``sleep`` scaled by the
line's ``time_scale``). A :class:`VirtualClock` moves only when the runner sleeps: a dwell of an hour
takes no wall time, and every time the guard, the station and the recorder see is exact -- so a test
of the runner has no wall-clock races (what happens when is decided by the plan, not by the machine's
load).

>>> import asyncio
>>> from datetime import datetime, timezone
>>> clock = VirtualClock(datetime(2026, 1, 5, tzinfo=timezone.utc))
>>> asyncio.run(clock.sleep(90.5))
>>> clock.now().isoformat()
'2026-01-05T00:01:30.500000+00:00'
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta


class WallClock:
    """Station time = ``clock()`` (e.g. the adapter's); ``sleep`` waits seconds / ``time_scale`` of wall time."""

    def __init__(self, clock, time_scale: float = 1.0):
        self._clock, self.time_scale = clock, float(time_scale)

    def now(self) -> datetime:
        return self._clock()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.time_scale)


class VirtualClock:
    """Station time that advances only in :meth:`sleep` (instantly, by exactly the seconds asked)."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware start (UTC)")
        self._t = start
        self._lock = threading.Lock()
        self.sleeps = 0  # how many sleeps ran (tests wait on progress with it)

    def now(self) -> datetime:
        with self._lock:
            return self._t

    __call__ = now  # usable wherever a ``clock()`` callable is expected (Adapter, backends)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += timedelta(seconds=max(0.0, seconds))
            self.sleeps += 1

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)  # let the loop run what became due (readings, watchdog)


__all__ = ["WallClock", "VirtualClock"]

"""Station-side readback: after writing a setpoint, wait until the line itself reports it.

A station scans its setpoints at its own rate (the virtual line: 1 Hz), so a read right after a write
may still show the old sample. Servers that acknowledge writes (MQTT, REST) confirm with the value the
line reports once it has taken the write, waiting at most ``timeout_s``.

Example
-------
>>> import asyncio
>>> from data_adapters.sim import sim_adapter
>>> async def demo():
...     async with sim_adapter(seed=0) as line:
...         path = "plant1/assembly/weld1/welder/laser_power_setpoint"
...         await line.backend.write(path, 2450.0)
...         return (await readback(line.backend, path, 2450.0, timeout_s=3.0)).value
>>> asyncio.run(demo())  # doctest: +SKIP
2450.0
"""

from __future__ import annotations

import asyncio
import math

from data_adapters.base import Backend, Reading


async def readback(source: Backend, path: str, requested: float, *, timeout_s: float = 2.0,
                   poll_s: float = 0.05) -> Reading:
    """The line's reading of ``path`` once it equals ``requested`` (or the last one after ``timeout_s``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        r = (await source.read([path]))[path]
        if math.isclose(r.value, requested, rel_tol=1e-6, abs_tol=1e-9) or loop.time() >= deadline:
            return r
        await asyncio.sleep(poll_s)


__all__ = ["readback"]

"""The station side of a write: apply it to the line and hold it against samples taken before it.

A station reports its setpoints at its own scan rate (the virtual line: 1 s for pump and laser, 10 s for
the dry-room setpoint), so for a while after a write the line still reports the sample it took before.
A server that *is* the station's interface (OPC UA server, MQTT publisher, REST server) holds the value it
wrote, like a PLC register, and serves it instead of those older samples until the line reports a sample
taken after the write.

Example
-------
>>> from datetime import datetime, timezone
>>> from data_adapters.base import Reading
>>> hold = WriteHold()
>>> t0 = datetime(2026, 1, 5, 6, 0, 0, tzinfo=timezone.utc)
>>> hold.hold("a/b/c/d/sp", 2550.0, "W", line_time=t0)
>>> hold.view(Reading("a/b/c/d/sp", 2500.0, "W", t0)).value      # sample from before the write
2550.0
>>> hold.view(Reading("a/b/c/d/sp", 2550.0, "W", t0.replace(second=1))).value  # the line took it
2550.0
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from data_adapters.base import Backend, Quality, Reading, utcnow


class WriteHold:
    """Written setpoints held until the line reports a sample newer than the write."""

    def __init__(self):
        self._held: dict[str, tuple[float, str, datetime, datetime]] = {}  # path -> value, units, line time, when

    def hold(self, path: str, value: float, units: str, *, line_time: datetime) -> None:
        """Hold ``value`` for ``path`` against line samples stamped at or before ``line_time``."""
        self._held[path] = (value, units, line_time, utcnow())

    def view(self, r: Reading) -> Reading:
        """``r``, or the held value when ``r`` is a sample the line took before the write."""
        held = self._held.get(r.path)
        if held is None:
            return r
        value, units, line_time, when = held
        if r.source_time <= line_time:
            return replace(r, value=value, units=units, source_time=when, quality=Quality.GOOD)
        del self._held[r.path]
        return r

    async def write(self, source: Backend, path: str, value: float) -> float:
        """Write to the line, hold the result; returns the setpoint as applied (the line may clamp it)."""
        applied = await source.write(path, value)
        applied = float(applied) if isinstance(applied, (int, float)) and not isinstance(applied, bool) else value
        before = (await source.read([path]))[path]
        self.hold(path, applied, before.units, line_time=before.source_time)
        return applied


__all__ = ["WriteHold"]

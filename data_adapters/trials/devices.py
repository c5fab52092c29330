"""bluesky-facing devices over the adapter: a setpoint is ``Movable`` and ``Readable``; writes go
through :meth:`data_adapters.base.Adapter.write`, so the guard and the audit log apply to every one.

A device is called by the RunEngine on its event loop, which is also the adapter's loop, so ``set``
starts the guarded write as a task and hands bluesky a status that completes with it.
"""

from __future__ import annotations

import asyncio
import math
from typing import Callable


class TaskStatus:
    """A bluesky status (``add_callback``, ``done``, ``success``, ``exception``) over an asyncio task."""

    def __init__(self, task: asyncio.Future):
        self.task = task
        self._callbacks: list = []
        task.add_done_callback(self._finished)

    def _finished(self, _task) -> None:
        for cb in self._callbacks:
            cb(self)
        self._callbacks.clear()

    def __repr__(self) -> str:
        if not self.task.done():
            return "TaskStatus(pending)"
        exc = self.exception()
        return f"TaskStatus({'failed: ' + str(exc) if exc else 'done'})"

    @property
    def done(self) -> bool:
        return self.task.done()

    @property
    def success(self) -> bool:
        return self.task.done() and not self.task.cancelled() and self.task.exception() is None

    def add_callback(self, callback) -> None:
        if self.done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def exception(self, timeout: float | None = 0.0):
        if not self.task.done():
            raise TimeoutError("write still in progress")
        if self.task.cancelled():
            return asyncio.CancelledError("write cancelled")
        return self.task.exception()


class SetpointDevice:
    """One writable setpoint tag as a bluesky device. ``value`` is the last accepted (commanded) value."""

    def __init__(self, adapter, path: str, *, session: Callable, on_result: Callable, clock: Callable,
                 value: float = math.nan):
        self.adapter = adapter
        self.path = path
        self.name = path.rsplit("/", 1)[-1]
        self.parent = None
        self.units = adapter.describe()[path].units
        self._session = session
        self._on_result = on_result
        self._clock = clock
        self.value = value
        self.last_write_time = None  # station time of the last accepted write
        self._pending: asyncio.Future | None = None  # the write in flight, if any

    async def _write(self, value: float):
        when = self._clock()
        try:
            res = await self.adapter.write(self.path, value, session=self._session())
        except Exception as exc:  # WriteRefused carries the audited result; record it, then fail the status
            self._on_result(getattr(exc, "result", None), when, exc)
            raise
        self.value = res.written  # what we commanded; a readback may lag the write on some stations
        self.readback = res.readback
        # after the write returned: never earlier than the guard's own timestamp, so a rate wait
        # computed from it is never too short
        self.last_write_time = self._clock()
        self._on_result(res, when, None)
        return res

    def set(self, value: float) -> TaskStatus:
        self._pending = asyncio.ensure_future(self._write(float(value)))
        return TaskStatus(self._pending)

    async def settled(self) -> None:
        """Wait until a write still in flight (an abort does not stop it) has reached the station or failed."""
        if self._pending is not None and not self._pending.done():
            await asyncio.wait([self._pending])

    def read(self) -> dict:
        return {self.name: {"value": self.value, "timestamp": self._clock().timestamp()}}

    def describe(self) -> dict:
        return {self.name: {"source": self.path, "dtype": "number", "shape": [], "units": self.units}}

    def stop(self, *, success: bool = False) -> None:
        """Nothing to stop: a setpoint write is one message; the plan's finalizer restores the baseline."""


__all__ = ["TaskStatus", "SetpointDevice"]

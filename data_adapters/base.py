"""The station adapter protocol: one shape for every transport.

An adapter = a small transport *backend* (sim, OPC UA, MQTT, REST, replay) under one :class:`Adapter`
that adds what every transport shares: units, quality and staleness, the deny-by-default write path
(guard + audit), connection state, and callbacks that never raise into the caller (the dashboard).

Public protocol (ARCHITECTURE.md §6)::

    adapter.describe() -> {path: Tag}
    await adapter.read(paths) -> {path: Reading}
    await adapter.subscribe(paths, callback) -> Subscription     # callback(Reading), sync or async
    await adapter.write(path, value, session=ArmedSession(...)) -> WriteResult   # or raises WriteRefused

Example
-------
>>> import asyncio
>>> from data_adapters.sim import sim_adapter
>>> async def main():
...     async with sim_adapter(seed=0) as line:
...         r = await line.read(["plant1/electrode/coat1/coater/line_speed"])
...         return r["plant1/electrode/coat1/coater/line_speed"].units
>>> asyncio.run(main())
'm/min'
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Iterable, Protocol, runtime_checkable

import pint

from workbench.badvalues import is_bad_reading
from workbench.config import LineConfig, Station, Tag
from workbench.live.reading import Quality, Reading, utcnow  # noqa: F401  (the adapters' vocabulary)
from workbench.units import as_quantity

from data_adapters.guard import GuardDecision, LastWrite, check_write

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArmedSession:
    """Permission to write: who, why, until when (UTC). Without one, every write is refused."""

    user: str
    reason: str
    expires: datetime
    trial_id: str | None = None

    def __post_init__(self):
        if not self.user or not self.user.strip():
            raise ValueError("ArmedSession needs a named user")
        if not self.reason or not self.reason.strip():
            raise ValueError("ArmedSession needs a reason (what the writes are for)")
        if self.expires.tzinfo is None:
            raise ValueError("ArmedSession.expires must be timezone-aware (UTC)")

    @classmethod
    def for_minutes(cls, user: str, reason: str, minutes: float, trial_id: str | None = None) -> "ArmedSession":
        return cls(user, reason, utcnow() + timedelta(minutes=minutes), trial_id)

    def is_armed(self, now: datetime) -> bool:
        return now < self.expires


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one write attempt (also what the audit log stores)."""

    path: str
    requested: float
    units: str
    accepted: bool
    result: str  # "written" | "refused" | "failed"
    message: str
    old_value: float | None = None
    written: float | None = None
    readback: float | None = None
    audit_seq: int | None = None


class WriteRefused(PermissionError):
    """A write that the guard or the transport refused. ``.result`` holds the audited WriteResult."""

    def __init__(self, result: WriteResult):
        super().__init__(f"write to {result.path} refused: {result.message}")
        self.result = result


class BackendError(ConnectionError):
    """The transport failed (disconnected, timed out, server refused)."""


ReadingCallback = Callable[[Reading], Any]


@runtime_checkable
class Backend(Protocol):
    """What a transport must provide. Values are in the tag's configured units."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def read(self, paths: list[str]) -> dict[str, Reading]: ...

    async def subscribe(self, paths: list[str], on_reading: ReadingCallback) -> Any: ...

    async def unsubscribe(self, handle: Any) -> None: ...

    async def write(self, path: str, value: float) -> None: ...

    @property
    def connected(self) -> bool: ...


def enqueue_latest(queue: asyncio.Queue, reading: Reading) -> None:
    """Put a reading on a bounded queue; when full, drop the oldest (the dashboard wants the present)."""
    try:
        queue.put_nowait(reading)
    except asyncio.QueueFull:
        queue.get_nowait()
        queue.put_nowait(reading)


async def deliver_from(queue: asyncio.Queue, on_reading: ReadingCallback) -> None:
    """Hand queued readings to a subscriber forever; a failing subscriber is logged, never raised."""
    while True:
        r = await queue.get()
        try:
            await on_reading(r)
        except Exception:
            log.exception("subscriber failed for %s", r.path)


async def wait_set(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set (True) or ``timeout`` seconds pass (False): a backend's link-up wait."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except asyncio.TimeoutError:
        return False


class LocalSubscribers:
    """The subscriber table of a backend that delivers readings itself (replay, REST polling, the sim):
    ``subscribe`` hands out a handle, ``unsubscribe`` forgets it, ``subscribers()`` lists who wants what."""

    def __init__(self) -> None:
        self._subs: dict[int, tuple[list[str], ReadingCallback]] = {}
        self._next = 0

    def subscribers(self) -> list[tuple[int, list[str], ReadingCallback]]:
        return [(h, paths, cb) for h, (paths, cb) in list(self._subs.items())]

    async def subscribe(self, paths: list[str], on_reading: ReadingCallback) -> int:
        self._next += 1
        self._subs[self._next] = (list(paths), on_reading)
        return self._next

    async def unsubscribe(self, handle: int) -> None:
        self._subs.pop(handle, None)


@dataclass
class Subscription:
    """Handle of an active subscription; ``await sub.cancel()`` stops it."""

    adapter: "Adapter"
    paths: list[str]
    handle: Any = None
    active: bool = True

    async def cancel(self) -> None:
        if self.active:
            self.active = False
            await self.adapter._unsubscribe(self)


class Adapter:
    """A station (or a whole line) behind one backend, with the shared parts done once.

    ``tags`` come from the line config; ``audit`` is an :class:`data_adapters.audit.AuditLog`
    (required for writes: without one every write is refused, deny by default).
    """

    def __init__(self, tags: Iterable[Tag], backend: Backend, *, audit=None, name: str = "adapter",
                 clock: Callable[[], datetime] = utcnow):
        self._tags: dict[str, Tag] = {t.path: t for t in tags}
        self.backend = backend
        self.audit = audit
        self.name = name
        self.clock = clock
        self._last_writes: dict[str, LastWrite] = {}
        self._read_error: str | None = None
        self._write_lock = asyncio.Lock()
        self.bad_values: dict[str, int] = {}  # tag -> PLC bad-value codes received (read as bad quality)

    # --- construction helpers ------------------------------------------------------------------
    @classmethod
    def for_station(cls, station: Station, backend: Backend, **kw) -> "Adapter":
        return cls(station.tags, backend, name=station.name, **kw)

    @classmethod
    def for_line(cls, line: LineConfig, backend: Backend, **kw) -> "Adapter":
        return cls(line.tags.values(), backend, name=line.name, **kw)

    async def __aenter__(self) -> "Adapter":
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def connect(self) -> None:
        await self.backend.connect()

    async def close(self) -> None:
        await self.backend.close()

    @property
    def connected(self) -> bool:
        return bool(self.backend.connected)

    # --- protocol ------------------------------------------------------------------------------
    def describe(self) -> dict[str, Tag]:
        """The tags this adapter serves, by ISA-95 path (config objects with units and limits)."""
        return dict(self._tags)

    def _known(self, paths: Iterable[str] | None) -> list[str]:
        if paths is None:
            return list(self._tags)
        paths = list(paths)
        unknown = [p for p in paths if p not in self._tags]
        if unknown:
            raise KeyError(f"{self.name}: unknown tag(s) {unknown[:3]}; see adapter.describe() for valid paths")
        return paths

    def _disconnected(self, path: str) -> Reading:
        now = self.clock()
        return Reading(path, math.nan, self._tags[path].units, now, Quality.DISCONNECTED, now)

    def qualify(self, reading: Reading, now: datetime | None = None) -> Reading:
        """Mark a good reading stale when older than the tag's ``stale_after_s``, and bad when its value is
        a PLC bad-value code (:mod:`workbench.badvalues`; counted per tag in :attr:`bad_values`)."""
        tag = self._tags.get(reading.path)
        if tag is None or reading.quality is not Quality.GOOD:
            return reading
        if is_bad_reading(reading.value):
            self.bad_values[reading.path] = self.bad_values.get(reading.path, 0) + 1
            return replace(reading, value=math.nan, quality=Quality.BAD)
        if reading.age(now or self.clock()) > tag.stale_after_s:
            return replace(reading, quality=Quality.STALE)
        return reading

    async def read(self, paths: Iterable[str] | None = None) -> dict[str, Reading]:
        """Read current values; never raises on a lost connection (readings say ``disconnected``)."""
        paths = self._known(paths)
        try:
            raw = await self.backend.read(paths)
        except (BackendError, OSError, asyncio.TimeoutError) as exc:
            log.warning("%s: read failed, marking %d tag(s) disconnected: %s", self.name, len(paths), exc)
            return {p: self._disconnected(p) for p in paths}
        now = self.clock()
        return {p: self.qualify(raw[p], now) if p in raw else self._disconnected(p) for p in paths}

    async def subscribe(self, paths: Iterable[str] | None, callback: ReadingCallback) -> Subscription:
        """Call ``callback(reading)`` for every new value; exceptions in the callback are logged, not raised."""
        paths = self._known(paths)
        sub = Subscription(self, paths)

        async def deliver(reading: Reading) -> None:
            if not sub.active:
                return
            try:
                out = callback(self.qualify(reading))
                if inspect.isawaitable(out):
                    await out
            except Exception:  # the dashboard must never die of a bad callback
                log.exception("%s: subscriber callback failed for %s", self.name, reading.path)

        sub.handle = await self.backend.subscribe(paths, deliver)
        return sub

    async def _unsubscribe(self, sub: Subscription) -> None:
        await self.backend.unsubscribe(sub.handle)

    # --- write path: deny by default -----------------------------------------------------------
    def _coerce(self, tag: Tag, value: Any) -> float:
        if isinstance(value, pint.Quantity):
            return float(as_quantity(value).to(tag.units).magnitude)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"value for {tag.path} must be a number in {tag.units} or a pint Quantity, got {value!r}")
        return float(value)

    async def _current(self, tag: Tag) -> float | None:
        """The setpoint's present value as the station reports it (None when it cannot be read)."""
        try:
            got = await self.backend.read([tag.path])
        except (BackendError, OSError, asyncio.TimeoutError) as exc:
            self._read_error = f"{type(exc).__name__}: {exc}"
            return None
        self._read_error = None
        r = got.get(tag.path)
        if r is None or r.quality in (Quality.DISCONNECTED, Quality.BAD) or math.isnan(r.value):
            return None
        return r.value

    def check(self, path: str, value: Any, *, session: ArmedSession | None, current: float | None,
              now: datetime | None = None) -> GuardDecision:
        """The guard's verdict without writing (pure; for dry runs). See :func:`data_adapters.guard.check_write`."""
        tag = self._tags.get(path)
        now = now or self.clock()
        return check_write(tag, path, value, session=session, current=current,
                           last=self._last_writes.get(path), now=now, audit_available=self.audit is not None)

    async def write(self, path: str, value: Any, *, session: ArmedSession | None) -> WriteResult:
        """Write a setpoint, guarded and audited; raises :class:`WriteRefused` unless written.

        Order: look up the tag, read the current value, ask the guard, write, read back, append the
        audit entry (durably) and only then reply. Refusals and failures are audited too.
        """
        async with self._write_lock:
            tag = self._tags.get(path)
            now = self.clock()
            units = tag.units if tag else "?"
            try:
                requested = self._coerce(tag, value) if tag else float(value)
            except (TypeError, ValueError, pint.DimensionalityError) as exc:
                return self._finish(WriteResult(path, math.nan, units, False, "refused", str(exc)), session, raise_=True)
            current = await self._current(tag) if tag else None
            decision = self.check(path, requested, session=session, current=current, now=now)
            if not decision.ok:
                reason = decision.reason
                if decision.rule == "readback" and self._read_error:
                    reason = f"{reason} ({self._read_error})"  # e.g. the server refused our login
                res = WriteResult(path, requested, units, False, "refused", reason, old_value=current)
                return self._finish(res, session, raise_=True)
            try:
                await self.backend.write(path, requested)
            except Exception as exc:  # transport or server refusal
                res = WriteResult(path, requested, units, False, "failed",
                                  f"transport refused or failed: {type(exc).__name__}: {exc}", old_value=current)
                return self._finish(res, session, raise_=True)
            # the time the station has it (a write can be held in transit): the next rate check measures
            # from here, so two writes can never reach the station closer together than max_rate allows
            self._last_writes[path] = LastWrite(requested, max(now, self.clock()))
            readback = await self._current(tag)
            ok = readback is not None and math.isclose(readback, requested, rel_tol=1e-6, abs_tol=1e-9)
            msg = "written; readback matches" if ok else f"written; readback {readback} differs from request"
            res = WriteResult(path, requested, units, True, "written", msg, old_value=current,
                              written=requested, readback=readback)
            return self._finish(res, session, raise_=False)

    def _finish(self, res: WriteResult, session: ArmedSession | None, *, raise_: bool) -> WriteResult:
        if self.audit is not None:
            seq = self.audit.append(res, session=session, now=self.clock())
            res = replace(res, audit_seq=seq)
        else:
            log.error("%s: write attempt to %s with no audit log configured: %s", self.name, res.path, res.message)
        if raise_:
            raise WriteRefused(res)
        return res


CallbackLike = Callable[[Reading], Any] | Callable[[Reading], Awaitable[Any]]

__all__ = [
    "Quality",
    "Reading",
    "ArmedSession",
    "WriteResult",
    "WriteRefused",
    "BackendError",
    "Backend",
    "Adapter",
    "Subscription",
    "enqueue_latest",
    "deliver_from",
    "utcnow",
]

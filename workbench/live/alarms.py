"""ISA-18.2-style alarms as a state machine: raise/clear from detectors, acknowledge and shelve by a
named user, a bounded journal. Every transition takes the time it happens at (no hidden clock).

States of an :class:`Alarm`: 'active' -> 'acknowledged' (by a user) -> 'closed' (condition cleared), or
'active' -> 'cleared' (returned to normal, not yet acknowledged) -> 'closed' (acknowledged). 'shelved'
hides an alarm for a while; the shelve ends when :meth:`AlarmList.expire_shelves` passes its end time
(the live store calls it on every refresh) or when a user unshelves it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from workbench.live.buffer import LiveError


@dataclass
class Alarm:
    """One alarm of one tag and kind. ``state`` is 'active', 'acknowledged', 'cleared' (returned to
    normal, not yet acknowledged), 'shelved' or 'closed' (cleared and acknowledged: history only)."""

    id: int
    tag: str
    station: str
    kind: str  # high_high | high | low | low_low | spc_cusum | stale | disconnected
    priority: str  # high | medium | low
    message: str
    value: float
    limit: float | None
    raised_at: datetime
    active: bool = True
    acked_by: str | None = None
    acked_at: datetime | None = None
    cleared_at: datetime | None = None
    shelved_by: str | None = None
    shelved_until: datetime | None = None
    shelve_reason: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.tag, self.kind)

    def is_shelved(self, now: datetime) -> bool:
        return self.shelved_until is not None and now < self.shelved_until

    @property
    def state(self) -> str:
        if self.shelved_until is not None:
            return "shelved"
        if self.active:
            return "acknowledged" if self.acked_by else "active"
        return "closed" if self.acked_by else "cleared"


@dataclass(frozen=True)
class AlarmEvent:
    """One line of the alarm history (journal)."""

    at: datetime
    alarm_id: int
    tag: str
    kind: str
    action: str  # raised | acknowledged | cleared | shelved | unshelved | closed
    user: str | None = None
    detail: str = ""


def _check_user(user: Any, what: str) -> str:
    if not isinstance(user, str) or not user.strip():
        raise LiveError(f"{what} needs the operator's user name (a non-empty string), got {user!r}")
    return user.strip()


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(timezone.utc)


class AlarmList:
    """The alarm list of a line: raise/clear from detectors, acknowledge/shelve by a named user.

    Bounded: the history keeps the newest ``history_size`` events. Thread-safe.

    >>> al = AlarmList()
    >>> t = datetime(2026, 1, 5, tzinfo=timezone.utc)
    >>> a = al.raise_alarm("p/a/l/s/x", "s", "high", 5.0, 4.0, t, message="x high")
    >>> al.acknowledge(a.id, "maria", now=t).state
    'acknowledged'
    >>> al.shelve(a.id, "maria", minutes=30, now=t).state
    'shelved'
    >>> [e.action for e in al.expire_shelves(t + timedelta(minutes=31))], a.state
    (['unshelved'], 'acknowledged')
    """

    def __init__(self, history_size: int = 2000):
        self._by_key: dict[tuple[str, str], Alarm] = {}  # open alarms (not closed)
        self._by_id: dict[int, Alarm] = {}
        self.history: deque[AlarmEvent] = deque(maxlen=history_size)
        self._next_id = 1
        self._lock = threading.RLock()
        self.version = 0

    def _log(self, alarm: Alarm, action: str, at: datetime, user: str | None = None, detail: str = "") -> AlarmEvent:
        event = AlarmEvent(at, alarm.id, alarm.tag, alarm.kind, action, user, detail)
        self.history.append(event)
        self.version += 1
        return event

    def raise_alarm(self, tag: str, station: str, kind: str, value: float, limit: float | None, at: datetime,
                    *, message: str, priority: str = "medium") -> Alarm:
        """Activate the alarm (tag, kind); a no-op returning the open one if it is already active."""
        with self._lock:
            open_ = self._by_key.get((tag, kind))
            if open_ is not None and open_.active:
                open_.value = value
                return open_
            if open_ is not None:  # cleared but unacknowledged, then active again: same alarm re-annunciates
                open_.active, open_.cleared_at, open_.acked_by, open_.acked_at = True, None, None, None
                open_.value, open_.raised_at, open_.message = value, at, message
                self._log(open_, "raised", at, detail=message)
                return open_
            alarm = Alarm(self._next_id, tag, station, kind, priority, message, value, limit, at)
            self._next_id += 1
            self._by_key[alarm.key] = alarm
            self._by_id[alarm.id] = alarm
            self._log(alarm, "raised", at, detail=message)
            self._trim()
            return alarm

    def clear_alarm(self, tag: str, kind: str, at: datetime) -> Alarm | None:
        """The condition returned to normal: acknowledged alarms close, others wait for an acknowledgement."""
        with self._lock:
            alarm = self._by_key.get((tag, kind))
            if alarm is None or not alarm.active:
                return None
            alarm.active, alarm.cleared_at = False, at
            self._log(alarm, "cleared", at)
            if alarm.acked_by:
                self._close(alarm, at)
            return alarm

    def _close(self, alarm: Alarm, at: datetime) -> None:
        self._by_key.pop(alarm.key, None)
        self._log(alarm, "closed", at)

    def _trim(self) -> None:
        # keep closed alarms findable by id for a while, but bounded
        if len(self._by_id) > 4 * (self.history.maxlen or 2000):
            for aid in sorted(self._by_id)[: len(self._by_id) // 2]:
                if self._by_id[aid].key not in self._by_key or self._by_key[self._by_id[aid].key].id != aid:
                    del self._by_id[aid]

    def get(self, alarm_id: int) -> Alarm:
        try:
            return self._by_id[int(alarm_id)]
        except (KeyError, ValueError, TypeError):
            raise LiveError(f"no alarm with id {alarm_id!r}; see AlarmList.open() for current ids") from None

    def acknowledge(self, alarm_id: int, user: str, *, now: datetime | None = None) -> Alarm:
        """Acknowledge an open alarm in the name of ``user``; a cleared one then closes."""
        user = _check_user(user, "acknowledging an alarm")
        now = _now(now)
        with self._lock:
            alarm = self.get(alarm_id)
            if alarm.acked_by:
                return alarm
            alarm.acked_by, alarm.acked_at = user, now
            self._log(alarm, "acknowledged", now, user)
            if not alarm.active:
                self._close(alarm, now)
            return alarm

    def shelve(self, alarm_id: int, user: str, *, minutes: float = 60.0, reason: str = "",
               now: datetime | None = None) -> Alarm:
        """Shelve (hide from the active list) for ``minutes``; :meth:`expire_shelves` ends it when the time is up."""
        user = _check_user(user, "shelving an alarm")
        if not (isinstance(minutes, (int, float)) and 0 < minutes <= 24 * 60):
            raise LiveError(f"shelve minutes must be in (0, 1440], got {minutes!r}")
        now = _now(now)
        with self._lock:
            alarm = self.get(alarm_id)
            alarm.shelved_by, alarm.shelved_until = user, now + timedelta(minutes=minutes)
            alarm.shelve_reason = reason
            self._log(alarm, "shelved", now, user, f"for {minutes:g} min {reason}".strip())
            return alarm

    def unshelve(self, alarm_id: int, user: str, *, now: datetime | None = None) -> Alarm:
        user = _check_user(user, "unshelving an alarm")
        now = _now(now)
        with self._lock:
            alarm = self.get(alarm_id)
            alarm.shelved_by = alarm.shelved_until = alarm.shelve_reason = None
            self._log(alarm, "unshelved", now, user)
            return alarm

    def expire_shelves(self, now: datetime) -> list[AlarmEvent]:
        """End every shelve whose time is up at ``now`` (the journal says so); returns those events."""
        with self._lock:
            done = [a for a in self._by_id.values() if a.shelved_until is not None and now >= a.shelved_until]
            events = []
            for alarm in done:
                alarm.shelved_by = alarm.shelved_until = alarm.shelve_reason = None
                events.append(self._log(alarm, "unshelved", now, detail="shelve time over"))
            return events

    def open(self) -> list[Alarm]:
        """Every alarm not yet closed (active, acknowledged, cleared-unacknowledged, shelved), newest first."""
        with self._lock:
            return sorted(self._by_key.values(), key=lambda a: a.raised_at, reverse=True)

    def active(self, now: datetime | None = None) -> list[Alarm]:
        """Open alarms an operator must see: not shelved (active, acknowledged or cleared-unacked)."""
        now = _now(now)
        return [a for a in self.open() if not a.is_shelved(now)]

    def shelved(self, now: datetime | None = None) -> list[Alarm]:
        now = _now(now)
        return [a for a in self.open() if a.is_shelved(now)]

    def unacknowledged(self, now: datetime | None = None) -> list[Alarm]:
        return [a for a in self.active(now) if not a.acked_by]


__all__ = ["Alarm", "AlarmEvent", "AlarmList"]

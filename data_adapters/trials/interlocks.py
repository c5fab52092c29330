"""Interlocks: conditions on live tags that pause or abort a trial, with hysteresis and a readable reason.

:class:`InterlockState` is the pure state machine (feed it readings and the station time); the
bluesky glue (:class:`InterlockSignal` + :class:`InterlockSuspender`) turns a *pause* interlock into a
bluesky suspender: the run suspends when it trips and resumes from the last checkpoint when it clears.

>>> from datetime import datetime, timedelta, timezone
>>> from data_adapters.trials.plan import Interlock
>>> il = Interlock(name="dew point", tag="p/a/l/s/dew", above=-43.7, hysteresis=0.5, action="pause")
>>> st = InterlockState(il, units="degC")
>>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> st.update(-42.0, True, t0)
True
>>> st.reason
'dew point: dew = -42 degC above -43.7 degC (clears at or below -44.2 degC)'
>>> st.update(-43.9, True, t0 + timedelta(seconds=5)), st.update(-44.3, True, t0 + timedelta(seconds=6))
(True, False)
"""

from __future__ import annotations

import math
import threading
from datetime import datetime

from bluesky.suspenders import SuspenderBase

from data_adapters.trials.plan import Interlock


class InterlockState:
    """Trip/clear logic of one interlock, in station time. ``tripped`` and ``reason`` describe it."""

    def __init__(self, spec: Interlock, units: str = ""):
        self.spec = spec
        self.units = units
        self.tripped = False
        self.reason = ""
        self.value = math.nan
        self._out_since: datetime | None = None
        self._in_since: datetime | None = None
        self._last_good: datetime | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def _outside(self, v: float, margin: float) -> str | None:
        s, short = self.spec, self.spec.tag.rsplit("/", 1)[-1]
        if s.above is not None and v > s.above - margin:
            return f"{short} = {v:g} {self.units} above {s.above:g} {self.units}"
        if s.below is not None and v < s.below + margin:
            return f"{short} = {v:g} {self.units} below {s.below:g} {self.units}"
        return None

    def _clears(self) -> str:
        s, parts = self.spec, []
        if s.above is not None:
            parts.append(f"at or below {s.above - s.hysteresis:g} {self.units}")
        if s.below is not None:
            parts.append(f"at or above {s.below + s.hysteresis:g} {self.units}")
        return " and ".join(parts)

    def update(self, value: float, good: bool, now: datetime) -> bool:
        """Feed one reading (value in tag units, quality good?) at station time ``now``; returns ``tripped``."""
        if not good or not math.isfinite(value):
            return self.check_stale(now)
        self.value = value
        self._last_good = now
        if not self.tripped:
            out = self._outside(value, 0.0)
            if out is None:
                self._out_since = None
                return False
            self._out_since = self._out_since or now
            held = (now - self._out_since).total_seconds()
            if held >= self.spec.for_s:
                self.tripped = True
                extra = f" for {held:.0f} s" if self.spec.for_s else ""
                self.reason = f"{self.name}: {out}{extra} (clears {self._clears()})"
                self._in_since = None
            return self.tripped
        # tripped: clear only inside the limits by the hysteresis, for clear_after_s
        if self._outside(value, self.spec.hysteresis) is not None:
            self._in_since = None
            return True
        self._in_since = self._in_since or now
        if (now - self._in_since).total_seconds() >= self.spec.clear_after_s:
            self.tripped, self.reason, self._out_since = False, "", None
        return self.tripped

    def check_stale(self, now: datetime) -> bool:
        """Trip when no good reading arrived for ``stale_after_s`` (call periodically)."""
        limit = self.spec.stale_after_s
        if limit is None:
            return self.tripped
        if self._last_good is None:
            self._last_good = now  # the clock starts when the interlock is armed
        age = (now - self._last_good).total_seconds()
        if age > limit and not self.tripped:
            self.tripped = True
            self.reason = f"{self.name}: no good reading of {self.spec.tag} for {age:.0f} s (limit {limit:g} s)"
        return self.tripped


class InterlockSignal:
    """The minimal ophyd-like signal bluesky suspenders watch: ``subscribe``/``clear_sub``, value = tripped."""

    def __init__(self, name: str):
        self.name = name
        self.value = False
        self._subs: list = []
        self._lock = threading.Lock()

    def subscribe(self, callback, event_type=None, run=True):
        with self._lock:
            self._subs.append(callback)
        if run:
            callback(value=self.value, obj=self)
        return callback

    def clear_sub(self, callback, event_type=None):
        with self._lock:
            if callback in self._subs:
                self._subs.remove(callback)

    def put(self, value: bool) -> None:
        self.value = bool(value)
        with self._lock:
            subs = list(self._subs)
        for cb in subs:
            cb(value=self.value, obj=self)


class InterlockSuspender(SuspenderBase):
    """A bluesky suspender over an :class:`InterlockState`: suspend while tripped, say why."""

    def __init__(self, state: InterlockState, signal: InterlockSignal, *, sleep: float = 0.0):
        super().__init__(signal, sleep=sleep, tripped_message=state.reason)
        self.state = state

    def _should_suspend(self, value):
        return bool(value)

    def _should_resume(self, value):
        return not value

    def _get_justification(self):
        return f"interlock {self.state.reason}" if self.state.reason else "interlock tripped"


__all__ = ["InterlockState", "InterlockSignal", "InterlockSuspender"]

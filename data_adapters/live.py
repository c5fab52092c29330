"""The live data path of a dashboard server: one acquisition task, bounded shared buffers, detectors, alarms.

One :class:`Acquisition` per server process subscribes through the station adapters of the configured line
and feeds one :class:`LiveStore`. The store keeps, per tag, a ring buffer of (source time, value, quality),
the data freshness (when the last value arrived), and runs the online detectors in the same pass: alarm
limits from the line config and the streaming SPC detectors of :mod:`workbench.spc` on every tag with spec
limits. Alarms follow ISA-18.2 (active -> acknowledged -> cleared, shelving with a user name, history).
Browser sessions only *read* from the store; nothing here imports Panel, so all of it is testable without
a browser.

Example
-------
>>> from datetime import datetime, timezone
>>> from workbench.config import load_line_config, default_config_path
>>> from data_adapters.base import Reading
>>> store = LiveStore(load_line_config(default_config_path()), capacity=100)
>>> t = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)
>>> store.ingest(Reading("plant1/dryroom/room1/hygrometer/frost_point_s1", -38.0, "degC", t), now=t)
>>> [(a.tag, a.kind, a.state) for a in store.alarms.active()]
[('plant1/dryroom/room1/hygrometer/frost_point_s1', 'high', 'active')]
"""

from __future__ import annotations

import abc
import asyncio
import logging
import math
import os
import threading
import warnings
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from workbench.config import LineConfig, Station, Tag, default_config_path, load_line_config

from data_adapters.base import Adapter, Quality, Reading, utcnow

log = logging.getLogger(__name__)

QUALITY_CODES = {q: i for i, q in enumerate(Quality)}
QUALITY_OF = {i: q for q, i in QUALITY_CODES.items()}


class LiveError(ValueError):
    """Bad input to the live data path (capacity, user name, unknown alarm or tag)."""


# --- ring buffer ----------------------------------------------------------------------------------------
class TagBuffer:
    """A fixed-size ring buffer of one tag: source time (epoch seconds, UTC), value, quality code.

    Memory is allocated once; the oldest sample is overwritten when full (bounded by design).

    >>> b = TagBuffer(3)
    >>> for i in range(5):
    ...     b.append(float(i), 10.0 * i, Quality.GOOD)
    >>> b.arrays()[1].tolist(), len(b)
    ([20.0, 30.0, 40.0], 3)
    """

    def __init__(self, capacity: int):
        if not isinstance(capacity, int) or capacity < 2:
            raise LiveError(f"buffer capacity must be an integer >= 2 samples, got {capacity!r}")
        self.capacity = capacity
        self._t = np.full(capacity, np.nan)
        self._v = np.full(capacity, np.nan)
        self._q = np.zeros(capacity, dtype=np.int8)
        self._n = 0  # samples ever appended

    def __len__(self) -> int:
        return min(self._n, self.capacity)

    def append(self, t: float, value: float, quality: Quality) -> None:
        i = self._n % self.capacity
        self._t[i], self._v[i], self._q[i] = t, value, QUALITY_CODES[quality]
        self._n += 1

    @property
    def total(self) -> int:
        """Samples appended since start (grows; the buffer itself does not)."""
        return self._n

    def arrays(self, last: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of (time s, value, quality code), oldest first; ``last`` limits to the newest n."""
        n = len(self)
        if self._n <= self.capacity:
            idx = np.arange(n)
        else:
            start = self._n % self.capacity
            idx = (np.arange(n) + start) % self.capacity
        if last is not None:
            idx = idx[-last:]
        return self._t[idx].copy(), self._v[idx].copy(), self._q[idx].copy()

    def since(self, total_before: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The samples appended after ``total`` was ``total_before`` (at most a full buffer)."""
        new = min(self._n - total_before, len(self))
        if new <= 0:
            return np.empty(0), np.empty(0), np.empty(0, dtype=np.int8)
        return self.arrays(last=new)


# --- alarms (ISA-18.2 style) ----------------------------------------------------------------------------
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
        if self.shelved_until is not None and utcnow() < self.shelved_until:
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


class AlarmList:
    """The alarm list of a line: raise/clear from detectors, acknowledge/shelve by a named user.

    Bounded: the history keeps the newest ``history_size`` events. Thread-safe.

    >>> al = AlarmList()
    >>> t = datetime(2026, 1, 5, tzinfo=timezone.utc)
    >>> a = al.raise_alarm("p/a/l/s/x", "s", "high", 5.0, 4.0, t, message="x high")
    >>> al.acknowledge(a.id, "maria", now=t).state
    'acknowledged'
    """

    def __init__(self, history_size: int = 2000):
        self._by_key: dict[tuple[str, str], Alarm] = {}  # open alarms (not closed)
        self._by_id: dict[int, Alarm] = {}
        self.history: deque[AlarmEvent] = deque(maxlen=history_size)
        self._next_id = 1
        self._lock = threading.RLock()
        self.version = 0

    def _log(self, alarm: Alarm, action: str, at: datetime, user: str | None = None, detail: str = "") -> None:
        self.history.append(AlarmEvent(at, alarm.id, alarm.tag, alarm.kind, action, user, detail))
        self.version += 1

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
        now = now or utcnow()
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
        """Shelve (hide from the active list) for ``minutes``; it returns by itself when the time is up."""
        user = _check_user(user, "shelving an alarm")
        if not (isinstance(minutes, (int, float)) and 0 < minutes <= 24 * 60):
            raise LiveError(f"shelve minutes must be in (0, 1440], got {minutes!r}")
        now = now or utcnow()
        with self._lock:
            alarm = self.get(alarm_id)
            alarm.shelved_by, alarm.shelved_until = user, now + timedelta(minutes=minutes)
            alarm.shelve_reason = reason
            self._log(alarm, "shelved", now, user, f"for {minutes:g} min {reason}".strip())
            return alarm

    def unshelve(self, alarm_id: int, user: str, *, now: datetime | None = None) -> Alarm:
        user = _check_user(user, "unshelving an alarm")
        now = now or utcnow()
        with self._lock:
            alarm = self.get(alarm_id)
            alarm.shelved_by = alarm.shelved_until = alarm.shelve_reason = None
            self._log(alarm, "unshelved", now, user)
            return alarm

    def open(self, now: datetime | None = None) -> list[Alarm]:
        """Every alarm not yet closed (active, acknowledged, cleared-unacknowledged, shelved), newest first."""
        with self._lock:
            return sorted(self._by_key.values(), key=lambda a: a.raised_at, reverse=True)

    def active(self, now: datetime | None = None) -> list[Alarm]:
        """Open alarms an operator must see: not shelved (active, acknowledged or cleared-unacked)."""
        now = now or utcnow()
        return [a for a in self.open() if not a.is_shelved(now)]

    def shelved(self, now: datetime | None = None) -> list[Alarm]:
        now = now or utcnow()
        return [a for a in self.open() if a.is_shelved(now)]

    def unacknowledged(self, now: datetime | None = None) -> list[Alarm]:
        return [a for a in self.active(now) if not a.acked_by]


# --- per-tag detectors ----------------------------------------------------------------------------------
@dataclass
class ChangePoint:
    """A shift found online by the FOCuS detector: where it began (``since``) and when it was signalled."""

    tag: str
    station: str
    since: datetime
    signalled_at: datetime
    shift: float
    units: str


def _pretty(units: str) -> str:
    """Units as an operator reads them: mg/cm², °C, µΩ."""
    from workbench.units import ureg

    try:
        text = f"{ureg.Unit(units):~P}"
    except Exception:  # unusual but valid unit strings: show as written
        text = units
    return text.replace("uohm", "µΩ")


def _limit_deadband(tag: Tag) -> float:
    return 2.0 * tag.resolution if tag.resolution else 0.0


class LimitDetector:
    """Alarm limits (low_low/low/high/high_high) from the line config, with a deadband against chatter.

    ``update(value)`` -> {kind: active?} for every configured limit.
    """

    ORDER = (("high_high", "high", "high"), ("high", "high", "medium"),
             ("low", "low", "medium"), ("low_low", "low", "high"))

    def __init__(self, tag: Tag):
        self.tag = tag
        self.deadband = _limit_deadband(tag)
        self.state: dict[str, bool] = {}

    def limits(self) -> list[tuple[str, float, str, str]]:
        lim = self.tag.alarm
        out = []
        for kind, side, prio in self.ORDER:
            v = getattr(lim, kind) if lim else None
            if v is not None:
                out.append((kind, v, side, prio))
        return out

    def update(self, value: float) -> dict[str, bool]:
        if not math.isfinite(value):
            return dict(self.state)
        for kind, limit, side, _ in self.limits():
            was = self.state.get(kind, False)
            if side == "high":
                now = value > limit if not was else value > limit - self.deadband
            else:
                now = value < limit if not was else value < limit + self.deadband
            self.state[kind] = now
        return dict(self.state)


def focus_shift(result: dict) -> float:
    """The estimated shift (data units) in a StreamingFocus result (key 'mean_shift'; 'shift' in early versions)."""
    return float(result["mean_shift"] if "mean_shift" in result else result["shift"])


class SpcMonitor:
    """Streaming SPC on one tag with spec limits: a CUSUM alarm and FOCuS change points.

    The FOCuS threshold is above the SPC default (6.08, ARL0 ~ 490 samples) because a line screen watches
    dozens of lanes at once: a change point there must be credible, not one false call per lane-hour.

    Phase I: the first ``warmup`` good samples estimate sigma from the average moving range (MR-bar/d2)
    and, where the spec gives no target, the mean; then :class:`workbench.spc.streaming.StreamingCusum`
    and :class:`~workbench.spc.streaming.StreamingFocus` take every sample.
    """

    # CUSUM k = 0.5 sigma with h for an in-control ARL of ~20,000 samples per tag: a line screen watches
    # dozens of tags, and the textbook h = 5 (ARL0 465) would alarm every few minutes across 24 lanes.
    # h from workbench.spc.arl.cusum_h_for_arl0(0.5, 20000) = 8.746; tests check cusum_arl(0.5, 8.75) >= 20000.
    CUSUM_K, CUSUM_H = 0.5, 8.75

    def __init__(self, tag: Tag, warmup: int = 100, focus_threshold: float = 9.0, settle: int = 20):
        self.tag, self.warmup, self.focus_threshold, self.settle = tag, warmup, focus_threshold, settle
        self._settling: list[float] | None = None
        self._seed: list[float] = []
        self.cusum = self.focus = None
        self.sigma = self.target = self.level = None

    def _start(self) -> None:
        import xarray as xr

        from workbench.spc import fit
        from workbench.spc.streaming import StreamingCusum

        with warnings.catch_warnings():  # a quantised seed below one step is floored at it (below, as always)
            warnings.simplefilter("ignore", UserWarning)
            limits = fit(xr.DataArray(np.asarray(self._seed), dims="time"), chart="imr",
                         resolution=self.tag.resolution or 1e-9)  # Phase I: MR-bar/d2
        self.sigma = max(float(limits.sigma_within), self.tag.resolution or 1e-9)
        spec = self.tag.spec
        self.target = spec.target if spec and spec.target is not None else float(limits.center)
        self.cusum = StreamingCusum(target=self.target, sigma=self.sigma, k=self.CUSUM_K, h=self.CUSUM_H,
                                    reset_on_alarm=False)
        self.level = self.target
        self.focus = self._new_focus(self.level)

    def _new_focus(self, level: float):
        from workbench.spc.streaming import StreamingFocus

        return StreamingFocus(target=level, sigma=self.sigma, threshold=self.focus_threshold, reset_on_alarm=True)

    def update(self, value: float, t: datetime) -> tuple[dict | None, dict | None]:
        """Feed one sample; returns (cusum result, focus result), both None during the warm-up."""
        if not math.isfinite(value):
            return None, None
        if self.cusum is None:
            self._seed.append(value)
            if len(self._seed) < self.warmup:
                return None, None
            self._start()
        ts = t.astimezone(timezone.utc).replace(tzinfo=None)
        cus = self.cusum.update(value, ts)
        if self._settling is not None:
            # after a change point, learn the new level from `settle` samples before looking again
            self._settling.append(value)
            if len(self._settling) >= self.settle:
                self.level = float(np.mean(self._settling))
                self._settling = None
                self.focus = self._new_focus(self.level)
            return cus, None
        foc = self.focus.update(value, ts)
        if foc["alarm"]:
            self._settling = []
        return cus, foc


# --- the store ------------------------------------------------------------------------------------------
@dataclass
class Latest:
    """The newest value of a tag as a dashboard should show it (quality includes freshness)."""

    path: str
    value: float
    units: str
    source_time: datetime | None
    quality: Quality
    age_s: float  # seconds since it arrived (math.inf if never)


@dataclass
class StationStatus:
    name: str
    title: str
    kind: str
    state: str  # running | stale | disconnected | waiting
    connected: bool
    freshness_s: float  # seconds since the newest value of any tag of the station arrived
    alarms: int
    unacked: int


class LiveStore:
    """Bounded shared buffers + freshness + detectors + alarms for every tag of a line.

    ``ingest`` is called by the acquisition task for each reading; ``refresh`` marks stale tags;
    ``mark_disconnected`` is called when a station's transport is lost. Sessions read with ``series``,
    ``latest``, ``station_status`` and ``alarms``. ``version`` grows on every change so a session can skip
    a refresh when nothing happened.
    """

    def __init__(self, line: LineConfig, *, capacity: int = 3600, spc: bool = True, spc_warmup: int = 100,
                 changepoint_history: int = 200, clock: Callable[[], datetime] = utcnow):
        if not isinstance(line, LineConfig):
            raise LiveError(f"LiveStore needs a LineConfig (workbench.config.load_line_config), got {type(line)}")
        self.line, self.clock = line, clock
        self.tags: dict[str, Tag] = line.tags
        self.station_of = {t.path: s.name for s in line.stations for t in s.tags}
        self.buffers = {p: TagBuffer(capacity) for p in self.tags}
        self._received: dict[str, datetime] = {}
        self._source: dict[str, datetime] = {}
        self._quality: dict[str, Quality] = {}
        self._stale: set[str] = set()
        self.connected: dict[str, bool] = {s.name: False for s in line.stations}
        self._disconnected_since: dict[str, datetime] = {}
        self.limits = {p: LimitDetector(t) for p, t in self.tags.items() if t.alarm}
        self.spc = {p: SpcMonitor(t, spc_warmup) for p, t in self.tags.items() if t.spec} if spc else {}
        self.alarms = AlarmList()
        self.changepoints: deque[ChangePoint] = deque(maxlen=changepoint_history)
        self.spc_signals: dict[str, deque] = {p: deque(maxlen=500) for p in self.spc}
        self._lock = threading.RLock()
        self.version = 0
        self.ingested = 0
        # where pages look up cells/lots/rolls and formation results (None: "no genealogy source configured")
        self.genealogy: GenealogySource | None = None

    # --- writers (acquisition side) -------------------------------------------------------------------
    def ingest(self, reading: Reading, now: datetime | None = None) -> None:
        """Store one reading and run its detectors. Unknown tags are ignored with a warning (config drift)."""
        path = reading.path
        buf = self.buffers.get(path)
        if buf is None:
            log.warning("live store: reading for unknown tag %s ignored (not in %s)", path, self.line.source)
            return
        now = now or self.clock()
        with self._lock:
            buf.append(reading.source_time.timestamp(), reading.value, reading.quality)
            self._received[path] = now
            self._source[path] = reading.source_time
            self._quality[path] = reading.quality
            station = self.station_of[path]
            if reading.quality is not Quality.DISCONNECTED:
                self.connected[station] = True
                self._recovered(station, now)
            if path in self._stale:
                self._stale.discard(path)
                self.alarms.clear_alarm(path, "stale", now)
            if reading.quality is Quality.GOOD:
                self._detect(path, station, reading.value, reading.source_time, now)
            self.version += 1
            self.ingested += 1

    def _detect(self, path: str, station: str, value: float, t: datetime, now: datetime) -> None:
        tag = self.tags[path]
        lim = self.limits.get(path)
        if lim is not None:
            before = dict(lim.state)
            after = lim.update(value)
            for kind, limit, _, prio in lim.limits():
                active = after.get(kind, False)
                if active and not before.get(kind):
                    word = "above" if kind.startswith("high") else "below"
                    self.alarms.raise_alarm(path, station, kind, value, limit, now, priority=prio,
                                            message=f"{tag.short_name} {value:.4g} {_pretty(tag.units)} {word} "
                                                    f"{kind.replace('_', '-')} limit {limit:g}")
                elif not active and before.get(kind):
                    self.alarms.clear_alarm(path, kind, now)
        mon = self.spc.get(path)
        if mon is not None:
            cus, foc = mon.update(value, t)
            if cus is not None:
                self.spc_signals[path].append((t.timestamp(), bool(cus["alarm"])))
                if cus["alarm"]:
                    side = "up" if cus["alarm_upper"] else "down"
                    self.alarms.raise_alarm(path, station, "spc_cusum", value, mon.target, now, priority="low",
                                            message=f"{tag.short_name}: CUSUM shift {side} from target "
                                                    f"{mon.target:.4g} {_pretty(tag.units)}")
                elif max(cus["upper"], cus["lower"]) < 0.5 * mon.CUSUM_H * mon.sigma:  # back well inside
                    self.alarms.clear_alarm(path, "spc_cusum", now)
            if foc is not None and foc["alarm"]:
                times = self.buffers[path].arrays(last=max(int(foc["since"]), 1))[0]
                since = datetime.fromtimestamp(float(times[0]), tz=timezone.utc) if len(times) else t
                self.changepoints.append(ChangePoint(path, station, since, t, focus_shift(foc), tag.units))

    def mark_disconnected(self, station: str, now: datetime | None = None, reason: str = "") -> None:
        """The transport of ``station`` is lost: its tags show 'disconnected' until data flows again."""
        now = now or self.clock()
        with self._lock:
            if station not in self.connected:
                raise LiveError(f"no station {station!r} in line {self.line.name!r}")
            if self.connected[station] or station not in self._disconnected_since:
                self.connected[station] = False
                self._disconnected_since[station] = now
                self.alarms.raise_alarm(f"{station}", station, "disconnected", math.nan, None, now, priority="high",
                                        message=f"{station}: connection lost {reason}".strip())
                self.version += 1

    def mark_connected(self, station: str, now: datetime | None = None) -> None:
        with self._lock:
            self.connected[station] = True
            self._recovered(station, now or self.clock())
            self.version += 1

    def _recovered(self, station: str, now: datetime) -> None:
        if self._disconnected_since.pop(station, None) is not None:
            self.alarms.clear_alarm(station, "disconnected", now)

    def refresh(self, now: datetime | None = None) -> list[str]:
        """Mark tags stale whose last value arrived more than ``stale_after_s`` ago; returns newly stale."""
        now = now or self.clock()
        newly = []
        with self._lock:
            for path, got in self._received.items():
                if path in self._stale or not self.connected.get(self.station_of[path], False):
                    continue
                if (now - got).total_seconds() > self.tags[path].stale_after_s:
                    self._stale.add(path)
                    newly.append(path)
            for station in {self.station_of[p] for p in newly}:
                paths = [p for p in newly if self.station_of[p] == station]
                self.alarms.raise_alarm(paths[0], station, "stale", math.nan, None, now, priority="low",
                                        message=f"{station}: no new data for {len(paths)} tag(s) "
                                                f"(e.g. {self.tags[paths[0]].short_name})")
            if newly:
                self.version += 1
        return newly

    # --- readers (sessions) ---------------------------------------------------------------------------
    def quality(self, path: str, now: datetime | None = None) -> Quality:
        """The quality to display: disconnected beats stale beats what the station said."""
        if not self.connected.get(self.station_of.get(path, ""), False):
            return Quality.DISCONNECTED
        if path in self._stale:
            return Quality.STALE
        got = self._received.get(path)
        if got is None:
            return Quality.DISCONNECTED
        if ((now or self.clock()) - got).total_seconds() > self.tags[path].stale_after_s:
            return Quality.STALE
        return self._quality.get(path, Quality.BAD)

    def latest(self, path: str, now: datetime | None = None) -> Latest:
        if path not in self.buffers:
            raise LiveError(f"no tag {path!r} in line {self.line.name!r}; see line.tags for valid paths")
        now = now or self.clock()
        with self._lock:
            buf = self.buffers[path]
            value = float(buf.arrays(last=1)[1][0]) if len(buf) else math.nan
            got = self._received.get(path)
            age = (now - got).total_seconds() if got else math.inf
            return Latest(path, value, self.tags[path].units, self._source.get(path), self.quality(path, now), age)

    def series(self, path: str, last: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source time s since epoch, value, quality code) of a tag, oldest first (copies)."""
        if path not in self.buffers:
            raise LiveError(f"no tag {path!r} in line {self.line.name!r}")
        with self._lock:
            return self.buffers[path].arrays(last)

    def since(self, path: str, total_before: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Samples of ``path`` appended after the buffer's ``total`` was ``total_before``, and the new total.

        A session keeps the total it last saw and streams only what is new (at most one buffer's worth).
        """
        if path not in self.buffers:
            raise LiveError(f"no tag {path!r} in line {self.line.name!r}")
        with self._lock:
            buf = self.buffers[path]
            t, v, q = buf.since(total_before)
            return t, v, q, buf.total

    def newest_source_time(self, station: str | None = None) -> datetime | None:
        """The newest source timestamp received (of one station's tags, or of any): the line's "now" as its
        own clock tells it, which runs ahead of wall time on a sped-up virtual line."""
        with self._lock:
            times = [t for p, t in self._source.items() if station is None or self.station_of[p] == station]
        return max(times) if times else None

    def latest_values(self, paths: Iterable[str]) -> np.ndarray:
        """The newest value of each path (NaN where none yet), in order."""
        with self._lock:
            out = np.full(len(list(paths := list(paths))), np.nan)
            for i, p in enumerate(paths):
                buf = self.buffers[p]
                if len(buf):
                    out[i] = buf._v[(buf.total - 1) % buf.capacity]
            return out

    def station_status(self, station: str | Station, now: datetime | None = None) -> StationStatus:
        st = station if isinstance(station, Station) else self.line.station(station)
        now = now or self.clock()
        with self._lock:
            times = [self._received[t.path] for t in st.tags if t.path in self._received]
            fresh = (now - max(times)).total_seconds() if times else math.inf
            stale_after = min(t.stale_after_s for t in st.tags)
            connected = self.connected.get(st.name, False)
            if not connected:
                state = "disconnected" if times or st.name in self._disconnected_since else "waiting"
            elif fresh > stale_after:
                state = "stale"
            else:
                state = "running"
            mine = [a for a in self.alarms.active(now) if a.station == st.name]
            return StationStatus(st.name, st.title or st.name, st.kind, state, connected, fresh, len(mine),
                                 sum(1 for a in mine if not a.acked_by))


# --- the acquisition task -------------------------------------------------------------------------------
WARM_START_H = 3.0  # the live line starts this far into the virtual line's day: cells are in formation


def sim_options_from_env(environ: dict | None = None) -> dict:
    """Options of the live virtual line from the environment (set by ``workbench demo``).

    ``WORKBENCH_SIM_SPEED`` (simulated s per s), ``WORKBENCH_SIM_SEED``, ``WORKBENCH_SIM_EVENTS`` (a YAML
    list of events with offsets from the moment the dashboard starts, such as ``{kind: dewpoint_excursion,
    start: 30s, end: 10min, magnitude: 9}``, or "none"; default: the virtual line's day of events).
    The live clock starts at the current wall-clock second, so source timestamps are real time and
    freshness means what it says; the virtual line's day began ``WARM_START_H`` hours earlier.

    >>> sim_options_from_env({"WORKBENCH_SIM_SPEED": "10"})["speed"]
    10.0
    """
    env = os.environ if environ is None else environ
    live_start = utcnow().replace(microsecond=0, tzinfo=None)
    opts: dict[str, Any] = {"live_start": live_start, "epoch": live_start - timedelta(hours=WARM_START_H)}
    if env.get("WORKBENCH_SIM_SPEED"):
        try:
            opts["speed"] = float(env["WORKBENCH_SIM_SPEED"])
        except ValueError:
            raise LiveError(f"WORKBENCH_SIM_SPEED must be a number (simulated s per s), "
                            f"got {env['WORKBENCH_SIM_SPEED']!r}") from None
    if env.get("WORKBENCH_SIM_SEED"):
        opts["seed"] = int(env["WORKBENCH_SIM_SEED"])
    events = env.get("WORKBENCH_SIM_EVENTS")
    if events:
        opts["events"] = None if events.lower() == "none" else load_events(events, live_start)
    return opts


def load_events(path: str | Path, live_start: datetime | None = None) -> list[dict]:
    """Injected events from a YAML list of mappings (kind, start, end, magnitude, ...).

    Offsets such as "30s" count from ``live_start`` (when the dashboard started) and are returned as
    absolute naive-UTC ISO times; absolute times are kept as written.
    """
    import pandas as pd
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LiveError(f"{path}: cannot read events file: {exc.strerror}") from None
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise LiveError(f"{path}: events file must be a YAML list of mappings with kind, start, end, magnitude")
    out = []
    for i, e in enumerate(raw):
        e = dict(e)
        for key in ("start", "end"):
            v = str(e.get(key, ""))
            if live_start is not None and v and not any(c in v for c in "-:T"):
                try:
                    e[key] = (pd.Timestamp(live_start) + pd.Timedelta(v)).isoformat()
                except ValueError:
                    raise LiveError(f"{path}: events[{i}].{key}: {v!r} is not a duration like 30s or 10min") from None
            elif v:
                e[key] = v
        out.append(e)
    return out


class _LiveFrom:
    """A virtual line whose live clock starts at ``live_start`` instead of at the line's epoch."""

    def __init__(self, vl: Any, live_start: datetime):
        self.vl, self.live_start = vl, live_start

    def live(self, speed: float = 1.0):
        return self.vl.live(speed=speed, start=self.live_start)


def live_sim_adapter(line: LineConfig, environ: dict | None = None) -> Adapter:
    """The sim adapter for a dashboard: live clock at wall-clock now, options from the environment."""
    from data_adapters.sim import sim_adapter
    from workbench.simulate import virtual_line

    opts = sim_options_from_env(environ)
    sims = [s.adapter for s in line.stations if s.adapter.kind == "sim"]
    seed = opts.get("seed", sims[0].seed if sims else 0)
    vl = virtual_line(seed=seed, start=opts["epoch"], events=opts.get("events", "default"), config=line)
    adapter = sim_adapter(line, seed=seed, speed=opts.get("speed"), vl=_LiveFrom(vl, opts["live_start"]))
    adapter.genealogy = VirtualLineGenealogy(vl)  # the virtual line knows its cells, lots and rolls
    return adapter


def adapters_for_line(line: LineConfig) -> list[tuple[list[str], Adapter]]:
    """The adapters that serve a line, as (station names, adapter): one per transport in the config.

    Sim stations share one in-process virtual line; other kinds are built by ``data_adapters.connect``.
    """
    out: list[tuple[list[str], Adapter]] = []
    sim_stations = [s.name for s in line.stations if s.adapter.kind == "sim"]
    if sim_stations:
        out.append((sim_stations, live_sim_adapter(line)))
    others = [s for s in line.stations if s.adapter.kind != "sim"]
    if others:
        from data_adapters.connect import open_line

        # one adapter per endpoint (stations on the same OPC UA server or broker share it)
        rest = open_line(line.model_copy(update={"stations": others}))
        shared: dict[int, tuple[list[str], Adapter]] = {}
        for station in others:
            adapter = rest.station(station.name)
            shared.setdefault(id(adapter), ([], adapter))[0].append(station.name)
        out.extend(shared.values())
    return out


class Acquisition:
    """The one acquisition task of a server process: adapters -> :class:`LiveStore`.

    ``await acq.start()`` connects every adapter and subscribes to all its tags; a watchdog (every
    ``watch_s`` seconds) marks stale tags, marks stations whose transport dropped as disconnected and
    retries the connection. ``await acq.stop()`` ends it. Failures never propagate to sessions.
    """

    def __init__(self, line: LineConfig, *, adapters: list[tuple[list[str], Adapter]] | None = None,
                 capacity: int = 3600, watch_s: float = 0.5, spc: bool = True):
        self.line = line
        self.store = LiveStore(line, capacity=capacity, spc=spc)
        self._adapters = adapters
        self.watch_s = watch_s
        self._tasks: list[asyncio.Task] = []
        self._subs: dict[int, Any] = {}
        self.started = False

    @property
    def adapters(self) -> list[tuple[list[str], Adapter]]:
        if self._adapters is None:
            self._adapters = adapters_for_line(self.line)
        if self.store.genealogy is None:
            self.store.genealogy = genealogy_source(self._adapters)
        return self._adapters

    async def start(self) -> "Acquisition":
        if self.started:
            return self
        self.started = True
        for stations, adapter in self.adapters:
            await self._connect(stations, adapter)
        self._tasks.append(asyncio.get_running_loop().create_task(self._watch(), name="live-watchdog"))
        return self

    async def _connect(self, stations: list[str], adapter: Adapter) -> bool:
        try:
            await adapter.connect()
            if id(adapter) not in self._subs:
                self._subs[id(adapter)] = await adapter.subscribe(None, self.store.ingest)
        except Exception as exc:  # a station down at start-up must not stop the dashboard
            log.warning("live: cannot connect %s: %s", adapter.name, exc)
            for s in stations:
                self.store.mark_disconnected(s, reason=f"({type(exc).__name__}: {exc})")
            return False
        for s in stations:
            self.store.mark_connected(s)
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_s)
            try:
                for stations, adapter in self.adapters:
                    if not adapter.connected:
                        for s in stations:
                            self.store.mark_disconnected(s)
                self.store.refresh()
            except Exception:
                log.exception("live: watchdog pass failed")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        for _, adapter in self.adapters:
            sub = self._subs.pop(id(adapter), None)
            try:
                if sub is not None:
                    await sub.cancel()
                await adapter.close()
            except Exception:
                log.exception("live: closing %s failed", adapter.name)
        self.started = False


# --- genealogy for the pages (exposed cells, weld vs DCIR, channel imbalance) ------------------------------
class GenealogySource(abc.ABC):
    """Where the live dashboard finds which cells, rolls and lots went where, and formation results.

    Two kinds: :class:`VirtualLineGenealogy` (the virtual line knows its own genealogy) and
    :class:`CatalogGenealogy` (a real line's history store catalog, kept by the recorder/MES import).
    Times are UTC (aware or naive); tables follow :mod:`workbench.trace`'s columns.
    """

    description = "genealogy"

    @abc.abstractmethod
    def cells(self, start: datetime, end: datetime) -> dict:
        """Genealogy tables ``{"cells", "welds", "rolls", "lots"}`` of the cells first welded in [start, end)."""

    @abc.abstractmethod
    def formation(self, start: datetime, end: datetime, racks: Iterable[int] | None = None):
        """Formation results (xarray Dataset, dim ``cell``: dcir mΩ, discharge_capacity A·h, coords cell_id,
        rack, channel, formation_end) of the cells whose formation ended in [start, end), on ``racks``."""


def _naive(t) -> "Any":
    import pandas as pd

    t = pd.Timestamp(t)
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t


class VirtualLineGenealogy(GenealogySource):
    """The genealogy of the virtual line the dashboard is fed by (computed on demand, deterministic).

    >>> from workbench.simulate import virtual_line
    >>> g = VirtualLineGenealogy(virtual_line(seed=0, events=None))
    >>> len(g.cells(datetime(2026, 1, 5, 7), datetime(2026, 1, 5, 8))["cells"])   # a cell every 40 s
    90
    """

    # a cell leaves its channel at most this long after its first weld (soak + formation; see genealogy.py)
    FORMATION_LAG = timedelta(hours=30)

    def __init__(self, vl: Any):
        self.vl = vl
        self.description = f"virtual line (seed {vl.seed}, day began {_naive(vl.start):%Y-%m-%d %H:%M:%S} UTC)"

    def _build(self, start, end):
        from workbench.simulate import genealogy

        t0, t1 = self.vl.seconds(_naive(start)), self.vl.seconds(_naive(end))
        if not t1 > t0:
            raise LiveError(f"genealogy window: end {end} is not after start {start}")
        return genealogy.build(self.vl, t0, t1), t0, t1

    def cells(self, start: datetime, end: datetime) -> dict:
        g, _, _ = self._build(start, end)
        return {k: g[k] for k in g.keys()}

    def formation(self, start: datetime, end: datetime, racks: Iterable[int] | None = None):
        """Formation results of the cells that left their channel in [start, end) (see the base class).

        >>> from workbench.simulate import virtual_line
        >>> g = VirtualLineGenealogy(virtual_line(seed=0, events=None))
        >>> f = g.formation(datetime(2026, 1, 5, 8), datetime(2026, 1, 5, 9), racks=[1, 2, 3, 4])
        >>> f.dcir.attrs["units"], bool((f.rack <= 4).all())
        ('mohm', True)
        """
        from workbench.simulate.formation import formation_results

        g, t0, t1 = self._build(_naive(start) - self.FORMATION_LAG, end)
        cells = g.cells if racks is None else g.cells[g.cells.rack.isin(list(racks))]
        ds = formation_results(cells, seed=self.vl.seed, events=self.vl.truth(t0, t1))
        ended = ds.formation_end.values
        keep = (ended >= np.datetime64(_naive(start))) & (ended < np.datetime64(_naive(end)))
        return ds.isel(cell=np.flatnonzero(keep))


class CatalogGenealogy(GenealogySource):
    """Genealogy and formation results from a history store's catalog (``workbench.history``), re-read
    when the catalog file changes. ``url``: the store (a folder or an fsspec URL).

    >>> import tempfile
    >>> from workbench.history.catalog import write_genealogy
    >>> from workbench.simulate import genealogy, virtual_line
    >>> store = tempfile.mkdtemp()
    >>> counts = write_genealogy(store, genealogy.build(virtual_line(seed=0, events=None), 0.0, 3600.0))
    >>> len(CatalogGenealogy(store).cells(datetime(2026, 1, 5, 6, 30), datetime(2026, 1, 5, 7))["cells"])
    45
    """

    def __init__(self, url: str | Path, storage_options: dict | None = None):
        self.url, self.storage_options = str(url), storage_options
        self.description = f"history store {self.url}"
        self._cache: tuple[Any, dict, Any] | None = None

    def _tables(self) -> tuple[dict, Any]:
        from workbench.history import load_genealogy, load_tables, views

        stamp = None
        local = Path(self.url) / "catalog.sqlite"
        if local.is_file():
            stamp = local.stat().st_mtime_ns
        if self._cache is None or stamp is None or self._cache[0] != stamp:
            gen = load_genealogy(self.url, storage_options=self.storage_options)
            try:
                form = views.formation_results_view(load_tables(
                    self.url, ["formation_results", "formation_units"], storage_options=self.storage_options))
            except Exception as exc:  # a store without formation results: the pages say why
                form = exc
            self._cache = (stamp, gen, form)
        return self._cache[1], self._cache[2]

    def cells(self, start: datetime, end: datetime) -> dict:
        gen, _ = self._tables()
        c = gen["cells"]
        when = c["weld_time"] if "weld_time" in c else c["dryroom_out"]
        c = c[(when >= _naive(start)) & (when < _naive(end))]
        out = {"cells": c}
        for name, key in (("welds", "cell_id"), ("rolls", "roll_id"), ("lots", "lot_id")):
            if name in gen:
                out[name] = gen[name][gen[name][key].isin(c[key])]
        return out

    def formation(self, start: datetime, end: datetime, racks: Iterable[int] | None = None):
        _, form = self._tables()
        if isinstance(form, Exception):
            raise LiveError(f"{self.url}: no formation results in the catalog ({form})")
        ended = form["formation_end"] if "formation_end" in form.variables else form["formation_start"]
        keep = (ended.values >= np.datetime64(_naive(start))) & (ended.values < np.datetime64(_naive(end)))
        if racks is not None:
            keep &= np.isin(form.rack.values, list(racks))
        return form.isel(cell=np.flatnonzero(keep))


def genealogy_source(adapters: Iterable[tuple[list[str], Adapter]] = (), environ: dict | None = None
                     ) -> GenealogySource | None:
    """The genealogy the dashboard uses: the history store in ``$WORKBENCH_GENEALOGY`` if set, else the
    virtual line behind a sim adapter, else None (the pages then say "no genealogy source configured").

    >>> genealogy_source([], environ={}) is None
    True
    """
    env = os.environ if environ is None else environ
    if env.get("WORKBENCH_GENEALOGY"):
        return CatalogGenealogy(env["WORKBENCH_GENEALOGY"])
    for _, adapter in adapters:
        source = getattr(adapter, "genealogy", None)
        if isinstance(source, GenealogySource):
            return source
    return None


# --- analyses shared by every session, computed off the event loop ------------------------------------------
@dataclass
class Background:
    """The newest result of a shared analysis (``value`` None until the first run ends; ``error`` the
    message of the last failure, if it failed; ``at`` monotonic time of the last finished run)."""

    value: Any = None
    error: str | None = None
    at: float = -math.inf
    started: float = -math.inf
    running: bool = False
    runs: int = 0


_BACKGROUND: dict[str, Background] = {}
_BACKGROUND_LOCK = threading.Lock()
_EXECUTOR: Any = None


def shared_background(key: str, period_s: float, compute: Callable[[], Any]) -> Background:
    """A heavy analysis shared by all sessions of this process, re-run at most every ``period_s`` s in
    one worker thread so the server's event loop never waits for it. Returns at once with the newest
    result (sessions render whatever is there; the first call starts the first run).

    >>> import time
    >>> r = shared_background("doc-example", 60.0, lambda: 6 * 7)
    >>> for _ in range(200):
    ...     if r.value is not None: break
    ...     time.sleep(0.01)
    >>> r.value, shared_background("doc-example", 60.0, lambda: 0).value   # not re-run within the period
    (42, 42)
    """
    import time
    from concurrent.futures import ThreadPoolExecutor

    global _EXECUTOR
    with _BACKGROUND_LOCK:
        job = _BACKGROUND.setdefault(key, Background())
        if job.running or time.monotonic() - job.started < period_s:
            return job
        job.running, job.started = True, time.monotonic()
        if _EXECUTOR is None:  # one worker: analyses queue up instead of taking both cores from the server
            _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-analysis")

    def run() -> None:
        try:
            value, error = compute(), None
        except Exception as exc:  # shown on the page; a failing analysis must not stop the others
            log.warning("dashboard analysis %s failed: %s", key, exc)
            value, error = None, f"{type(exc).__name__}: {exc}"
        with _BACKGROUND_LOCK:
            if error is None:
                job.value = value
            job.error, job.at, job.running = error, time.monotonic(), False
            job.runs += 1

    _EXECUTOR.submit(run)
    return job


# --- one per process ------------------------------------------------------------------------------------
_SHARED: dict[str, Acquisition] = {}
_SHARED_LOCK = threading.Lock()


def line_config_path() -> Path:
    """The line config of this server: $WORKBENCH_LINE_CONFIG, else the shipped virtual line."""
    env = os.environ.get("WORKBENCH_LINE_CONFIG")
    return Path(env) if env else default_config_path()


def shared_acquisition(config: str | Path | None = None, *, factory: Callable[[LineConfig], Acquisition] | None = None,
                       loop: asyncio.AbstractEventLoop | None = None) -> Acquisition:
    """The process-wide :class:`Acquisition` for a line config, created and started on first call.

    Every browser session calls this; only the first creates the task (one acquisition for all sessions).
    ``loop``: the event loop to run on (default: the running one, else the current one).
    """
    path = str(Path(config or line_config_path()).resolve())
    with _SHARED_LOCK:
        acq = _SHARED.get(path)
        if acq is None:
            line = load_line_config(path)
            acq = (factory or Acquisition)(line)
            _SHARED[path] = acq
            if loop is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    loop = asyncio.get_event_loop()
            loop.create_task(acq.start(), name="live-acquisition")
        return acq


def reset_shared() -> None:
    """Forget the process-wide acquisitions (tests only; does not stop them)."""
    with _SHARED_LOCK:
        _SHARED.clear()


__all__ = [
    "TagBuffer",
    "Alarm",
    "AlarmEvent",
    "AlarmList",
    "ChangePoint",
    "LimitDetector",
    "SpcMonitor",
    "Latest",
    "StationStatus",
    "LiveStore",
    "LiveError",
    "Acquisition",
    "adapters_for_line",
    "shared_acquisition",
    "line_config_path",
    "reset_shared",
    "GenealogySource",
    "VirtualLineGenealogy",
    "CatalogGenealogy",
    "genealogy_source",
    "shared_background",
]

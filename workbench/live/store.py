"""The live store of a line: per tag a ring buffer, freshness and quality, the online monitors and the
alarm list, fed one :class:`~workbench.live.reading.Reading` at a time. No I/O: the acquisition task of
:mod:`data_adapters.acquisition` feeds it, the dashboard pages and notebooks read it.

>>> from datetime import datetime, timezone
>>> from workbench.config import load_line_config, default_config_path
>>> store = LiveStore(load_line_config(default_config_path()), capacity=100)
>>> t = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)
>>> store.ingest(Reading("plant1/dryroom/room1/hygrometer/frost_point_s1", -38.0, "degC", t), now=t)
>>> [(a.tag, a.kind, a.state) for a in store.alarms.active(t)]
[('plant1/dryroom/room1/hygrometer/frost_point_s1', 'high', 'active')]
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
import pandas as pd
import xarray as xr

from workbench.config import LineConfig, Station, Tag
from workbench.live.alarms import AlarmList
from workbench.live.buffer import GOOD, LiveError, TagBuffer
from workbench.live.reading import Quality, Reading, utcnow
from workbench.spc.monitors import ChangePoint, LimitDetector, SpcMonitor, focus_shift
from workbench.units import pretty_units

if TYPE_CHECKING:
    from workbench.genealogy import GenealogySource

log = logging.getLogger(__name__)


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

    ``ingest`` is called by the acquisition task for each reading; ``refresh`` marks stale tags and ends
    expired shelves; ``mark_disconnected`` is called when a station's transport is lost. Sessions read with
    ``series``, ``latest``, ``station_status`` and ``alarms``. ``version`` grows on every change so a session
    can skip a refresh when nothing happened. ``genealogy``: where pages look up cells, lots, rolls and
    formation results (a :class:`workbench.genealogy.GenealogySource`; None: "no genealogy source configured").
    """

    def __init__(self, line: LineConfig, *, capacity: int = 3600, spc: bool = True, spc_warmup: int = 100,
                 changepoint_history: int = 200, clock: Callable[[], datetime] = utcnow,
                 genealogy: "GenealogySource | None" = None):
        if not isinstance(line, LineConfig):
            raise LiveError(f"LiveStore needs a LineConfig (workbench.config.load_line_config), got {type(line)}")
        self.line, self.clock, self.genealogy = line, clock, genealogy
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

    def use_limit_sets(self, sets: dict) -> list[str]:
        """Monitor tags from their approved limit sets (path -> :class:`workbench.spc.limitsets.LimitSet`, e.g.
        :func:`workbench.spc.limitsets.in_force_for`): their SPC monitors restart on the set's centre and
        yardsticks instead of a provisional warm-up. Returns the paths switched."""
        done = []
        with self._lock:
            for path, found in sets.items():
                if found is not None and path in self.spc:
                    self.spc[path] = SpcMonitor(self.tags[path], limit_set=found)
                    done.append(path)
            self.version += 1
        return done

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
                                            message=f"{tag.short_name} {value:.4g} {pretty_units(tag.units)} "
                                                    f"{word} {kind.replace('_', '-')} limit {limit:g}")
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
                                                    f"{mon.target:.4g} {pretty_units(tag.units)}")
                elif mon.back_inside(cus):
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
        """Mark tags stale whose last value arrived more than ``stale_after_s`` ago (returns the newly stale)
        and end the alarm shelves whose time is up."""
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
            if self.alarms.expire_shelves(now) or newly:
                self.version += 1
        return newly

    # --- readers (sessions) ---------------------------------------------------------------------------
    def _check(self, path: str) -> None:
        if path not in self.buffers:
            raise LiveError(f"no tag {path!r} in line {self.line.name!r}; see line.tags for valid paths")

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
        self._check(path)
        now = now or self.clock()
        with self._lock:
            got = self._received.get(path)
            age = (now - got).total_seconds() if got else math.inf
            return Latest(path, self.buffers[path].last_value(), self.tags[path].units, self._source.get(path),
                          self.quality(path, now), age)

    def series(self, path: str, last: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source time s since epoch, value, quality code) of a tag, oldest first (copies)."""
        self._check(path)
        with self._lock:
            return self.buffers[path].arrays(last)

    def dataarray(self, path: str, last: int | None = None) -> xr.DataArray:
        """The buffered samples of a tag as a DataArray along ``time`` (tz-naive UTC) with its units; samples
        whose quality is not good are gaps (NaN), never values. What the library's analyses take.

        >>> from workbench.config import load_line_config, default_config_path
        >>> store = LiveStore(load_line_config(default_config_path()), capacity=10)
        >>> store.dataarray("plant1/dryroom/room1/hygrometer/frost_point_s1").attrs["units"]
        'degC'
        """
        t, v, q = self.series(path, last)
        tag = self.tags[path]
        return xr.DataArray(np.where(q == GOOD, v, np.nan), dims="time", name=tag.short_name,
                            coords={"time": pd.to_datetime(t, unit="s")}, attrs={"units": tag.units})

    def since(self, path: str, total_before: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Samples of ``path`` appended after the buffer's ``total`` was ``total_before``, and the new total.

        A session keeps the total it last saw and streams only what is new (at most one buffer's worth).
        """
        self._check(path)
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
            return np.array([self.buffers[p].last_value() for p in paths], dtype=float)

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


__all__ = ["LiveStore", "Latest", "StationStatus"]

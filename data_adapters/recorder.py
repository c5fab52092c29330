"""The recorder: subscribe to a line through its adapters and append what arrives to the history store.

Behaviour, stated once (and tested):

- **Bounded memory**: samples wait in a buffer until the next flush (``flush_interval_s``); when the
  buffer holds ``max_buffer`` samples it is flushed at once.
- **Arrival order**: a sample waits ``grace_s`` (source time, behind the newest sample of its station)
  before it is flushed, so samples that arrive out of order within that window are stored in time order.
- **Idempotent**: the store keeps only samples newer than a station's high-water mark; anything at or
  before it is a duplicate (same timestamp) or late (older) and is counted, not stored twice. A late
  sample is logged with its tag.
- **Crash-safe**: every accepted sample is written to a write-ahead log (``STORE/wal/``, a shared file
  mapping: in the page cache at once, see :class:`data_adapters.wal.WriteAheadLog`) before it is buffered, so a SIGKILL
  loses nothing that reached the recorder's callback; the next start
  replays the log.
- **Backfill**: where the source keeps history (``backfill``, e.g. ``LineAdapters.history`` over OPC UA
  HistoryRead; ``workbench sim-server`` historizes by default), the recorder fills what it did not hear:
  on start (subscribed first, so nothing falls between history and live) from each tag's high-water mark
  to now, and after every reconnect (a tag's ``disconnected`` reading, then a sample again) from that
  tag's last sample to now. Until that backfill is in, the station's flushes wait (a forced flush at
  ``max_buffer`` does not), so history and live merge before anything is stored; a (tag, time) that
  both deliver is stored once.
- **Gaps are marked, never silent** (the store's one rule, :mod:`workbench.history.gaps`): when the link to a
  source drops (``disconnected`` readings) or the recorder was not running, the hole runs from the station's
  last sample before it to the newest of its tags' first samples after the reconnect (each is the value the
  source holds then; a slowly sampled tag's may be stamped inside the outage). Whatever the backfill cannot
  cover is stored as a gap (``gaps`` table and a ``data_gap`` event) and logged: all of it if there is no
  backfill or it fails; with a backfill, every stretch in which the source's history has no sample of the
  station for longer than ``gap_s`` and three times the station's usual spacing (a server that was itself
  down kept nothing then; a tag's lone sample inside the hole, its value served at a restart, does not count).
- **Disk full, read-only store**: a chunk that cannot be written stays in memory (up to ``max_buffer``
  samples; beyond that new samples are refused, counted and marked as a gap) and the flush retries; the
  write-ahead log's blocks are reserved when a segment is created, so a full disk is an ``ENOSPC`` error
  (logged once, the log resumes when space returns), never a SIGBUS. One log line when it starts, one when
  the store takes samples again.
- **Source clocks**: a sample stamped more than ``max_ahead_s`` after this computer's clock is refused and
  logged (stored, it would raise the high-water mark and make every later sample "late"); a source whose
  clock went back sends samples older than the stored ones, which are counted, logged and, once samples
  are stored again, leave a gap.
- **Change-only sources**: an OPC UA subscription without a filter reports a value only when it or its
  status changes (DataChangeTrigger StatusValue, no deadband). A setpoint that stays put is one stored
  sample until it moves, not one per scan: read such tags as "last value holds" with
  :func:`workbench.history.hold_last`, which does not carry a value across a gap.
- **Units and quality**: a sample in other units than the stored ones is converted; one whose units cannot
  be converted is rejected with a log line naming the tag. Disconnected and bad readings are not samples
  (they mark a gap) and are counted.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from workbench.config import LineConfig
from workbench.history.fill import declare_line
from workbench.history.gaps import recording_evidence, uncovered
from workbench.history.store import HistoryStore
from workbench.units import ureg

from data_adapters.base import Quality, Reading
from data_adapters.wal import WriteAheadLog

log = logging.getLogger(__name__)

_STORABLE = frozenset((Quality.GOOD, Quality.UNCERTAIN, Quality.STALE))
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_NAIVE = datetime(1970, 1, 1)


def epoch_ns(t) -> int:
    """Nanoseconds since the Unix epoch (UTC) of a timestamp; a naive one is taken as UTC.

    The recorder's per-sample path: integer arithmetic on the datetime instead of building a
    ``pandas.Timestamp`` (which cost ~20 us a sample and capped the recorder at ~30 k samples/s).

    >>> epoch_ns(datetime(2026, 1, 5, 6, 0, 1, 500, tzinfo=timezone.utc))
    1767592801000500000
    >>> epoch_ns(pd.Timestamp("2026-01-05T07:00:01.0000005+01:00"))
    1767592801000000500
    """
    if isinstance(t, pd.Timestamp):
        return t.value  # UTC ns for aware, as-if-UTC for naive; keeps nanoseconds
    if isinstance(t, datetime):
        d = t - (_EPOCH if t.tzinfo is not None else _EPOCH_NAIVE)
        return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000
    ts = pd.Timestamp(t)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts).value


@dataclass
class RecorderStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    late: int = 0
    rejected_units: int = 0
    not_samples: int = 0
    flushes: int = 0
    replayed: int = 0
    backfilled: int = 0
    gaps: int = 0          # stretches marked as gaps in the store
    ahead: int = 0         # refused: stamped too far after this computer's clock
    dropped: int = 0       # refused: the store could not be written and the buffer was full
    store_errors: int = 0  # flushes that could not write a chunk (disk full, read-only)
    wal_errors: int = 0    # samples accepted while the write-ahead log could not be written


class Recorder:
    """Record every tag of ``line`` from ``source`` (an Adapter or LineAdapters) into the store at ``root``.

    ``backfill(paths, start, end) -> {path: (times, values)}`` (optional; a coroutine function works too)
    fetches the samples a source kept in [start, end) while the recorder was down or the link was lost;
    values that are NaN (bad quality) are gaps. An error it raises is logged once per gap, not raised.

    >>> rec = Recorder(line, source, "var/history", flush_interval_s=5)   # doctest: +SKIP
    >>> await rec.start(); ...; await rec.stop()                            # doctest: +SKIP
    """

    def __init__(self, line: LineConfig, source, root: str | Path, *, flush_interval_s: float = 5.0,
                 grace_s: float = 2.0, max_buffer: int = 1_000_000,
                 backfill: Callable | None = None, clock: Callable[[], pd.Timestamp] | None = None,
                 refill_delay_s: float = 0.5, gap_s: float = 2.0, max_ahead_s: float = 300.0):
        if flush_interval_s <= 0 or grace_s < 0 or max_buffer <= 0 or gap_s < 0 or max_ahead_s <= 0:
            raise ValueError("flush_interval_s > 0, grace_s >= 0, max_buffer > 0, gap_s >= 0 and max_ahead_s > 0 "
                             "are required")
        self.line, self.source = line, source
        self.store = HistoryStore(root)
        self.stations = declare_line(self.store, line)
        self.paths = [p for paths in self.stations.values() for p in paths]
        self._index = {p: i for i, p in enumerate(self.paths)}
        self._station_of = {p: s for s, paths in self.stations.items() for p in paths}
        names = list(self.stations)
        self._station_idx = np.array([names.index(self._station_of[p]) for p in self.paths], dtype=np.int64)
        self._units = {p: line.tag(p).units for p in self.paths}
        self.flush_interval_s, self.grace_s, self.max_buffer = flush_interval_s, grace_s, max_buffer
        self.backfill = backfill
        self.refill_delay_s, self.gap_s, self.max_ahead_s = refill_delay_s, gap_s, max_ahead_s
        self.clock = clock or (lambda: pd.Timestamp.now(tz="UTC"))
        self.stats = RecorderStats()
        self.wal = WriteAheadLog(self.store.root / "wal", self.paths)
        self._buffer: list[tuple[int, int, float]] = []
        self._newest: dict[str, int] = {}
        self._sub = None
        self._task: asyncio.Task | None = None
        self._flush_lock = asyncio.Lock()
        self._last: dict[str, int] = {}          # per tag: newest accepted source time (ns)
        self._gap: dict[str, tuple] = {}         # tags whose link dropped -> (their last sample, station's newest)
        self._refill: dict[str, tuple] = {}      # tags back after a gap -> (last, station newest, first sample back)
        self._pending: set[str] = set()          # stations whose flush waits for a backfill
        self._refill_task: asyncio.Task | None = None
        self._started_ns = 0
        self._ahead_ns = self.clock().value + int(max_ahead_s * 1e9)  # newest source time accepted (see flush)
        self._refused: dict[str, list] = {}      # tag -> [last sample before, count, cause] while samples are refused
        self._told: set[tuple[str, str]] = set()
        self._gap_rows: list[tuple] = []         # gaps found, not yet written to the store
        self._store_error: str | None = None     # why chunks cannot be written now (disk full, read-only)
        self._wal_error: str | None = None
        self._behind: dict[str, list] = {}       # tag -> [its newest sample, count] while older samples arrive
        self._behind_ns = int((grace_s + flush_interval_s) * 1e9)  # older than that behind its newest: a clock jump

    # --- receiving ---------------------------------------------------------------------------------
    def _convert(self, path: str, value: float, units: str) -> float | None:
        want = self._units[path]
        if units == want or not units:
            return value
        try:
            return float(ureg.Quantity(value, units).to(want).magnitude)
        except Exception as exc:  # pint raises several types for unknown/incompatible units
            self.stats.rejected_units += 1
            log.warning("recorder: rejected a sample of %s in %r: cannot convert to the stored %r (%s)",
                        path, units, want, exc)
            return None

    def accept(self, path: str, ts_ns: int, value: float, units: str | None = None) -> bool:
        """Take one sample (WAL first, then the buffer). Returns False if it is not stored.

        ``ts_ns``: source time, ns since the epoch (UTC); ``value`` in ``units`` (default: the stored units).
        """
        idx = self._index.get(path)
        if idx is None:
            return False
        if units and units != self._units[path]:  # the common case (same units) skips pint entirely
            value = self._convert(path, value, units)
            if value is None:
                return False
        if not math.isfinite(value):
            return False
        if ts_ns > self._ahead_ns:  # the bound is refreshed at each flush; past it, ask the clock once more
            self._ahead_ns = self.clock().value + int(self.max_ahead_s * 1e9)
            if ts_ns > self._ahead_ns:
                return self._refuse(path, ts_ns, "ahead")
        if self._store_error is not None and len(self._buffer) >= self.max_buffer:
            return self._refuse(path, ts_ns, "full")
        if self._wal_error is None:
            try:
                self.wal.write(idx, ts_ns, value)
            except OSError as exc:  # disk full: keep the sample in memory, say so once
                self._wal_failed(exc)
        else:
            self.stats.wal_errors += 1
        self._buffer.append((idx, ts_ns, value))
        if self._refused and path in self._refused:
            self._heard_again(path, ts_ns)
        last = self._last.get(path, -(2**63))
        if ts_ns > last:
            self._last[path] = ts_ns
            if self._behind and path in self._behind:
                self._clock_back_over(path, ts_ns)
        elif ts_ns < last - self._behind_ns:  # (stored as 'late': the store keeps nothing twice)
            self._behind.setdefault(path, [last, 0])[1] += 1
        station = self._station_of[path]
        if ts_ns > self._newest.get(station, -(2**63)):
            self._newest[station] = ts_ns
        return True

    def _refuse(self, path: str, ts_ns: int, cause: str) -> bool:
        """A sample not taken (a wrong source clock, or the store full and the buffer too): count it, say so
        once per station, and remember where the tag's stored samples stop (that becomes a gap)."""
        station = self._station_of[path]
        if cause == "ahead":
            self.stats.ahead += 1
            why = (f"stamped more than {self.max_ahead_s:g} s after this computer's clock (source clock wrong?); "
                   f"stored, it would hide every later sample as 'late'; fix the source's clock (NTP)")
        else:
            self.stats.dropped += 1
            why = (f"the store cannot be written ({self._store_error}) and {self.max_buffer} samples wait in "
                   f"memory already; free space or make the store writable")
        entry = self._refused.setdefault(path, [self._last.get(path, self._newest.get(station)), 0, why])
        entry[1] += 1
        if (station, cause) not in self._told:
            self._told.add((station, cause))
            log.error("recorder: refusing samples of station %s (first: %s at %s): %s; the time they cover is "
                      "marked as a gap", station, path, pd.Timestamp(ts_ns, tz="UTC"), why)
        return False

    def _heard_again(self, path: str, ts_ns: int) -> None:
        last, count, why = self._refused[path]
        if last is not None and ts_ns <= last:
            return
        del self._refused[path]
        self._told = {k for k in self._told if k[0] != self._station_of[path] or
                      any(self._station_of[p] == k[0] for p in self._refused)}
        start = last if last is not None else self._started_ns
        self._queue_gap(self._station_of[path], [path], start, ts_ns, f"{count} sample(s) refused: {why}")

    def _clock_back_over(self, path: str, ts_ns: int) -> None:
        """Samples of ``path`` are newer than its stored ones again. Several older ones in between (a restart's
        first notification of a change-only tag is one) mean the source clock went back: the time they
        stood for is not in the store, so it is a gap."""
        since, n = self._behind.pop(path)
        if n >= 3:
            self._queue_gap(self._station_of[path], [path], since, ts_ns,
                            f"source clock behind the stored history: {n} sample(s) stamped before it were not stored")

    def on_reading(self, reading: Reading) -> None:
        """Subscription callback: one reading -> WAL -> buffer (the per-sample hot path; see benchmarks/history.py)."""
        self.stats.received += 1
        path = reading.path
        if reading.quality not in _STORABLE:
            self.stats.not_samples += 1
            if reading.quality is Quality.DISCONNECTED and path in self._index and path not in self._gap:
                self._gap[path] = (self._last.get(path), self._newest.get(self._station_of[path]))
            return
        t = reading.source_time
        if type(t) is datetime and t.tzinfo is not None:  # what adapters deliver: epoch_ns() inlined
            d = t - _EPOCH
            ts = (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000
        else:
            ts = epoch_ns(t)
        if self._gap and path in self._gap:  # the link is back: fill what it missed, mark what stays missing
            self._back_after_gap(path, ts)
        self.accept(path, ts, reading.value, reading.units)
        if len(self._buffer) >= self.max_buffer and self._store_error is None:
            asyncio.get_running_loop().create_task(self.flush(force=True))

    # --- flushing ----------------------------------------------------------------------------------
    async def flush(self, *, force: bool = False) -> int:
        """Store buffered samples older than the grace window (all of them with ``force``).

        A station whose chunk cannot be written (disk full, read-only store) keeps its samples in the buffer
        (and the write-ahead log, where it can be written) until a later flush stores them."""
        async with self._flush_lock:
            self._ahead_ns = self.clock().value + int(self.max_ahead_s * 1e9)
            stored, failed = 0, None
            if self._buffer:
                data = np.array(self._buffer, dtype=[("i", "u4"), ("t", "i8"), ("v", "f8")])
                st = self._station_idx[data["i"]]
                keep = np.zeros(len(data), dtype=bool)
                for k, station in enumerate(self.stations):
                    mine = st == k
                    if not mine.any():
                        continue
                    if station in self._pending and not force:  # its backfill is not in yet: store nothing newer
                        keep |= mine
                        continue
                    cutoff = np.iinfo(np.int64).max if force else self._newest[station] - int(self.grace_s * 1e9)
                    due = mine & (data["t"] <= cutoff)
                    keep |= mine & ~due
                    if due.any():
                        try:
                            stored += self._append(station, data[due])
                        except OSError as exc:  # ENOSPC, EROFS, EACCES: keep the rows, retry next flush
                            keep |= due
                            failed = exc
                self._buffer = [tuple(x) for x in data[keep].tolist()]
            self._store_state(failed, stored)
            try:
                self.wal.rotate(self._buffer)
                if self._wal_error is not None:
                    log.warning("recorder: the write-ahead log is written again (%d buffered sample(s) in it)",
                                len(self._buffer))
                    self._wal_error = None
            except OSError as exc:
                self._wal_failed(exc)
            self._write_gaps()
            self.stats.flushes += 1
            return stored

    def _store_state(self, failed: OSError | None, stored: int) -> None:
        if failed is not None:
            self.stats.store_errors += 1
            if self._store_error is None:
                self._store_error = f"{type(failed).__name__}: {failed}"
                log.error("recorder: cannot write history chunks to %s (%s); %d sample(s) are kept in memory and the "
                          "flush retries every %g s; beyond %d the newest are refused and marked as a gap",
                          self.store.root, self._store_error, len(self._buffer), self.flush_interval_s,
                          self.max_buffer)
        elif self._store_error is not None and (stored or not self._buffer):
            log.warning("recorder: the store takes chunks again (%s was the problem); %d sample(s) stored",
                        self._store_error, stored)
            self._store_error = None

    def _wal_failed(self, exc: OSError) -> None:
        self.stats.wal_errors += 1
        if self._wal_error is None:
            self._wal_error = f"{type(exc).__name__}: {exc}"
            log.error("recorder: cannot write the write-ahead log in %s (%s); samples are kept in memory only "
                      "(a crash now would lose them) until it can be written again", self.wal.folder, self._wal_error)

    def _append(self, station: str, rows: np.ndarray) -> int:
        times, inverse = np.unique(rows["t"], return_inverse=True)
        values = {}
        for idx in np.unique(rows["i"]):
            col = np.full(len(times), np.nan)
            sel = rows["i"] == idx
            col[inverse[sel]] = rows["v"][sel]  # the last sample of a repeated (tag, time) wins
            values[self.paths[idx]] = col
        mark = self.store.high_water_mark(station)
        res = self.store.append(station, pd.to_datetime(times, utc=True), values)
        self.stats.stored += res.stored
        self.stats.duplicates += res.duplicates
        self.stats.late += res.late
        if res.late:
            behind = (mark.value - int(times[0])) / 1e9
            log.warning("recorder: %d row(s) of station %s older than the stored high-water mark %s (up to %.3g s "
                        "behind it) were not stored (re-delivered or late samples, or the source clock went back)",
                        res.late, station, mark, behind)
        return res.stored

    # --- gaps ----------------------------------------------------------------------------------------
    def _queue_gap(self, station: str, tags: list[str], start: int, end: int, cause: str) -> None:
        if end <= start:
            return
        self.stats.gaps += 1
        self._gap_rows.append((station, list(tags), start, end, cause))
        log.warning("recorder: gap marked in station %s from %s to %s (%.1f s, %d tag(s)): %s", station,
                    pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"), (end - start) / 1e9, len(tags), cause)

    def _write_gaps(self) -> None:
        while self._gap_rows:
            station, tags, start, end, cause = self._gap_rows[0]
            try:
                self.store.mark_gaps(station, tags, pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"), cause)
            except (OSError, sqlite3.Error) as exc:  # a full disk: the gap waits in memory for the next flush
                log.debug("recorder: gap record waits (%s)", exc)
                return
            self._gap_rows.pop(0)

    def _mark_holes(self, holes: dict[str, tuple[int, int, list[str]]], history: dict[str, np.ndarray] | None,
                    cause: str) -> None:
        """Mark what the backfill did not cover of each station's hole (start, end, tags); ``history``: each
        tag's sample times the source's history returned, or None if there was none (no backfill, or it
        failed). A tag's lone sample inside the hole does not show the source was recording then
        (:func:`workbench.history.gaps.recording_evidence`)."""
        for station, (start, end, tags) in holes.items():
            times = None if history is None else recording_evidence(
                start, end, [history[p] for p in self.stations[station] if p in history])
            spacing = None if times is None or len(times) >= 3 else self.store.typical_spacing(station)
            for a, b in uncovered(start, end, times, int(self.gap_s * 1e9), spacing):
                why = "no backfill from the source" if history is None else "the source's history has no samples then"
                self._queue_gap(station, tags, a, b, f"{cause}; {why}")

    # --- backfill ---------------------------------------------------------------------------------
    def _start_of(self, path: str, last: int | None) -> int:
        """Where a tag's backfill starts (exclusive, ns): its last sample, else its station's high-water mark,
        else this recorder's start (what came before the first recording is not the recorder's gap)."""
        if last is not None:
            return last
        mark = self.store.high_water_mark(self._station_of[path])
        return mark.value if mark is not None else self._started_ns

    async def _backfill(self, starts: dict[str, int], end: pd.Timestamp) -> dict[str, np.ndarray] | None:
        """Fetch [start, end] from ``backfill`` (one call for all tags: one request batch, one log line on
        failure) and accept per tag what is newer than its start. Returns each tag's sample times (ns) the
        source's history held, or None if there is no backfill or it failed."""
        if self.backfill is None:
            return None
        first = min(starts.values(), default=end.value)
        if first >= end.value:
            return {}
        t0 = pd.Timestamp(first, tz="UTC")
        try:
            got = self.backfill(list(starts), t0, end + pd.Timedelta(1, "ns"))  # [first, end] as half-open
            if inspect.isawaitable(got):  # a network source (OPC UA HistoryRead) answers asynchronously
                got = await got
        except Exception as exc:  # no history on the source, or it failed: the gap stays, said once
            log.warning("recorder: gap not filled for %d tag(s) from %s to %s: %s", len(starts), t0, end, exc)
            return None
        taken, seen = 0, {}
        for path, entry in got.items():
            start = starts.get(path)
            if start is None:
                continue
            times, values = entry[0], entry[1]
            ns = pd.to_datetime(times, utc=True).as_unit("ns").asi8
            seen[path] = ns
            for t, v in zip(ns, values):
                if t > start and self.accept(path, int(t), float(v)):
                    taken += 1
        self.stats.backfilled += taken
        return seen

    def _back_after_gap(self, path: str, ts: int) -> None:
        self._refill[path] = (*self._gap.pop(path), ts)
        if self.backfill is not None:
            self._pending.add(self._station_of[path])
        if self._refill_task is None or self._refill_task.done():
            self._refill_task = asyncio.get_running_loop().create_task(self._refill_loop(), name="recorder-backfill")

    async def _refill_loop(self) -> None:
        """After a reconnect: backfill the tags that came back (together, after a moment), mark what it did not
        cover as gaps, then let the waiting stations flush."""
        try:
            while self._refill:
                await asyncio.sleep(self.refill_delay_s)  # the link's other tags come back in the same moment
                batch, self._refill = self._refill, {}
                starts = {p: self._start_of(p, last) for p, (last, _, _) in batch.items()}
                now = self.clock()
                seen = await self._backfill(starts, now)
                if seen is not None:
                    log.info("recorder: backfilled %d tag(s) after a reconnect", len(batch))
                by_station: dict[str, list] = {}  # a station's hole: its newest sample before the drop to ...
                for p, (last, alive, back) in batch.items():
                    a = max(v for v in (last, alive, starts[p]) if v is not None)
                    by_station.setdefault(self._station_of[p], []).append((p, a, back))
                holes = {}
                for st, items in by_station.items():  # ... the newest of its tags' first samples after it: each
                    a = max(x[1] for x in items)      # is the value the source holds at the reconnect, and a
                    after = [x[2] for x in items if x[2] > a]  # slowly sampled tag's may be stamped in the outage
                    holes[st] = (a, max(after) if after else now.value, [x[0] for x in items])
                self._mark_holes(holes, seen, "link to the source lost")
        except Exception:
            log.exception("recorder: backfill after a reconnect failed; that time stays a gap")
        finally:
            if not self._refill:
                self._pending.clear()

    # --- life cycle --------------------------------------------------------------------------------
    async def _recover(self) -> dict[str, int]:
        """Replay the write-ahead log; return each tag's backfill start (taken before live samples arrive)."""
        replayed = self.wal.replay()
        for path, ts, v in replayed:
            self.accept(path, ts, v)
        self.stats.replayed = len(replayed)
        if replayed:
            log.warning("recorder: replayed %d sample(s) from the write-ahead log of an earlier run", len(replayed))
        # A tag's gap starts at its newest sample in the store (its station's high-water mark) or the log.
        # A station may have nothing stored yet (its grace window held its last samples back) while the
        # log has them; a tag with neither starts where the earlier run is known to have been alive.
        marks = {st: self.store.high_water_mark(st) for st in self.stations}
        known = [m.value for m in marks.values() if m is not None] + list(self._last.values())
        if not known:
            return {}  # a new store: there is no gap to fill
        alive_until = max(known)
        starts = {}
        for station, paths in self.stations.items():
            mark = marks[station].value if marks[station] is not None else None
            for p in paths:
                seen = [v for v in (mark, self._last.get(p)) if v is not None]
                starts[p] = max(seen) if seen else alive_until
        return starts

    async def start(self) -> None:
        """Recover (WAL replay), subscribe, backfill from the high-water marks, mark what stays a gap, start the
        periodic flush.

        Subscribing before the backfill means a sample is either in the history asked for or in the live
        stream (or both: stored once)."""
        self._started_ns = self.clock().value
        self._ahead_ns = self._started_ns + int(self.max_ahead_s * 1e9)
        starts = await self._recover()
        self._sub = await self.source.subscribe(self.paths, self.on_reading)
        if starts:
            seen = await self._backfill(starts, self.clock())
            holes = {st: (max(starts[p] for p in paths), self._started_ns, list(paths))
                     for st, paths in self.stations.items()}
            self._mark_holes(holes, seen, "the recorder was not running")
        await self.flush(force=True)
        self._task = asyncio.get_running_loop().create_task(self._flush_loop(), name="recorder-flush")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("recorder: flush failed; samples stay in the buffer and the write-ahead log")

    async def stop(self) -> RecorderStats:
        """Unsubscribe, store everything buffered (what the store refuses stays in the write-ahead log for the
        next start, and is said), close the log."""
        if self._refill_task is not None and not self._refill_task.done():
            try:  # a backfill in flight is worth a short wait: its samples are the gap's
                await asyncio.wait_for(asyncio.shield(self._refill_task), 10.0)
            except (asyncio.TimeoutError, Exception):
                self._refill_task.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        subs = self._sub if isinstance(self._sub, list) else [self._sub]  # LineAdapters: one per adapter
        for sub in subs:
            if sub is not None:
                await sub.cancel()
        self._sub = None
        await self.flush(force=True)
        if self._buffer:
            log.error("recorder: stopped with %d sample(s) not stored (%s); %s", len(self._buffer), self._store_error,
                      "they are in the write-ahead log and the next start stores them" if self._wal_error is None
                      else "the write-ahead log could not be written either: they are lost")
        if self._gap_rows:
            log.error("recorder: %d gap record(s) could not be written to the store: %s", len(self._gap_rows),
                      [(g[0], str(pd.Timestamp(g[2], tz="UTC")), str(pd.Timestamp(g[3], tz="UTC"))) for g in self._gap_rows])
        self.wal.close()
        return self.stats

    def summary(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.stats).items())


__all__ = ["Recorder", "RecorderStats", "WriteAheadLog", "epoch_ns"]

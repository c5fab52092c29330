"""The recorder: WAL + idempotent store make a crash lose nothing and store nothing twice; units; quality."""

import asyncio
import logging

import numpy as np
import pandas as pd
import pytest

from data_adapters.base import Adapter, Quality, Reading
from data_adapters.recorder import Recorder
from data_adapters.sim import SimBackend
from workbench import history
from workbench.config import default_config_path, load_line_config
from workbench.simulate import virtual_line

LINE = load_line_config(default_config_path())
SPEED = "plant1/electrode/coat1/coater/line_speed"
PUMP = "plant1/electrode/coat1/coater/pump_rate"
FROST = "plant1/dryroom/room1/hygrometer/frost_point_s1"
LANE = "plant1/electrode/coat1/gauge/areal_mass_lane05"


def sim_source(vl):
    backend = SimBackend(LINE, speed=0.0, tick_s=3600, vl=vl)  # the test moves the clock, not the ticker
    return Adapter(LINE.tags.values(), backend, name="sim"), backend


async def run_for(backend, seconds, step=1.0):
    for _ in range(int(seconds / step)):
        backend.live.advance(step)
        await backend._deliver()


def stored(root, station, path):
    name = history.variable_names(list(history.station_tags(root, station)))[path]
    da = history.open(root, station, tags=[path]).compute()[name].dropna("time")
    return da.time.values, da.values


async def crash_and_recover(root):
    vl = virtual_line(seed=5)

    async def history_read(paths, s, e):  # the second run's source answers like a network historian
        await asyncio.sleep(0)
        return vl.tag_samples(start=s.tz_localize(None), end=e.tz_localize(None), paths=paths)

    source, backend = sim_source(vl)
    await source.connect()
    a = Recorder(LINE, source, root, flush_interval_s=3600, grace_s=2.0,
                 backfill=lambda paths, s, e: vl.tag_samples(start=s.tz_localize(None), end=e.tz_localize(None),
                                                             paths=paths))
    await a.start()
    await run_for(backend, 120)
    await a.flush()                      # part of it reaches the store ...
    await run_for(backend, 45)           # ... the rest is only in the buffer and the WAL
    a.wal.close()                        # the process dies here: no stop(), no final flush
    await source.close()
    assert a.stats.stored > 0

    # 60 s pass while no recorder runs; then a new process starts at the line's present time
    source2, backend2 = sim_source(vl)
    await source2.connect()
    backend2.live.advance(120 + 45 + 60)
    now = pd.Timestamp(backend2.live.now()).tz_localize("UTC")
    b = Recorder(LINE, source2, root, flush_interval_s=3600, grace_s=2.0, clock=lambda: now,
                 backfill=history_read)
    await b.start()
    await run_for(backend2, 60)
    stats = await b.stop()
    await source2.close()
    return vl, stats, 120 + 45 + 60 + 60


def test_crash_loses_nothing_and_stores_nothing_twice(tmp_path):
    root = tmp_path / "store"
    vl, stats, total_s = asyncio.run(crash_and_recover(root))
    assert stats.replayed > 0 and stats.backfilled > 0
    truth = vl.tag_samples(start="0s", end=f"{total_s}s", paths=[SPEED, PUMP, FROST, LANE])
    for path, station in [(SPEED, "coating"), (PUMP, "coating"), (FROST, "dryroom"), (LANE, "coating")]:
        t, v = stored(root, station, path)
        want_t, want_v = truth[path]
        # compare from the first sample the subscription delivered (the clock's start sample comes before it)
        first = np.searchsorted(np.asarray(want_t, dtype="datetime64[ns]"), t[0])
        want_t, want_v = want_t[first:], want_v[first:]
        assert first <= 1 or station != "coating" or path == LANE
        n = min(len(t), len(want_t))
        assert len(np.unique(t)) == len(t), f"{path}: a sample stored twice"
        np.testing.assert_array_equal(t[:n], np.asarray(want_t, dtype="datetime64[ns]")[:n], err_msg=path)
        np.testing.assert_allclose(v[:n], want_v[:n], atol=1e-9, err_msg=path)
        assert len(t) >= len(want_t) - 1, f"{path}: {len(want_t) - len(t)} sample(s) lost"


def test_units_are_converted_or_rejected_with_the_tag_named(tmp_path, caplog):
    vl = virtual_line(seed=1)
    source, _ = sim_source(vl)
    rec = Recorder(LINE, source, tmp_path / "s", flush_interval_s=60)
    t = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
    rec.on_reading(Reading(SPEED, 1200.0, "m/h", t.to_pydatetime()))            # 1200 m/h = 20 m/min
    with caplog.at_level(logging.WARNING):
        rec.on_reading(Reading(SPEED, 3.0, "kg", (t + pd.Timedelta("1s")).to_pydatetime()))
    assert rec.stats.rejected_units == 1 and SPEED in caplog.text and "m/min" in caplog.text
    rec.on_reading(Reading(SPEED, float("nan"), "m/min", t.to_pydatetime(), Quality.DISCONNECTED))
    assert rec.stats.not_samples == 1
    asyncio.run(rec.flush(force=True))
    _, v = stored(tmp_path / "s", "coating", SPEED)
    np.testing.assert_allclose(v, [20.0])


def test_out_of_order_within_grace_is_sorted_and_late_samples_are_counted(tmp_path):
    vl = virtual_line(seed=1)
    source, _ = sim_source(vl)
    rec = Recorder(LINE, source, tmp_path / "s", flush_interval_s=60, grace_s=5.0)
    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC").value
    s = 1_000_000_000
    for k in [0, 2, 1, 4, 3, 9]:                       # out of order, newest at 9 s
        rec.accept(SPEED, t0 + k * s, 20.0 + k)
    asyncio.run(rec.flush())                           # 0..4 are older than 9 s - 5 s grace: stored
    rec.accept(SPEED, t0 + 2 * s, 99.0)                # arrives after its window was stored: late
    asyncio.run(rec.flush(force=True))
    t, v = stored(tmp_path / "s", "coating", SPEED)
    np.testing.assert_allclose(v, [20, 21, 22, 23, 24, 29])
    assert rec.stats.late == 1


def test_buffer_is_bounded(tmp_path):
    async def go():
        vl = virtual_line(seed=1)
        source, _ = sim_source(vl)
        rec = Recorder(LINE, source, tmp_path / "s", flush_interval_s=3600, max_buffer=50)
        t = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
        for k in range(120):
            rec.on_reading(Reading(SPEED, 20.0, "m/min", (t + pd.Timedelta(seconds=k)).to_pydatetime()))
            await asyncio.sleep(0)
        assert len(rec._buffer) <= 50
        await rec.flush(force=True)
        return rec
    rec = asyncio.run(go())
    assert rec.stats.flushes >= 2


@pytest.mark.parametrize("bad", [dict(flush_interval_s=0), dict(grace_s=-1), dict(max_buffer=0)])
def test_bad_settings_are_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="flush_interval_s"):
        Recorder(LINE, None, tmp_path / "s", **bad)


def test_wal_replays_across_segments_and_stops_at_a_torn_record(tmp_path):
    from data_adapters.recorder import WriteAheadLog

    wal = WriteAheadLog(tmp_path / "wal", ["a", "b"])
    wal.SEGMENT_RECORDS = 4                        # roll over every 4 samples
    for k in range(10):
        wal.write(k % 2, 1_000 + k, k / 10)
    # the process dies here (no close): what it stored through the mapping is in the files already
    segments = sorted((tmp_path / "wal").glob("*.bin"))
    assert len(segments) == 3
    want = [("ab"[k % 2], 1_000 + k, k / 10) for k in range(10)]
    assert WriteAheadLog(tmp_path / "wal", []).replay() == want
    data = bytearray(segments[-1].read_bytes())  # the kill tore the last record (sample 9)
    data[24 + 6] ^= 0xFF
    segments[-1].write_bytes(bytes(data))
    assert WriteAheadLog(tmp_path / "wal", []).replay() == want[:9]
    wal.rotate([(0, 2_000, 1.5)])                  # a flush keeps only what is not stored yet
    assert WriteAheadLog(tmp_path / "wal", []).replay() == [("a", 2_000, 1.5)]
    wal.close()


def test_epoch_ns_of_aware_naive_and_pandas_times():
    from datetime import datetime, timedelta, timezone

    from data_adapters.recorder import epoch_ns

    t = pd.Timestamp("2026-01-05T06:00:00.123456789", tz="UTC")
    assert epoch_ns(t) == t.value
    assert epoch_ns(t.tz_convert("Europe/Berlin")) == t.value
    py = datetime(2026, 1, 5, 7, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert epoch_ns(py) == pd.Timestamp("2026-01-05T06:00:00.123456", tz="UTC").value
    assert epoch_ns(datetime(2026, 1, 5, 6)) == pd.Timestamp("2026-01-05T06:00", tz="UTC").value
    assert epoch_ns(np.datetime64("2026-01-05T06:00:00")) == pd.Timestamp("2026-01-05T06:00", tz="UTC").value


def _reconnect_run(root, history):
    """Samples 0..3 s, the link drops at 4 s, comes back with live samples at 8 and 9 s; returns (rec, stored
    before the backfill was in)."""
    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")

    def at(k, value, quality=Quality.GOOD):
        return Reading(SPEED, value, "m/min", (t0 + pd.Timedelta(seconds=k)).to_pydatetime(), quality)

    async def go():
        rec = Recorder(LINE, None, root, flush_interval_s=3600, grace_s=0.0, backfill=history,
                       clock=lambda: t0 + pd.Timedelta(seconds=10), refill_delay_s=0.01)
        for k in range(4):
            rec.on_reading(at(k, 20.0 + k))
        rec.on_reading(at(4, float("nan"), Quality.DISCONNECTED))
        await rec.flush()                       # 0..3 s stored
        rec.on_reading(at(8, 28.0))             # the link is back
        rec.on_reading(at(9, 29.0))
        await rec.flush()                       # the station waits for its backfill: nothing newer stored
        before = rec.stats.stored
        await asyncio.wait_for(rec._refill_task, 5)
        await rec.flush(force=True)
        return rec, before
    return asyncio.run(go())


def test_a_reconnect_backfills_the_gap_before_the_station_flushes(tmp_path):
    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
    calls = []

    async def history(paths, start, end):      # the source kept 3..8 s (3 and 8 the recorder has too)
        calls.append((list(paths), start, end))
        ks = range(3, 9)
        return {SPEED: (pd.DatetimeIndex([t0 + pd.Timedelta(seconds=k) for k in ks]), [20.0 + k for k in ks])}

    rec, before = _reconnect_run(tmp_path / "s", history)
    assert before == 4 and len(calls) == 1
    assert calls[0][0] == [SPEED] and calls[0][1] == t0 + pd.Timedelta(seconds=3)  # from its last sample on
    assert calls[0][2] > t0 + pd.Timedelta(seconds=10) - pd.Timedelta(seconds=1)   # to the recorder's now
    t, v = stored(tmp_path / "s", "coating", SPEED)
    assert len(np.unique(t)) == len(t)
    np.testing.assert_array_equal(t, np.array([t0.tz_localize(None) + pd.Timedelta(seconds=k) for k in range(10)],
                                              dtype="datetime64[ns]"))
    np.testing.assert_allclose(v, [20.0 + k for k in range(10)])
    assert rec.stats.backfilled == 5 and rec.stats.late == 0


def test_a_reconnect_without_source_history_logs_the_gap_once_and_stores_the_rest(tmp_path, caplog):
    from data_adapters.base import BackendError

    async def history(paths, start, end):
        raise BackendError("the server keeps no history for these 1 tag(s)")

    with caplog.at_level(logging.WARNING, logger="data_adapters.recorder"):
        rec, before = _reconnect_run(tmp_path / "s", history)
    lines = [r.getMessage() for r in caplog.records if "gap not filled" in r.getMessage()]
    assert len(lines) == 1 and "keeps no history" in lines[0] and "1 tag(s)" in lines[0]
    t, v = stored(tmp_path / "s", "coating", SPEED)
    np.testing.assert_allclose(v, [20, 21, 22, 23, 28, 29])  # 4..7 s stay a gap
    assert rec.stats.backfilled == 0


class _QuietSource:
    """A source that delivers nothing live (the test is about what a restart fills from history)."""

    class _Sub:
        async def cancel(self):
            return None

    async def subscribe(self, paths, callback):
        return self._Sub()


def test_restart_fills_a_station_that_only_the_write_ahead_log_held(tmp_path):
    """A station whose last samples were still in the grace window (log only, no chunk) when the process died
    is backfilled from its newest logged sample, not skipped for want of a stored high-water mark."""
    root = tmp_path / "s"
    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
    s = pd.Timedelta(seconds=1)

    async def go():
        a = Recorder(LINE, None, root, flush_interval_s=3600, grace_s=0.0)
        for k in range(2):
            a.accept(SPEED, (t0 + k * s).value, 20.0 + k)
        await a.flush(force=True)                  # coating has chunks; the dry room has none
        a.accept(FROST, (t0 + 1 * s).value, -40.0)
        a.wal.close()                              # dies here
        asked = {}

        async def history(paths, start, end):
            asked.update(dict.fromkeys(paths, start))
            return {FROST: ([t0 + 1 * s, t0 + 6 * s], [-40.0, -41.0]), SPEED: ([t0 + 5 * s], [25.0])}
        b = Recorder(LINE, _QuietSource(), root, flush_interval_s=3600, grace_s=0.0, backfill=history,
                     clock=lambda: t0 + 20 * s)
        await b.start()
        stats = await b.stop()
        return asked, stats
    asked, stats = asyncio.run(go())
    assert FROST in asked and SPEED in asked and min(asked.values()) <= t0 + 1 * s
    assert stats.backfilled == 2 and stats.replayed == 1
    _, frost = stored(root, "dryroom", FROST)
    _, speed = stored(root, "coating", SPEED)
    np.testing.assert_allclose(frost, [-40.0, -41.0])
    np.testing.assert_allclose(speed, [20.0, 21.0, 25.0])


# --- issue 18: gaps are marked, never silent ------------------------------------------------------------------
def test_a_reconnect_without_source_history_marks_the_gap_in_the_store(tmp_path, caplog):
    """The hole a backfill cannot fill is a gap record readers see (and an event), not only a log line."""
    from data_adapters.base import BackendError

    async def history_fails(paths, start, end):
        raise BackendError("the server keeps no history for these 1 tag(s)")

    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
    for backfill, root in [(history_fails, tmp_path / "a"), (None, tmp_path / "b")]:  # failing, or none at all
        with caplog.at_level(logging.WARNING, logger="data_adapters.recorder"):
            rec, _ = _reconnect_run(root, backfill)
        gaps = history.load_gaps(root, "coating")
        assert list(gaps["tag"]) == [SPEED]
        assert gaps["start"].iloc[0] == t0 + pd.Timedelta(seconds=3) and gaps["end"].iloc[0] == t0 + pd.Timedelta(seconds=8)
        assert "link to the source lost" in gaps["cause"].iloc[0] and rec.stats.gaps == 1
        assert "gap marked in station coating" in caplog.text
        ds = history.open(root, "coating", tags=[SPEED])
        assert ds["line_speed"].attrs["gaps"] == ["2026-01-05T06:00:03.000000Z/2026-01-05T06:00:08.000000Z"]
        assert len(history.load_events(root, kind="data_gap")) == 1
        caplog.clear()


def test_a_reconnect_backfilled_in_full_marks_no_gap(tmp_path):
    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")

    async def history(paths, start, end):      # the source kept 3..8 s at 1 Hz: the hole is covered
        return {SPEED: (pd.DatetimeIndex([t0 + pd.Timedelta(seconds=k) for k in range(3, 9)]),
                        [20.0 + k for k in range(3, 9)])}

    rec, _ = _reconnect_run(tmp_path / "s", history)
    assert rec.stats.backfilled == 5 and rec.stats.gaps == 0 and history_gaps(tmp_path / "s").empty


def history_gaps(root):
    return history.load_gaps(root)


def test_a_source_whose_history_has_a_hole_leaves_that_hole_marked(tmp_path):
    """A server that was itself down kept nothing while it was down: its history answers, but with a hole.
    The recorder marks the silence in the source's history (longer than gap_s and 3x its usual spacing)."""
    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
    s = pd.Timedelta(seconds=1)

    async def go():
        rec = Recorder(LINE, None, tmp_path / "s", flush_interval_s=3600, grace_s=0.0, refill_delay_s=0.01,
                       backfill=history, clock=lambda: t0 + 30 * s)
        for k in range(4):
            rec.on_reading(Reading(SPEED, 20.0 + k, "m/min", (t0 + k * s).to_pydatetime()))
        rec.on_reading(Reading(SPEED, float("nan"), "m/min", (t0 + 4 * s).to_pydatetime(), Quality.DISCONNECTED))
        await rec.flush()
        rec.on_reading(Reading(SPEED, 40.0, "m/min", (t0 + 20 * s).to_pydatetime()))
        await asyncio.wait_for(rec._refill_task, 5)
        await rec.flush(force=True)
        return rec

    async def history(paths, start, end):      # samples at 4, 5 (before the server died) and 16..20 (after)
        ks = [4, 5, 16, 17, 18, 19, 20]
        return {SPEED: (pd.DatetimeIndex([t0 + k * s for k in ks]), [20.0 + k for k in ks])}

    rec = asyncio.run(go())
    gaps = history_gaps(tmp_path / "s")
    assert len(gaps) == 1 and gaps["start"].iloc[0] == t0 + 5 * s and gaps["end"].iloc[0] == t0 + 16 * s
    assert "history has no samples then" in gaps["cause"].iloc[0]
    assert rec.stats.backfilled == 7                # 4..20 s (20 s also came live: stored once)


def test_a_slow_tags_value_served_at_the_restart_does_not_hide_the_outage(tmp_path):
    """A restarted server serves (and historizes) each tag's current value. The coating gauge scans every 15 s,
    so its value may have been taken while the server was down: that lone sample is neither where the station
    was heard again nor proof the server was recording, and every coating tag gets the outage as a gap."""
    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
    s = pd.Timedelta(seconds=1)
    lane_units = LINE.tag(LANE).units

    async def history(paths, start, end):      # the server: SPEED to 5 s, down 5..10 s; the scan at 7 s it
        return {SPEED: (pd.DatetimeIndex([t0 + k * s for k in (4, 5, 10, 11, 12)]), [24.0, 25.0, 30.0, 31.0, 32.0]),
                LANE: (pd.DatetimeIndex([t0, t0 + 7 * s]), [100.0, 107.0])}  # served as current at the restart

    async def go():
        rec = Recorder(LINE, None, tmp_path / "s", flush_interval_s=3600, grace_s=0.0, refill_delay_s=0.01,
                       backfill=history, clock=lambda: t0 + 30 * s)
        rec.on_reading(Reading(LANE, 100.0, lane_units, t0.to_pydatetime()))
        for k in range(4):
            rec.on_reading(Reading(SPEED, 20.0 + k, "m/min", (t0 + k * s).to_pydatetime()))
        for path, units in ((SPEED, "m/min"), (LANE, lane_units)):
            rec.on_reading(Reading(path, float("nan"), units, (t0 + 4 * s).to_pydatetime(), Quality.DISCONNECTED))
        await rec.flush()
        rec.on_reading(Reading(LANE, 107.0, lane_units, (t0 + 7 * s).to_pydatetime()))  # first values back
        rec.on_reading(Reading(SPEED, 30.0, "m/min", (t0 + 10 * s).to_pydatetime()))
        await asyncio.wait_for(rec._refill_task, 5)
        await rec.flush(force=True)
        return rec

    asyncio.run(go())
    gaps = history_gaps(tmp_path / "s")
    assert sorted(gaps["tag"]) == sorted([SPEED, LANE]), gaps
    assert (gaps["start"] == t0 + 5 * s).all() and (gaps["end"] == t0 + 10 * s).all()
    assert "history has no samples then" in gaps["cause"].iloc[0]


def test_a_restart_without_backfill_marks_the_time_nobody_recorded(tmp_path):
    root = tmp_path / "s"
    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
    s = pd.Timedelta(seconds=1)

    async def go():
        a = Recorder(LINE, None, root, flush_interval_s=3600, grace_s=0.0, clock=lambda: t0 + 2 * s)
        for k in range(3):
            a.accept(SPEED, (t0 + k * s).value, 20.0 + k)
        await a.flush(force=True)
        a.wal.close()                              # dies; restarted 60 s later without a source history
        b = Recorder(LINE, _QuietSource(), root, flush_interval_s=3600, clock=lambda: t0 + 62 * s)
        await b.start()
        return await b.stop()
    stats = asyncio.run(go())
    gaps = history.load_gaps(root, "coating")
    assert stats.gaps >= 1 and set(gaps["tag"]) == set(history.station_tags(root, "coating"))
    assert (gaps["start"] == t0 + 2 * s).all() and (gaps["end"] == t0 + 62 * s).all()
    assert "the recorder was not running; no backfill" in gaps["cause"].iloc[0]

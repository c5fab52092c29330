"""The live store: bounded ring buffers, freshness (stale / disconnected), what sessions read."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from data_adapters.base import Quality, Reading
from workbench.live import LiveError, LiveStore, TagBuffer
from workbench.config import default_config_path, load_line_config

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)
LANE1 = "plant1/electrode/coat1/gauge/areal_mass_lane01"
FROST1 = "plant1/dryroom/room1/hygrometer/frost_point_s1"
WELD = "plant1/assembly/weld1/welder/weld_resistance"


@pytest.fixture(scope="module")
def line():
    return load_line_config(default_config_path())


def reading(path, value, t, q=Quality.GOOD):
    return Reading(path, value, "x", t, q, t)


def test_ring_buffer_keeps_newest_in_order_and_never_grows():
    b = TagBuffer(4)
    for i in range(11):
        b.append(float(i), float(i) * 2, Quality.GOOD if i % 2 else Quality.STALE)
    t, v, q = b.arrays()
    assert t.tolist() == [7.0, 8.0, 9.0, 10.0]
    assert v.tolist() == [14.0, 16.0, 18.0, 20.0]
    assert q.tolist() == [0, 3, 0, 3]
    assert len(b) == 4 and b.total == 11 and b._t.nbytes == 4 * 8


def test_ring_buffer_since_returns_only_new_samples_and_at_most_capacity():
    b = TagBuffer(5)
    for i in range(3):
        b.append(float(i), float(i), Quality.GOOD)
    seen = b.total
    for i in range(3, 5):
        b.append(float(i), float(i), Quality.GOOD)
    assert b.since(seen)[1].tolist() == [3.0, 4.0]
    assert len(b.since(b.total)[0]) == 0
    for i in range(5, 40):
        b.append(float(i), float(i), Quality.GOOD)
    assert b.since(seen)[1].tolist() == [35.0, 36.0, 37.0, 38.0, 39.0]  # a slow session gets one buffer's worth


@pytest.mark.parametrize("bad", [1, 0, -5, 2.5, "10"])
def test_ring_buffer_rejects_bad_capacity(bad):
    with pytest.raises(LiveError, match="capacity"):
        TagBuffer(bad)


def test_store_memory_is_bounded_by_capacity(line):
    store = LiveStore(line, capacity=50, spc=False)
    before = sum(b._v.nbytes + b._t.nbytes + b._q.nbytes for b in store.buffers.values())
    for i in range(500):
        store.ingest(reading(LANE1, 17.2 + 0.001 * i, T0 + timedelta(seconds=i)), now=T0 + timedelta(seconds=i))
    after = sum(b._v.nbytes + b._t.nbytes + b._q.nbytes for b in store.buffers.values())
    assert after == before
    t, v, _ = store.series(LANE1)
    assert len(v) == 50 and v[-1] == pytest.approx(17.2 + 0.499)
    assert t[0] == (T0 + timedelta(seconds=450)).timestamp()


def test_unknown_tag_is_ignored_not_stored(line, caplog):
    store = LiveStore(line, capacity=10, spc=False)
    store.ingest(reading("plant1/x/y/z/nope", 1.0, T0), now=T0)
    assert store.ingested == 0 and "unknown tag" in caplog.text


def test_fresh_value_is_good_then_stale_after_its_stale_after_s(line):
    store = LiveStore(line, capacity=10, spc=False)
    store.mark_connected("coating", now=T0)
    store.ingest(reading(LANE1, 17.2, T0), now=T0)
    assert store.latest(LANE1, now=T0 + timedelta(seconds=5)).quality is Quality.GOOD
    later = T0 + timedelta(seconds=line.tag(LANE1).stale_after_s + 1)
    assert store.latest(LANE1, now=later).quality is Quality.STALE  # shown stale even before refresh runs
    assert store.refresh(now=later) == [LANE1]
    stale = [a for a in store.alarms.active(later) if a.kind == "stale"]
    assert len(stale) == 1 and stale[0].station == "coating"
    assert store.station_status("coating", now=later).state == "stale"
    # new data: fresh again, stale alarm returns to normal (awaits acknowledgement)
    store.ingest(reading(LANE1, 17.3, later), now=later)
    assert store.latest(LANE1, now=later).quality is Quality.GOOD
    assert stale[0].active is False and stale[0].state == "cleared"


def test_disconnected_station_is_never_shown_fresh(line):
    store = LiveStore(line, capacity=10, spc=False)
    store.ingest(reading(FROST1, -50.0, T0), now=T0)
    assert store.station_status("dryroom", now=T0).state == "running"
    store.mark_disconnected("dryroom", now=T0 + timedelta(seconds=1), reason="(server gone)")
    latest = store.latest(FROST1, now=T0 + timedelta(seconds=1))
    assert latest.quality is Quality.DISCONNECTED and latest.value == -50.0  # last value kept, marked
    st = store.station_status("dryroom", now=T0 + timedelta(seconds=1))
    assert (st.state, st.connected) == ("disconnected", False)
    alarm = [a for a in store.alarms.active() if a.kind == "disconnected"][0]
    assert "connection lost" in alarm.message and alarm.priority == "high"
    # data flows again: recovered, alarm cleared
    store.ingest(reading(FROST1, -50.1, T0 + timedelta(seconds=3)), now=T0 + timedelta(seconds=3))
    assert store.station_status("dryroom", now=T0 + timedelta(seconds=3)).state == "running"
    assert alarm.active is False


def test_station_never_heard_from_is_waiting_not_running(line):
    store = LiveStore(line, capacity=10, spc=False)
    assert store.station_status("formation", now=T0).state == "waiting"
    assert store.latest(FROST1, now=T0).quality is Quality.DISCONNECTED


def test_bad_quality_sample_is_stored_but_not_judged_by_detectors(line):
    store = LiveStore(line, capacity=10, spc=False)
    store.mark_connected("dryroom", now=T0)
    store.ingest(reading(FROST1, -10.0, T0, Quality.BAD), now=T0)  # far above the -40 limit, but BAD
    assert store.alarms.active() == []
    assert store.series(FROST1)[2].tolist() == [2]


def test_since_and_latest_values_for_sessions(line):
    store = LiveStore(line, capacity=8, spc=False)
    for i in range(3):
        store.ingest(reading(WELD, 40.0 + i, T0 + timedelta(seconds=i)), now=T0)
    t, v, q, total = store.since(WELD, 1)
    assert v.tolist() == [41.0, 42.0] and total == 3
    got = store.latest_values([WELD, LANE1])
    assert got[0] == 42.0 and np.isnan(got[1])
    with pytest.raises(LiveError, match="no tag"):
        store.series("plant1/no/such/tag/x")


def test_store_needs_a_line_config():
    with pytest.raises(LiveError, match="LineConfig"):
        LiveStore({"name": "x"})

"""Alarms ISA-18.2 style (raise/clear, acknowledge, shelve with a user name, history) and the online
detectors of the live store (config alarm limits with deadband, streaming CUSUM, FOCuS change points)."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from data_adapters.base import Quality, Reading
from workbench.live import AlarmList, LiveError, LiveStore
from workbench.config import default_config_path, load_line_config

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)
FROST1 = "plant1/dryroom/room1/hygrometer/frost_point_s1"
LANE7 = "plant1/electrode/coat1/gauge/areal_mass_lane07"


@pytest.fixture(scope="module")
def line():
    return load_line_config(default_config_path())


def feed(store, path, values, start=T0, step_s=1.0):
    for i, v in enumerate(values):
        t = start + timedelta(seconds=i * step_s)
        store.ingest(Reading(path, float(v), "x", t, Quality.GOOD, t), now=t)


def test_alarm_lifecycle_active_acknowledged_closed():
    al = AlarmList()
    a = al.raise_alarm("p/a/l/s/x", "s", "high", 5.0, 4.0, T0, message="x high")
    assert a.state == "active" and al.unacknowledged() == [a]
    assert al.raise_alarm("p/a/l/s/x", "s", "high", 6.0, 4.0, T0, message="x high") is a  # no duplicate
    al.acknowledge(a.id, "  maria ", now=T0 + timedelta(seconds=5))
    assert (a.state, a.acked_by) == ("acknowledged", "maria")
    al.clear_alarm("p/a/l/s/x", "high", T0 + timedelta(seconds=9))
    assert a.state == "closed" and al.open() == []
    assert [e.action for e in al.history] == ["raised", "acknowledged", "cleared", "closed"]
    assert al.history[1].user == "maria"


def test_cleared_alarm_waits_for_acknowledgement_and_reannunciates():
    al = AlarmList()
    a = al.raise_alarm("t", "s", "high", 5.0, 4.0, T0, message="m")
    al.clear_alarm("t", "high", T0 + timedelta(seconds=1))
    assert a.state == "cleared" and al.open() == [a]  # returned to normal, still unacknowledged
    b = al.raise_alarm("t", "s", "high", 5.5, 4.0, T0 + timedelta(seconds=2), message="m")
    assert b is a and a.state == "active"
    al.clear_alarm("t", "high", T0 + timedelta(seconds=3))
    al.acknowledge(a.id, "li")
    assert al.open() == [] and a.state == "closed"


def test_shelve_hides_for_a_while_with_user_name():
    al = AlarmList()
    a = al.raise_alarm("t", "s", "low", 1.0, 2.0, T0, message="m")
    now = datetime.now(timezone.utc)
    al.shelve(a.id, "ops lead", minutes=30, reason="sensor under maintenance", now=now)
    assert al.active(now) == [] and al.shelved(now) == [a]
    assert a.state == "shelved" and a.shelved_by == "ops lead"
    assert al.active(now + timedelta(minutes=31)) == [a]  # comes back by itself
    al.unshelve(a.id, "ops lead", now=now)
    assert al.active(now) == [a]
    assert [e.action for e in al.history][-2:] == ["shelved", "unshelved"]


def test_a_shelve_ends_on_the_store_refresh_after_its_time_on_the_line_clock(line):
    """The alarm state machine takes its time from the caller: the shelve of a sped-up or replayed line ends
    when the store's clock passes its end, not when the wall clock does; the journal says it ended."""
    store = LiveStore(line, capacity=50, spc=False)
    feed(store, FROST1, [-38.0])  # above the frost-point high limit
    (a,) = store.alarms.active(T0)
    store.alarms.shelve(a.id, "ops lead", minutes=30, now=T0)
    store.refresh(T0 + timedelta(minutes=29))
    assert a.state == "shelved" and a not in store.alarms.active(T0 + timedelta(minutes=29))
    version = store.version
    store.refresh(T0 + timedelta(minutes=30))
    assert a.state == "active" and a.shelved_by is None and store.version > version
    assert (store.alarms.history[-1].action, store.alarms.history[-1].detail) == ("unshelved", "shelve time over")


@pytest.mark.parametrize("user", ["", "   ", None, 42])
def test_ack_and_shelve_need_a_user_name(user):
    al = AlarmList()
    a = al.raise_alarm("t", "s", "high", 5.0, 4.0, T0, message="m")
    with pytest.raises(LiveError, match="user name"):
        al.acknowledge(a.id, user)
    with pytest.raises(LiveError, match="user name"):
        al.shelve(a.id, user)
    assert a.acked_by is None and a.shelved_by is None


def test_unknown_alarm_and_bad_shelve_time_are_clear_errors():
    al = AlarmList()
    with pytest.raises(LiveError, match="no alarm with id 99"):
        al.acknowledge(99, "x")
    a = al.raise_alarm("t", "s", "high", 5.0, 4.0, T0, message="m")
    with pytest.raises(LiveError, match="shelve minutes"):
        al.shelve(a.id, "x", minutes=0)
    with pytest.raises(LiveError, match="shelve minutes"):
        al.shelve(a.id, "x", minutes=5000)


def test_history_is_bounded():
    al = AlarmList(history_size=10)
    for i in range(30):
        al.raise_alarm(f"t{i}", "s", "high", 5.0, 4.0, T0, message="m")
    assert len(al.history) == 10


def test_high_limit_alarm_with_deadband_does_not_chatter(line):
    # frost point s1: alarm high -40 degC, resolution 0.1 -> deadband 0.2 K
    store = LiveStore(line, capacity=100, spc=False)
    feed(store, FROST1, [-45.0, -39.9, -40.05, -39.95, -40.1, -40.3])
    highs = [e for e in store.alarms.history if e.kind == "high"]
    assert [e.action for e in highs] == ["raised", "cleared"]  # one alarm, cleared only below -40.2
    alarm = store.alarms.get(highs[0].alarm_id)
    assert alarm.limit == -40.0 and alarm.value == pytest.approx(-39.9)
    assert "above high limit -40" in alarm.message and alarm.station == "dryroom"
    assert alarm.cleared_at == T0 + timedelta(seconds=5)


def test_cusum_alarm_and_focus_change_point_on_a_lane_shift(line):
    rng = np.random.default_rng(1)
    store = LiveStore(line, capacity=400, spc=True, spc_warmup=100)
    base = 17.2 + 0.02 * rng.standard_normal(150)
    shifted = 17.2 + 0.12 + 0.02 * rng.standard_normal(60)  # +6 sigma, above the lanes' minimum shift 0.085
    feed(store, LANE7, np.concatenate([base, shifted]), step_s=10.0)
    cusum = [a for a in store.alarms.open() if a.kind == "spc_cusum"]
    assert len(cusum) == 1 and "shift up" in cusum[0].message
    first_alarm = min(e.at for e in store.alarms.history if e.kind == "spc_cusum")
    assert T0 + timedelta(seconds=1500) <= first_alarm <= T0 + timedelta(seconds=1600)  # within 10 samples
    # the design (workbench.spc.design): K midway between the warm-up's level wander and 0.085, h for ARL0 20,000
    cps = [c for c in store.changepoints if c.tag == LANE7]
    assert cps, "FOCuS found no change point"
    assert abs((cps[0].since - (T0 + timedelta(seconds=1500))).total_seconds()) <= 60  # began near sample 150
    assert cps[0].shift == pytest.approx(0.12, abs=0.03)
    assert len(cps) <= 2  # re-centred after the first: no flood of change points on a sustained shift


def test_no_spc_alarm_on_in_control_data(line):
    rng = np.random.default_rng(2)
    store = LiveStore(line, capacity=400, spc=True)
    feed(store, LANE7, 17.2 + 0.02 * rng.standard_normal(300), step_s=10.0)
    assert [a for a in store.alarms.open() if a.kind == "spc_cusum"] == []
    assert [c for c in store.changepoints if c.tag == LANE7] == []


def test_live_cusum_decision_interval_gives_the_documented_in_control_arl(line):
    from workbench.spc.arl import cusum_arl
    from workbench.spc.monitors import SpcMonitor

    mon = SpcMonitor(line.tag(LANE7), warmup=100)
    rng = np.random.default_rng(4)
    for i, v in enumerate(17.2 + 0.02 * rng.standard_normal(100)):
        mon.update(float(v), T0 + timedelta(seconds=10 * i))
    assert mon.provisional and mon.min_shift == pytest.approx(0.085)
    arl0 = cusum_arl(k=mon.design.k, h=mon.design.h)
    assert 19800 <= arl0 <= 20200 and SpcMonitor.ARL0 == 20000

"""The pause/resume race, pinned: a resume right after a pause runs on, and a plan that moves two
setpoints never trips bluesky's "Mismatched objects read". Virtual clock; every wait polls a deadline."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from data_adapters.audit import AuditLog
from data_adapters.base import Adapter
from data_adapters.trials import TrialController, parse_plan
from data_adapters.trials.clock import VirtualClock
from tests.test_trial_property import LINE, SETPOINTS, START, RecordingStation, poll


def controller(tmp_path, clock):
    station = RecordingStation(LINE, clock)
    adapter = Adapter([LINE.tags[p] for p in SETPOINTS], station, audit=AuditLog(tmp_path / "audit.sqlite"),
                      clock=clock)
    ctl = TrialController(adapter, LINE, journal=tmp_path / "journal.sqlite", clock=clock)
    ctl.connect()
    return ctl, station


TWO_SETPOINTS = {"name": "two", "responses": SETPOINTS, "sequence": [
    {"step": {"delta": {SETPOINTS[0]: 60.0}}, "dwell_s": 20.0},
    {"ramp": {"delta": {SETPOINTS[1]: 80.0}, "rate": {SETPOINTS[1]: 20.0}}, "dwell_s": 10.0},
    {"step": {"delta": {SETPOINTS[0]: -60.0}}, "dwell_s": 5.0}]}


def test_a_plan_moving_two_setpoints_completes_without_a_mismatched_read(tmp_path, caplog):
    clock = VirtualClock(datetime(2026, 1, 5, tzinfo=timezone.utc))
    ctl, station = controller(tmp_path, clock)
    try:
        with caplog.at_level(logging.ERROR):
            ctl.load(parse_plan(TWO_SETPOINTS))
            ctl.arm("ann", "two setpoints", 30)
            ctl.start()
            assert ctl.wait(60) == "completed", (ctl.state, ctl.reason)
        assert "Mismatched objects read" not in caplog.text
        assert ctl.restored and all(station.values[p] == START[p] for p in SETPOINTS)
        events = [d for n, d in ctl.documents if n == "event"]
        assert events and all(set(e["data"]) == {"pump_rate_setpoint", "laser_power_setpoint"} for e in events)
    finally:
        ctl.close()


def test_resume_right_after_pause_ends_in_running_then_completes(tmp_path, caplog):
    clock = VirtualClock(datetime(2026, 1, 5, tzinfo=timezone.utc))
    ctl, station = controller(tmp_path, clock)
    try:
        ctl.load(parse_plan(TWO_SETPOINTS))
        ctl.arm("ann", "pause and resume", 30)
        station.hold(1)  # act while the station holds the second write
        ctl.start()
        poll(station.holding.is_set, "the second write")
        ctl.pause()
        assert ctl.state == "paused"  # pause() returns once the run is paused
        ctl.resume()  # at once: never refused, never lost
        station.release()
        poll(lambda: ctl.state != "paused", "the resume")
        assert ctl.state in ("running", "completed"), (ctl.state, ctl.reason)
        assert ctl.wait(60) == "completed", (ctl.state, ctl.reason)
        assert "Mismatched objects read" not in caplog.text
        assert ctl.restored
    finally:
        ctl.close()


def test_a_plan_that_only_holds_and_watches_completes_restored(tmp_path):
    """A plan without setpoint moves (hold and watch the responses) has nothing to walk back: it completes.
    Before, the restore waited on an empty set of writes and the trial ended "failed"."""
    clock = VirtualClock(datetime(2026, 1, 5, tzinfo=timezone.utc))
    ctl, station = controller(tmp_path, clock)
    try:
        ctl.load(parse_plan({"name": "watch", "responses": SETPOINTS, "sequence": [{"hold": {"seconds": 15.0}}]}))
        ctl.arm("ann", "watch only", 30)
        ctl.start()
        assert ctl.wait(60) == "completed", (ctl.state, ctl.reason)
        assert ctl.restored and station.reached == []
    finally:
        ctl.close()

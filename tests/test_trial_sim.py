"""Trials on the virtual line (fast clock): effect recovered within its CI, interlocks, abort, audit."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest

from data_adapters.audit import AuditLog, verify
from data_adapters.trials import TrialController, TrialError, parse_plan
from data_adapters.trials.simline import VirtualLineClock, trial_sim_adapter

LASER_SP = "plant1/assembly/weld1/welder/laser_power_setpoint"
LASER = "plant1/assembly/weld1/welder/laser_power"
PUMP_SP = "plant1/electrode/coat1/coater/pump_rate_setpoint"
AREAL = "plant1/electrode/coat1/gauge/areal_mass_lane12"
DEW = "plant1/dryroom/room1/hygrometer/dew_point_s4"
SPEED = 100.0


@pytest.fixture
def make(tmp_path, line_config):
    made = []

    def _make(events=None, speed=SPEED, virtual=True, clock_type=VirtualLineClock, **kw):
        """A controller on the virtual line; ``virtual``: on the line's virtual clock (no wall-clock races)."""
        audit = AuditLog(tmp_path / "audit.sqlite")
        adapter = trial_sim_adapter(line_config, speed=speed, audit=audit, events=events, virtual=virtual)
        clock = clock_type(adapter) if virtual else None
        ctl = TrialController(adapter, line_config, journal=tmp_path / "trials.sqlite", time_scale=speed,
                              clock=clock, **kw)
        ctl.connect()
        made.append(ctl)
        return ctl, audit

    yield _make
    for c in made:
        c.close()


def _setpoint(ctl, path):
    return ctl.read_setpoints()[path] if ctl.plan else ctl.call(ctl.adapter.read([path]))[path].value


def test_laser_step_effect_recovered_within_ci(make):
    ctl, audit = make()
    ctl.load(parse_plan({
        "name": "laser step", "responses": [LASER], "transient_s": 10, "baseline": {"hold_s": 240},
        "sequence": [{"step": {"delta": {LASER_SP: 100}}, "name": "plus100", "dwell_s": 240}]}))
    ctl.arm("ann", "laser power gain", 30)
    ctl.start()
    assert ctl.wait(60) == "completed", ctl.reason
    eff = ctl.result().effects().set_index("segment").loc["plus100"]
    # the virtual line's laser follows its setpoint with gain 1 (dead time 0.2 s, tau 1 s)
    assert eff.ci_low <= 100.0 <= eff.ci_high
    assert eff.ci_high - eff.ci_low < 25.0  # the interval is informative, so the check can fail
    assert ctl.restored and _setpoint(ctl, LASER_SP) == pytest.approx(2500.0)
    entries = audit.entries(trial_id=ctl.trial_id)
    assert [e["result"] for e in entries] == ["written", "written"]  # the step and the return
    assert all(e["user"] == "ann" for e in entries) and verify(audit.path).ok
    ds = ctl.result().to_xarray()
    assert ds.laser_power_setpoint.attrs["units"] == "W"
    assert float(ds.laser_power_setpoint.where(ds.segment == "plus100", drop=True).min()) == 2600.0


def test_pump_step_areal_mass_follows_the_mass_balance(make):
    ctl, _ = make(speed=250.0)
    ctl.load(parse_plan({
        "name": "pump step", "responses": [AREAL], "transient_s": 200, "baseline": {"hold_s": 600},
        "sequence": [{"step": {"delta": {PUMP_SP: 90}}, "name": "up", "dwell_s": 800}]}))
    ctl.arm("ann", "areal mass gain", 30)
    ctl.start()
    assert ctl.wait(60) == "completed", ctl.reason
    eff = ctl.result().effects().set_index("segment").loc["up"]
    expected = 0.65 * 90 / (0.55 * 20) / 10  # mg/cm^2: solids x pump / (width x speed)
    assert eff.ci_low - 0.05 <= expected <= eff.ci_high + 0.05  # + lot/flow wander the CI cannot see
    assert eff.effect == pytest.approx(expected, rel=0.2)


def test_the_record_follows_the_return_to_baseline_until_it_settles(make):
    """The example pump step: the responses are recorded through the restore and for the plan's transient_s
    after it (the console's trend used to end at the restore write, 15 min in); nothing is written meanwhile,
    pause is refused, and an abort ends the watch (its trial still completed: the plan had finished)."""
    from pathlib import Path

    import numpy as np

    from data_adapters.trials import load_plan
    from data_adapters.trials.schedule import return_watch_s

    plan = load_plan(Path(__file__).resolve().parents[1] / "examples" / "trials" / "pump_step.yaml")
    assert return_watch_s(plan) == plan.transient_s == 200.0
    ctl, audit = make(speed=250.0)
    refused = []

    def on_state(state, reason):
        if "watching the return" in reason:
            with pytest.raises(TrialError, match="returning to baseline: nothing to pause"):
                ctl.pause()
            refused.append(reason)

    ctl.listeners.append(on_state)
    ctl.load(plan)
    ctl.arm("ann", "areal mass gain", 60)
    ctl.start()
    assert ctl.wait(60) == "completed" and ctl.restored, ctl.reason
    assert refused == ["setpoints back at baseline; watching the return for 200 s"]
    restore = next(s["start"] for s in ctl.recorder.segments if s["kind"] == "restore")
    assert (restore - ctl.recorder.segments[0]["start"]).total_seconds() == pytest.approx(900.0, abs=1.0)
    assert [e["requested"] for e in audit.entries(trial_id=ctl.trial_id)] == [3001.0, 2911.0]
    for path in plan.responses:
        got = [r[3] for r in ctl.recorder.readings[path]]  # received, on the trial's clock
        every = np.median(np.diff([t.timestamp() for t in got]))  # the tag's sample period (a scanning gauge: s)
        assert (got[-1] - restore).total_seconds() >= 200.0 - every, (path, got[-1], restore, every)
    ds = ctl.result().to_xarray()
    areal = ds.areal_mass_lane12.values
    before = np.nanmean(areal[ds.settled.values & (ds.segment_kind.values == "baseline")])
    tail = ds.time.values >= np.datetime64(restore.replace(tzinfo=None)) + np.timedelta64(150, "s")
    assert tail.sum() >= 20 and abs(np.nanmean(areal[tail]) - before) < 0.15, (np.nanmean(areal[tail]), before)

    # an abort while the return is watched ends the watch at once
    ctl.listeners[:] = [lambda s, r: "watching the return" in r and ctl.abort("seen enough", by="ann")]
    ctl.load(plan)
    ctl.arm("ann", "areal mass gain", 60)
    ctl.start()
    assert ctl.wait(60) == "completed" and ctl.restored, ctl.reason
    restore = next(s["start"] for s in ctl.recorder.segments if s["kind"] == "restore")
    assert all((ctl.recorder.readings[p][-1][3] - restore).total_seconds() < 1.0 for p in plan.responses)


def _dew_plan(action, hold=60, dwell=1500):
    return parse_plan({
        "name": "laser with dew interlock", "responses": [LASER, DEW], "baseline": {"hold_s": hold},
        "sequence": [{"step": {"delta": {LASER_SP: 100}}, "name": "plus100", "dwell_s": dwell}],
        "interlocks": [{"name": "filling zone dew point", "tag": DEW, "above": -48.0, "hysteresis": 1.0,
                        "action": action}]})


EXCURSION = [{"kind": "dewpoint_excursion", "start": "90s", "end": "5min", "magnitude": 8.0}]


def test_dew_point_excursion_aborts_and_restores_baseline(make):
    ctl, audit = make(events=EXCURSION, speed=200.0)
    ctl.load(_dew_plan("abort"))
    ctl.arm("ben", "interlock test", 60)
    ctl.start()
    assert ctl.wait(60) == "aborted"
    assert "filling zone dew point" in ctl.reason and "above -48" in ctl.reason
    assert ctl.restored and _setpoint(ctl, LASER_SP) == pytest.approx(2500.0)
    assert [e["requested"] for e in audit.entries(trial_id=ctl.trial_id)] == [2600.0, 2500.0]
    rec = ctl.journal.get(ctl.trial_id)
    assert rec.state == "aborted" and rec.restored and "interlock" in rec.exit_reason


def test_dew_point_excursion_pauses_then_resumes_and_completes(make):
    ctl, _ = make(events=EXCURSION, speed=200.0)
    seen = []
    ctl.listeners.append(lambda s, r: seen.append((s, r)))
    ctl.load(_dew_plan("pause", dwell=2400))
    ctl.arm("ben", "interlock pause test", 120)
    ctl.start()
    assert ctl.wait(90) == "completed", ctl.reason
    paused = [r for s, r in seen if s == "paused"]
    assert paused and "filling zone dew point" in paused[0] and "clears at or below -49" in paused[0]
    assert ("running" in [s for s, _ in seen[seen.index(("paused", paused[0])):]])
    ds = ctl.result().to_xarray()
    assert bool(ds.paused.any()) and not bool((ds.paused & ds.settled).any())
    assert ctl.restored and _setpoint(ctl, LASER_SP) == pytest.approx(2500.0)
    assert any(n == "stop" and d.get("exit_status") == "success" for n, d in ctl.documents)


def test_user_pause_resume_abort_returns_to_baseline(make):
    ctl, audit = make(speed=20.0, clock_type=GatedClock)
    ctl.load(parse_plan({"name": "ramp", "responses": [LASER], "sequence": [
        {"ramp": {"delta": {LASER_SP: 300}, "rate": {LASER_SP: 10}}, "write_every_s": 2, "name": "up",
         "dwell_s": 600}]}))
    ctl.arm("cat", "abort test", 30)
    writes = lambda: len(audit.entries(trial_id=ctl.trial_id))  # noqa: E731
    ctl.clock.hold_when(lambda: writes() >= 3)
    ctl.start()
    ctl.clock.wait_held()
    ctl.clock.release()
    ctl.pause()  # returns once paused: the ramp may have gone on by a step or so (line time)
    assert ctl.state == "paused"
    n = writes()
    ctl.clock.hold_when(lambda: writes() > n + 2)
    ctl.resume()
    ctl.clock.wait_held()
    ctl.abort("enough", by="cat")
    ctl.clock.release()
    assert ctl.wait(60) == "aborted" and "enough" in ctl.reason
    assert ctl.restored and _setpoint(ctl, LASER_SP) == pytest.approx(2500.0)
    entries = audit.entries(trial_id=ctl.trial_id)
    assert all(e["result"] == "written" for e in entries)  # the ramp and the return never tripped the guard
    assert max(e["requested"] for e in entries) < 2800.0  # stopped mid-ramp


class GatedClock(VirtualLineClock):
    """The virtual line's clock that stops where the test says (``hold_when``) until the test has done its
    part (an operator's action) and calls ``release``: the action lands at a known point of the trial
    whatever the machine's load (on the bare virtual clock a whole trial can pass before the test acts)."""

    def __init__(self, adapter, step_s: float = 0.5):
        super().__init__(adapter, step_s)
        self._when, self._held, self._go, self._loop = None, threading.Event(), None, None

    def hold_when(self, cond) -> None:
        self._held.clear()
        self._when = cond

    def wait_held(self, timeout: float = 60.0) -> None:
        assert self._held.wait(timeout), "the trial never reached the point the test waits for"

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._go.set)

    async def sleep(self, seconds: float) -> None:
        remaining = max(0.0, float(seconds))
        while True:
            dt = min(self.step_s, remaining)
            await super().sleep(dt)
            remaining -= dt
            if self._when is not None and self._when():
                self._when, self._loop, self._go = None, asyncio.get_running_loop(), asyncio.Event()
                self._held.set()
                await self._go.wait()
            if remaining <= 0:
                return


def test_doe_main_effect_recovered_with_recorded_seed(make):
    ctl, _ = make(speed=100.0)
    ctl.load(parse_plan({"name": "laser doe", "responses": [LASER], "transient_s": 20, "sequence": [{"doe": {
        "delta_factors": {LASER_SP: [-100, 100]}, "replicates": 3, "seed": 11, "dwell_s": 90}}]}))
    ctl.arm("ida", "doe test", 30)
    ctl.start()
    assert ctl.wait(60) == "completed", ctl.reason
    res = ctl.result()
    [row] = res.main_effects().to_dict("records")
    assert row["low"] == -100 and row["high"] == 100 and row["runs_low"] == row["runs_high"] == 3
    # The sim runs on the wall clock at speed 100: a loaded machine delivers fewer readings per dwell and
    # widens the CI (40-45 W seen at load average 15), so the width bound leaves room for that.
    assert row["ci_low"] <= 200.0 <= row["ci_high"] and row["ci_high"] - row["ci_low"] < 60.0
    order = res.doe_orders["doe1"]
    assert order["seed"] == 11 and sorted(order["order"]) == list(range(6))
    start_doc = next(d for n, d in ctl.documents if n == "start")
    assert '"seed": 11' in start_doc["doe"] and start_doc["user"] == "ida"


def test_refused_write_fails_the_trial_and_restores_from_the_readback(make):
    """An operator moves the setpoint behind the trial's back: the next planned step is refused by the
    guard (exception path), the trial fails, and the return starts from what the station reports."""
    ctl, audit = make(speed=50.0, clock_type=GatedClock)
    ctl.load(parse_plan({"name": "two steps", "responses": [LASER], "sequence": [
        {"step": {"delta": {LASER_SP: 100}}, "name": "a", "dwell_s": 60},
        {"step": {"delta": {LASER_SP: 200}}, "name": "b", "dwell_s": 60}]}))
    ctl.arm("jo", "exception path", 30)
    ctl.clock.hold_when(lambda: len(audit.entries(trial_id=ctl.trial_id)) >= 1)  # inside step "a"
    ctl.start()
    ctl.clock.wait_held()
    ctl.call(ctl.adapter.backend.write(LASER_SP, 2520.0))  # behind the guard's back, like a local HMI
    ctl.clock.release()
    assert ctl.wait(60) == "failed"
    assert "max_step" in ctl.reason
    results = [(e["requested"], e["result"]) for e in audit.entries(trial_id=ctl.trial_id)]
    assert results[0] == (2600.0, "written") and results[1] == (2700.0, "refused")
    assert results[-1] == (2500.0, "written") and ctl.restored
    assert _setpoint(ctl, LASER_SP) == pytest.approx(2500.0)


def test_lost_connection_aborts_and_recover_restores_after_reconnect(make):
    ctl, audit = make(speed=50.0, clock_type=GatedClock)
    ctl.load(parse_plan({"name": "step", "responses": [LASER], "sequence": [
        {"step": {"delta": {LASER_SP: 100}}, "name": "a", "dwell_s": 600}]}))
    ctl.arm("kim", "disconnect test", 30)
    ctl.clock.hold_when(lambda: len(audit.entries(trial_id=ctl.trial_id)) >= 1)
    ctl.start()
    ctl.clock.wait_held()
    ctl.call(ctl.adapter.backend.close())  # the link drops
    ctl.clock.release()
    assert ctl.wait(60) in ("aborted", "failed")
    assert "disconnected" in ctl.reason and not ctl.restored and "NOT confirmed" in ctl.reason
    assert [r.trial_id for r in ctl.journal.unfinished()] == [ctl.trial_id]
    ctl.call(ctl.adapter.connect())  # the link is back
    assert "baseline restored" in ctl.recover(user="kim")[0]
    assert _setpoint(ctl, LASER_SP) == pytest.approx(2500.0) and ctl.journal.unfinished() == []

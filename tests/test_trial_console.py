"""The trial console's session object and backend (no browser): paths from the environment or the start
directory, the write role, every command in the audit log with its user, the plan validated and
dry-run as you type, a refused write that blocks arming, a full run with its estimates and downloads."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
import yaml

from apps.trial.backend import ConsoleBackend, Settings
from apps.trial.console import TrialConsole
from apps.trial.validate import check_plan_text

REPO = Path(__file__).resolve().parents[1]
PLANS = REPO / "examples" / "trials"
PUMP_SP = "plant1/electrode/coat1/coater/pump_rate_setpoint"
AREAL = "plant1/electrode/coat1/gauge/areal_mass_lane12"
FINAL = ("completed", "aborted", "failed")


def until(cond, timeout: float, what: str, step=None):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        if step:
            step()
        time.sleep(0.1)


def refused_plan_text() -> str:
    """A ramp whose writes (rate x write_every_s = 200 g/min) are over the pump's max_step (90 g/min)."""
    return yaml.safe_dump({"name": "pump ramp too coarse", "baseline": {"hold_s": 60, "expected": {PUMP_SP: 2911}},
                           "responses": [AREAL], "sequence": [
                               {"ramp": {"delta": {PUMP_SP: 300}, "rate": {PUMP_SP: 10}}, "write_every_s": 20,
                                "name": "coarse ramp", "dwell_s": 120}]}, sort_keys=False)


@pytest.fixture
def backend(tmp_path):
    b = ConsoleBackend({"TRIAL_CONSOLE_DIR": str(tmp_path / "var"), "TRIAL_CONSOLE_SPEED": "100",
                        "TRIAL_CONSOLE_PLANS": str(PLANS), "TRIAL_CONSOLE_WRITERS": "gus, ann"})
    yield b
    if b.controller is not None:
        b.controller.close()


def test_paths_come_from_the_environment_or_the_start_directory_never_the_checkout(tmp_path):
    s = Settings.from_env({}, cwd=tmp_path)
    assert s.state_dir == tmp_path / "var" / "trials" and s.plans_dir is None
    assert any("TRIAL_CONSOLE_DIR" in n for n in s.notes) and any("TRIAL_CONSOLE_PLANS" in n for n in s.notes)
    (tmp_path / "examples" / "trials").mkdir(parents=True)
    assert Settings.from_env({}, cwd=tmp_path).plans_dir == tmp_path / "examples" / "trials"
    with pytest.raises(FileNotFoundError, match="TRIAL_CONSOLE_PLANS=.*no such folder"):
        Settings.from_env({"TRIAL_CONSOLE_PLANS": str(tmp_path / "nope")}, cwd=tmp_path)
    b = ConsoleBackend({"TRIAL_CONSOLE_PLANS": str(PLANS)}, cwd=tmp_path)
    assert b.dir == tmp_path / "var" / "trials" and (b.dir / "audit.sqlite").is_file()
    assert set(b.plan_files()) >= {"pump_step.yaml", "laser_doe.yaml", "speed_ramp.yaml"}


def test_write_role_is_deny_by_default():
    s = Settings.from_env({"TRIAL_CONSOLE_WRITERS": "ann, bob"})
    assert s.may_write("ann") and not s.may_write("eve") and not s.may_write(None)
    g = Settings.from_env({"TRIAL_CONSOLE_WRITER_GROUP": "trial-writers"})
    assert g.may_write("eve", ["operators", "trial-writers"]) and not g.may_write("eve", ["operators"])
    nobody = Settings.from_env({})
    assert not nobody.may_write("ann") and any("nobody may write" in n for n in nobody.notes)


def test_plan_is_validated_as_you_type_naming_line_and_key(backend):
    c = TrialConsole(backend, "gus")
    c.plan_select.value = "pump_step.yaml"
    assert 'data-ok="true"' in c.dry_summary.object and c.profile.objects  # dry run without any Load
    text = c.plan_text.value.replace("dwell_s: 600", "dwell_s: -600")
    c.plan_text.value_input = text  # each keystroke
    assert "line 15: sequence[0].dwell_s" in c.problems.object
    assert c.buttons["arm"].disabled and not c.profile.objects
    c.plan_text.value_input = c.plans["pump_step.yaml"]
    assert "plan valid" in c.problems.object and not c.buttons["arm"].disabled and c.profile.objects


@pytest.mark.parametrize("name", sorted(p.name for p in PLANS.glob("*.yaml")))
def test_every_example_plan_dry_runs_into_a_profile(backend, name):
    c = TrialConsole(backend, "gus")
    c.plan_select.value = name
    assert c.planned is not None and c.planned.ok, c.dry_summary.object
    for prof in c.planned.setpoints.values():
        assert len(prof.t) >= 3 and prof.off_baseline_s > 0 and prof.rate_cones
    assert 'data-refused="false"' in c.timeline.object


def test_a_write_over_max_step_is_marked_and_cannot_be_armed(backend):
    c = TrialConsole(backend, "gus")
    c.plan_text.value = refused_plan_text()
    assert 'data-ok="false"' in c.dry_summary.object and "max_step" in c.dry_summary.object
    first = c.planned.refused[0]
    assert first.rule == "max_step" and first.step == "coarse ramp" and first.t_s > 60
    assert 'data-refused="true"' in c.timeline.object
    assert c.buttons["arm"].disabled
    c.reason.value = "try anyway"
    c._do("arm")  # a stale button press is refused too, and audited
    assert c.message.alert_type == "danger" and backend.controller is None
    last = backend.audit.entries()[-1]
    assert (last["tag"], last["result"], last["user"]) == ("trial-console/arm", "refused", "gus")


def test_a_user_without_the_write_role_cannot_arm_and_the_press_is_audited(backend):
    c = TrialConsole(backend, "eve")
    assert all(c.buttons[n].disabled for n in ("arm", "start", "pause", "resume", "abort", "recover"))
    c.reason.value = "sneaky"
    c._do("arm")
    assert c.message.alert_type == "danger" and "eve may not arm" in c.message.object
    assert backend.controller is None
    e = backend.audit.entries()
    assert [(x["tag"], x["user"], x["result"]) for x in e] == [("trial-console/arm", "eve", "refused")]


def test_full_pump_step_estimates_the_virtual_lines_gain(backend):
    from workbench.simulate import virtual_line

    c = TrialConsole(backend, "gus")
    c.plan_select.value = "pump_step.yaml"
    c.reason.value = "console unit test"
    c._do("arm")
    assert "armed by gus" in c.message.object, c.message.object
    c._do("start")
    ctl = backend.controller
    until(lambda: 'data-role="time-left"' in c.state.object, 60, "the time left while running", step=c.refresh)
    until(lambda: ctl.state in FINAL, 240, "the end of the trial", step=c.refresh)
    assert ctl.wait(60) == "completed" and ctl.restored, ctl.reason
    until(lambda: c.result.objects, 30, "the result on screen", step=c.refresh)
    out = backend.outcome(ctl)
    gain = out["rows"].query("response == @AREAL and what == 'gain'").iloc[0]
    coater = virtual_line(seed=0, events=None).coater
    p = coater.p  # mass balance: m_A = w_s * pump / (W * U) / 10, shaped by the lane's CD profile
    true_gain = p.solids_fraction / (p.coated_width_m * p.line_speed_m_min) / 10 * coater.profile[11]
    assert gain.ci_low < true_gain < gain.ci_high, (gain.to_dict(), true_gain)
    assert 'data-what="gain"' in c.result.objects[1].objects[0].object
    ds = xr.open_dataset(__import__("io").BytesIO(out["netcdf"]()))
    assert ds.attrs["plan"] == "pump rate step" and "areal_mass_lane12" in ds
    assert "Armed by <b data-role=\"armed-by\">gus</b>" in out["report"] and "hash chain intact" in out["report"]
    assert "console unit test" in out["report"] and "gain" in out["report"]
    presses = [(e["tag"], e["user"]) for e in backend.audit.entries() if e["tag"].startswith("trial-console/")]
    assert presses == [("trial-console/arm", "gus"), ("trial-console/start", "gus")]
    # the trend covers the whole trial: through the restore (15 min in) and the watch of the return after it
    restore = next(s["start"] for s in ctl.recorder.segments if s["kind"] == "restore").timestamp() * 1e3
    for chart in c._run_trends.charts:
        end = max(float(src.data["t"][-1]) for src in chart.sources.values())
        assert end >= restore + 150e3 and chart.fig.x_range.end >= end, (chart.fig.title.text, end - restore)
    # the audit panel of the finished trial: every press and write attempt, the restore named, newest first
    shown = c.audit_rows
    assert "trial-audit" in c.audit.object and c.audit.object.count("pump_rate_setpoint") == 2
    assert list(shown["seq"]) == sorted(shown["seq"], reverse=True)
    assert [(r.event, r.step, r.tag.rsplit("/", 1)[-1], r.requested, r.result) for r in shown.itertuples()] == [
        ("restore", "restore", "pump_rate_setpoint", 2911.0, "written"),
        ("write", "pump +90", "pump_rate_setpoint", 3001.0, "written"),
        ("press", "", "start", pytest.approx(float("nan"), nan_ok=True), "written"),
        ("press", "", "arm", pytest.approx(float("nan"), nan_ok=True), "written")]
    assert set(shown["user"]) == {"gus"} and set(shown["trial_id"]) == {ctl.trial_id}
    # one clock: the presses are stamped on the trial's station clock, like its writes (not this server's)
    baseline = next(s["start"] for s in ctl.recorder.segments if s["kind"] == "baseline")
    start_press = shown.loc[shown["tag"] == "trial-console/start", "time"].iloc[0]
    assert abs((start_press - pd.Timestamp(baseline)).total_seconds()) < 60, (start_press, baseline)
    assert "." not in c.audit.object.split("<td>", 2)[2].split("</td>")[0]  # shown to the second


def test_audit_panel_shows_every_attempt_of_the_trial_whatever_the_clocks_time_format(tmp_path):
    """A write stamped on a station clock at a whole second (isoformat without a fraction) beside presses
    stamped on the server clock (with one): the panel read them all (it used to fail on the first row
    whose format differed, and kept showing the presses of the trial's start only)."""
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace as NS

    from apps.trial.views import audit_html, audit_table
    from data_adapters.audit import AuditLog
    from data_adapters.base import WriteResult

    log = AuditLog(tmp_path / "audit.sqlite")
    t0 = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)  # the station's clock, whole seconds
    wall = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=timezone.utc)
    s = NS(user="gus", reason="gain", trial_id="T1")
    press = lambda what, when: log.append(NS(path=f"trial-console/{what}", units="", old_value=None, requested=None,  # noqa: E731
                                            written=None, readback=None, result="written", message=what), session=s,
                                         now=when)
    press("arm", wall)
    press("start", wall + timedelta(seconds=1))
    log.append(WriteResult(PUMP_SP, 3001.0, "g/min", True, "written", "ok", old_value=2911.0), session=s,
               now=t0 + timedelta(minutes=5))
    log.append(WriteResult(PUMP_SP, 3200.0, "g/min", False, "refused", "over max_step 90"), session=s,
               now=t0 + timedelta(minutes=6))
    log.append(WriteResult(PUMP_SP, 2911.0, "g/min", True, "written", "ok"), session=s, now=t0 + timedelta(minutes=15))
    log.append(WriteResult(PUMP_SP, 1.0, "g/min", False, "refused", "not armed"), session=NS(user="eve", reason=None,
                                                                                           trial_id=None), now=wall)
    assert len(log.to_dataframe()) == 6  # mixed ISO 8601 forms parse
    segs = [{"name": "baseline", "kind": "baseline", "start": t0}, {"name": "pump +90", "kind": "step",
                                                                  "start": t0 + timedelta(minutes=5)},
            {"name": "restore", "kind": "restore", "start": t0 + timedelta(minutes=15)}]
    df = audit_table([*log.entries(trial_id="T1"), *log.entries(limit=2)], segs, "T1")
    assert list(df["seq"]) == [6, 5, 4, 3, 2, 1]  # newest first, each entry once
    assert list(df["event"]) == ["write", "restore", "write", "write", "press", "press"]
    assert list(df["step"])[1:4] == ["restore", "pump +90", "pump +90"]
    assert list(df["result"])[1:4] == ["written", "refused", "written"] and df["message"][2] == "over max_step 90"
    assert df["time"][1] == t0 + timedelta(minutes=15) and df["user"][0] == "eve"
    assert audit_table([]).empty
    shown = audit_html(df)
    assert "2026-12-03 12:00:00<" in shown and "12:00:00.123" not in shown and "2026-01-05 06:15:00<" in shown


def test_check_plan_text_reports_yaml_errors_with_their_line(backend):
    plan, problems = check_plan_text("name: x\nsequence: [\n", backend.line)
    assert plan is None and problems[0].line is not None and "not valid YAML" in problems[0].message

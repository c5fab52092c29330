"""Plans as data (validation errors name file and key), the dry-run and audit CLIs, the hash chain."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from data_adapters.audit import AuditLog, verify
from data_adapters.base import ArmedSession, WriteResult
from data_adapters.trials import PlanError, compile_plan, dry_run, load_plan, parse_plan
from data_adapters.trials.schedule import Write, doe_runs
from apps.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "trials"
PUMP_SP = "plant1/electrode/coat1/coater/pump_rate_setpoint"
SPEED_SP = "plant1/electrode/coat1/coater/line_speed_setpoint"
LASER_SP = "plant1/assembly/weld1/welder/laser_power_setpoint"


def _write(tmp_path, plan: dict) -> Path:
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(plan))
    return p


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_example_plans_dry_run_clean(name, line_config, capsys):
    assert main(["trial", "dry-run", str(EXAMPLES / name)]) == 0
    out = capsys.readouterr().out
    assert "dry run OK" in out and "expected duration" in out


def test_plan_errors_name_file_and_key(tmp_path):
    p = _write(tmp_path, {"name": "x", "responses": ["a/b/c/d/e"],
                          "sequence": [{"step": {"delta": {PUMP_SP: 10}}, "dwel_s": 5}]})
    with pytest.raises(PlanError, match=r"plan\.yaml: sequence\[0\]\.dwel_s: unknown key"):
        load_plan(p)
    with pytest.raises(PlanError, match=r"sequence\[0\]: each action needs exactly one of step, ramp, hold, doe"):
        parse_plan({"name": "x", "responses": ["a"], "sequence": [{"wait": 3}]})
    with pytest.raises(PlanError, match=r"interlocks\[0\]: .*below .* must be less than above"):
        parse_plan({"name": "x", "responses": ["a"], "sequence": [{"hold": {"seconds": 1}}],
                    "interlocks": [{"name": "i", "tag": "a", "above": 1, "below": 2}]})


def test_unknown_tag_is_named(line_config):
    plan = parse_plan({"name": "x", "responses": ["plant1/x/y/z/nope"], "baseline": {"expected": {PUMP_SP: 2911}},
                       "sequence": [{"step": {"delta": {PUMP_SP: 10}}}]})
    with pytest.raises(PlanError, match=r"responses\[0\]: 'plant1/x/y/z/nope' is not a tag"):
        dry_run(plan, line_config)


def test_dry_run_cli_names_first_offending_step(tmp_path, capsys):
    p = _write(tmp_path, {"name": "too fast", "responses": [SPEED_SP], "baseline": {"expected": {SPEED_SP: 20}},
                          "sequence": [{"step": {"delta": {SPEED_SP: 1}}, "name": "fine", "dwell_s": 30},
                                       {"ramp": {"delta": {SPEED_SP: 2}, "rate": {SPEED_SP: 0.5}},
                                        "name": "hasty ramp"}]})
    assert main(["trial", "dry-run", str(p)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: step 'hasty ramp'" in out and "max_rate" in out
    q = _write(tmp_path, {"name": "out of range", "responses": [PUMP_SP], "baseline": {"expected": {PUMP_SP: 3350}},
                          "sequence": [{"step": {"delta": {PUMP_SP: 90}}, "name": "over"}]})
    assert main(["trial", "dry-run", str(q)]) == 1
    assert "step 'over'" in capsys.readouterr().out
    # not writable
    r = _write(tmp_path, {"name": "pv", "responses": [PUMP_SP], "sequence": [{"step": {"set": {
        "plant1/electrode/coat1/coater/pump_rate": 3000}}}], "baseline": {"expected": {
            "plant1/electrode/coat1/coater/pump_rate": 2911}}})
    assert main(["trial", "dry-run", str(r)]) == 1
    assert "not declared writable" in capsys.readouterr().out


def test_big_step_is_split_by_max_step_and_spaced_by_max_rate(line_config):
    plan = parse_plan({"name": "big", "responses": [PUMP_SP], "sequence": [{"step": {"delta": {PUMP_SP: 250}}}]})
    tl = compile_plan(plan, line_config, {PUMP_SP: 2911.0}, restore=False)
    values = [a.value for a in tl.actions if isinstance(a, Write)]
    assert values == pytest.approx([2911 + 250 / 3, 2911 + 500 / 3, 3161])
    assert tl.duration_s == pytest.approx(2 * (250 / 3) / 30 * 1.001)  # two waits at max_rate 30 g/min/s
    assert dry_run(plan, line_config, {PUMP_SP: 2911.0}).ok


def test_doe_order_is_randomised_reproducibly_with_recorded_seed(line_config):
    spec = parse_plan({"name": "d", "responses": [LASER_SP], "sequence": [{"doe": {
        "delta_factors": {LASER_SP: [-100, 0, 100]}, "replicates": 2, "seed": 7, "dwell_s": 10}}]}).sequence[0].doe
    runs, levels, order = doe_runs(spec, {LASER_SP: 2500.0})
    assert sorted(r[LASER_SP] for r in runs) == [2400, 2400, 2500, 2500, 2600, 2600]
    assert order == doe_runs(spec, {LASER_SP: 2500.0})[2] and order != sorted(order)
    tl = compile_plan(parse_plan({"name": "d", "responses": [LASER_SP], "sequence": [{"doe": spec.model_dump()}]}),
                      line_config, {LASER_SP: 2500.0})
    assert tl.doe_orders["doe1"]["seed"] == 7 and tl.doe_orders["doe1"]["order"] == order


def _filled_audit(path: Path) -> AuditLog:
    log = AuditLog(path)
    s = ArmedSession.for_minutes("ann", "chain test", 5, "t1")
    for i in range(4):
        log.append(WriteResult(PUMP_SP, 2911.0 + i, "g/min", True, "written", "ok", written=2911.0 + i), session=s)
    return log


def test_audit_chain_verifies_and_tampering_is_detected(tmp_path, capsys):
    log = _filled_audit(tmp_path / "audit.sqlite")
    assert verify(log.path).ok
    assert main(["audit", "verify", str(log.path)]) == 0
    assert "4 entries, hash chain intact" in capsys.readouterr().out
    assert main(["audit", "show", str(log.path), "--trial", "t1"]) == 0
    assert capsys.readouterr().out.count("written") == 4
    con = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET requested = 9999 WHERE seq = 3")
    con.execute("DROP TRIGGER audit_no_update")  # an attacker with file access
    con.execute("UPDATE audit SET requested = 9999 WHERE seq = 3")
    con.commit()
    con.close()
    res = verify(log.path)
    assert not res.ok and res.first_bad_seq == 3
    assert main(["audit", "verify", str(log.path)]) == 1
    assert "entry 3 was altered" in capsys.readouterr().out


def test_dry_run_refuses_a_plan_longer_than_its_arming(line_config):
    plan = parse_plan({"name": "long", "responses": [PUMP_SP], "baseline": {"expected": {PUMP_SP: 2911}},
                       "arming": {"expires_minutes": 5},
                       "sequence": [{"step": {"delta": {PUMP_SP: 90}}, "name": "up", "dwell_s": 600}]})
    report = dry_run(plan, line_config)
    assert not report.ok and "step 'restore'" in report.first_error
    assert "arming expires after 5.0 min but the plan and its return need 10.0 min" in report.first_error

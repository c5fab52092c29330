"""Bad trial plans are refused before anything moves, each with a message naming file, key and fix."""

from __future__ import annotations

import pytest

from data_adapters.trials import PlanError, dry_run, load_plan, parse_plan
from apps.cli import main

PUMP_SP = "plant1/electrode/coat1/coater/pump_rate_setpoint"
PLAN = f"""name: pump step
baseline: {{expected: {{{PUMP_SP}: 2911}}}}
responses: [plant1/electrode/coat1/coater/pump_rate]
sequence:
  - step: {{delta: {{{PUMP_SP}: DELTA}}}}
    dwell_s: DWELL
"""


def plan_file(tmp_path, delta="50", dwell="60"):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.replace("DELTA", delta).replace("DWELL", dwell))
    return path


def refused(path) -> str:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:"), msg
    return msg


def test_a_repeated_key_is_refused_not_taken_last_wins(tmp_path):
    path = plan_file(tmp_path, delta=f"50, {PUMP_SP}: 400")  # the delta of 50 became 400 on main
    msg = refused(path)
    assert f"line 5, column" in msg and f"sequence[0].step.delta.{PUMP_SP} is repeated" in msg


@pytest.mark.parametrize("dwell", [".inf", "1e12", "-1"])
def test_an_infinite_or_absurd_dwell_is_a_plan_error_naming_the_key(tmp_path, dwell):
    msg = refused(plan_file(tmp_path, dwell=dwell))
    assert "sequence[0].dwell_s" in msg and "\n" not in msg
    if dwell != "-1":
        assert "24 h" in msg or "finite" in msg


def test_a_nan_delta_is_a_plan_error_naming_the_tag(tmp_path):
    msg = refused(plan_file(tmp_path, delta=".nan"))
    assert f"sequence[0].step.delta.{PUMP_SP}" in msg and "not a finite number" in msg


def test_the_cli_reports_them_without_a_traceback(tmp_path, capsys):
    assert main(["trial", "dry-run", str(plan_file(tmp_path, delta=".nan"))]) == 2
    err = capsys.readouterr().err
    assert "not a finite number" in err and "Traceback" not in err


@pytest.mark.parametrize("sequence", [[], None])
def test_an_empty_sequence_says_so_first(sequence):
    with pytest.raises(PlanError) as info:
        parse_plan({"name": "nothing", "responses": [PUMP_SP], "sequence": sequence})
    first = str(info.value).splitlines()[0]
    assert "sequence: the plan has no actions" in first and "baseline.expected" not in first


def test_a_ramp_needing_millions_of_writes_is_refused_by_name(line_config):
    plan = parse_plan({"name": "crawl", "responses": [PUMP_SP], "baseline": {"expected": {PUMP_SP: 2911}},
                       "sequence": [{"ramp": {"delta": {PUMP_SP: 90}, "rate": {PUMP_SP: 1e-9}},
                                     "name": "crawl", "write_every_s": 1e-3}]})
    with pytest.raises(PlanError, match=r"step 'crawl': ramping .* needs \d+ writes"):
        dry_run(plan, line_config)

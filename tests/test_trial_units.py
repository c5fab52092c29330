"""Pure parts of the trials package: interlock hysteresis/persistence/staleness, Python plans, doctests."""

from __future__ import annotations

import doctest
import importlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from data_adapters.trials import PlanError, load_plan
from data_adapters.trials.interlocks import InterlockState
from data_adapters.trials.plan import Interlock

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "trials"


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_out_of_spec_must_persist_for_s_then_clears_with_hysteresis():
    st = InterlockState(Interlock(name="areal mass", tag="p/a/l/s/areal_mass", above=17.5, below=16.9, for_s=60,
                                  hysteresis=0.1, clear_after_s=30, action="pause"), "mg/cm^2")
    assert not st.update(17.6, True, at(0))
    assert not st.update(17.2, True, at(30))  # back in spec: the clock restarts
    assert not st.update(17.6, True, at(40)) and not st.update(17.7, True, at(99))
    assert st.update(17.6, True, at(100))  # out for 60 s
    assert "for 60 s" in st.reason and "clears at or below 17.4" in st.reason
    assert st.update(17.45, True, at(110))  # inside the limit but not by the hysteresis
    assert st.update(17.3, True, at(120)) and st.update(17.3, True, at(149))  # inside, not long enough
    assert not st.update(17.3, True, at(150)) and st.reason == ""
    assert not st.update(16.95, True, at(200)) and not st.update(16.8, True, at(201))
    assert st.update(16.8, True, at(262)) and "below 16.9" in st.reason


def test_stale_data_trips_and_bad_readings_do_not_count_as_fresh():
    st = InterlockState(Interlock(name="gauge alive", tag="p/a/l/s/g", stale_after_s=30, action="abort"))
    assert not st.check_stale(at(0))
    assert not st.update(1.0, True, at(10))
    assert not st.update(float("nan"), False, at(35))  # a bad reading is not fresh data
    assert st.check_stale(at(41)) and "no good reading of p/a/l/s/g for 31 s (limit 30 s)" in st.reason


def test_python_plan_is_validated_like_yaml(tmp_path, line_config):
    from data_adapters.trials import dry_run

    plan = load_plan(EXAMPLES / "laser_levels.py")
    assert [a.name for a in plan.sequence] == ["-150 W", "-50 W", "+50 W", "+150 W"]
    assert dry_run(plan, line_config).ok
    bad = tmp_path / "bad.py"
    bad.write_text("plan = {'name': 'x', 'responses': ['a'], 'sequence': [{'hold': {'secs': 1}}]}\n")
    with pytest.raises(PlanError, match=r"bad\.py: sequence\[0\]\.hold\.secs: unknown key"):
        load_plan(bad)
    bad.write_text("plan = 3\n")
    with pytest.raises(PlanError, match="define `plan = "):
        load_plan(bad)


@pytest.mark.parametrize("name", ["plan", "schedule", "dryrun", "journal", "interlocks", "effects", "simline", "clock"])
def test_module_examples_run(name):
    mod = importlib.import_module(f"data_adapters.trials.{name}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

"""The trial console's session object (no browser): no write without a named user; a full cycle on the sim."""

from __future__ import annotations

import pytest

from apps.trial.backend import ConsoleBackend
from apps.trial.console import TrialConsole


@pytest.fixture
def backend(tmp_path):
    b = ConsoleBackend({"TRIAL_CONSOLE_DIR": str(tmp_path), "TRIAL_CONSOLE_SPEED": "200"})
    yield b
    if b.controller is not None:
        b.controller.close()


def test_without_a_named_user_nothing_writes(backend):
    c = TrialConsole(backend, None)
    assert all(c.buttons[n].disabled for n in ("arm", "start", "abort"))
    c.plan_select.value = "laser_doe.yaml"
    c._do("load")
    c._do("dry_run")
    assert c.message.object.startswith("dry run OK")
    c.reason.value = "sneaky"
    c._do("arm")
    assert c.message.alert_type == "danger" and "no write without a named user" in c.message.object
    assert backend.controller.state == "idle" and backend.audit.entries() == []


def test_console_cycle_arm_start_abort(backend):
    c = TrialConsole(backend, "gus")
    c.plan_select.value = "laser_doe.yaml"
    c._do("load")
    c._do("arm")
    assert "give a reason" in c.message.object  # arming needs a reason
    c.reason.value = "console unit test"
    c._do("arm")
    assert "armed by gus" in c.message.object
    c._do("start")
    ctl = backend.controller
    end = __import__("time").monotonic() + 30
    while not backend.audit.entries() and __import__("time").monotonic() < end:
        __import__("time").sleep(0.05)
    c._do("abort")
    assert ctl.wait(30) == "aborted" and ctl.restored
    c.refresh()
    assert "baseline restored" in c.state.object and "gus" in set(c.audit.object["user"])

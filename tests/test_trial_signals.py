"""SIGTERM to a running `workbench trial run`: it aborts, returns to baseline, records why, exits non-zero."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from data_adapters.audit import AuditLog, verify
from data_adapters.trials import Journal

REPO = Path(__file__).resolve().parents[1]
LASER_SP = "plant1/assembly/weld1/welder/laser_power_setpoint"
LASER = "plant1/assembly/weld1/welder/laser_power"


@pytest.mark.timeout(360)
def test_sigterm_aborts_and_restores_baseline(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": "long step", "responses": [LASER], "sequence": [
        {"step": {"delta": {LASER_SP: 100}}, "name": "plus100", "dwell_s": 1800}]}))
    journal, audit = tmp_path / "trials.sqlite", tmp_path / "audit.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "apps", "trial", "run", str(plan), "--journal", str(journal),
                             "--audit", str(audit), "--user", "lee", "--reason", "sigterm test", "--speed", "20", "--minutes", "120"],
                            cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 240  # bounded; a loaded machine starts the runner slowly
        while not (audit.exists() and AuditLog(audit).entries()):
            assert proc.poll() is None and time.monotonic() < end, proc.stdout.read().decode()[-2000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out[-2000:]
    assert "aborted (SIGTERM received" in out and "baseline restored" in out
    [rec] = Journal(journal).trials()
    assert rec.state == "aborted" and rec.restored and "SIGTERM" in rec.exit_reason
    entries = AuditLog(audit).entries()
    assert [(e["requested"], e["result"], e["user"]) for e in entries] == [
        (2600.0, "written", "lee"), (2500.0, "written", "lee")]
    assert verify(audit).ok

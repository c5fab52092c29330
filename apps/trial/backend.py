"""Server-wide state of the trial console: one controller per server process, shared by every browser tab.

Configured by environment variables (so ``panel serve apps/trial_console.py`` needs no arguments):

* ``TRIAL_CONSOLE_CONFIG``: line config YAML (default: the virtual line);
* ``TRIAL_CONSOLE_DIR``: where the journal and the audit log live (default ``var/trials``);
* ``TRIAL_CONSOLE_PLANS``: folder of plan YAML files offered in the console (default ``examples/trials``);
* ``TRIAL_CONSOLE_SPEED``: virtual line speed (sim stations only);
* ``TRIAL_CONSOLE_RECOVERY``: ``confirm`` (default) or ``auto``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd

from data_adapters.audit import AuditLog, verify
from data_adapters.trials import TrialController, parse_plan
from data_adapters.trials.stations import trial_adapter
from workbench.config import default_config_path, load_line_config

REPO = Path(__file__).resolve().parents[2]


class ConsoleBackend:
    """The line, the audit log, the journal and (once a plan is loaded) the controller."""

    def __init__(self, environ: dict | None = None):
        env = environ if environ is not None else os.environ
        self.line = load_line_config(env.get("TRIAL_CONSOLE_CONFIG") or default_config_path())
        self.dir = Path(env.get("TRIAL_CONSOLE_DIR") or REPO / "var" / "trials")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.plans_dir = Path(env.get("TRIAL_CONSOLE_PLANS") or REPO / "examples" / "trials")
        self.speed = float(env["TRIAL_CONSOLE_SPEED"]) if env.get("TRIAL_CONSOLE_SPEED") else None
        self.recovery = env.get("TRIAL_CONSOLE_RECOVERY", "confirm")
        self.audit = AuditLog(self.dir / "audit.sqlite")
        self.journal_path = self.dir / "trials.sqlite"
        self.controller: TrialController | None = None
        self.messages: list[str] = []
        self.lock = threading.Lock()

    def plan_files(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted(self.plans_dir.glob("*.yaml"))}

    def load(self, yaml_text: str, source: str = "<console>"):
        """Validate a plan; build (or reuse) the controller for its stations."""
        import yaml

        plan = parse_plan(yaml.safe_load(yaml_text), source=source)
        plan.check_tags(self.line)
        with self.lock:
            ctl = self.controller
            if ctl is not None and ctl.state in ("armed", "running", "paused"):
                raise RuntimeError(f"a trial is {ctl.state}; finish or abort it before loading another plan")
            if ctl is None or not set(plan.setpoints()) <= set(ctl.adapter.describe()):
                if ctl is not None:
                    ctl.close()
                adapter, scale = trial_adapter(self.line, plan, audit=self.audit, speed=self.speed)
                ctl = TrialController(adapter, self.line, journal=self.journal_path, time_scale=scale,
                                      recovery=self.recovery, recovery_user="trial-console")
                self.messages = ctl.connect()
                self.controller = ctl
            ctl.load(plan)
        return plan

    def audit_frame(self, last: int = 30) -> pd.DataFrame:
        df = self.audit.to_dataframe(limit=last)
        if df.empty:
            return df
        cols = ["seq", "time", "user", "trial_id", "tag", "old_value", "requested", "readback", "result", "message"]
        return df[cols].iloc[::-1]

    def audit_status(self) -> str:
        v = verify(self.audit.path)
        return f"audit log {'OK' if v.ok else 'BROKEN'}: {v.message}"


_shared: ConsoleBackend | None = None
_shared_lock = threading.Lock()


def shared_backend() -> ConsoleBackend:
    """The one backend of this server process."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ConsoleBackend()
        return _shared

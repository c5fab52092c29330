"""Server-wide state of the trial console: one controller per server process, shared by every browser tab.

Configured by environment variables (so ``panel serve apps/trial_console.py`` needs no arguments); none
of them depends on where the code is installed (a checkout or a wheel):

* ``TRIAL_CONSOLE_CONFIG``: line config YAML (default ``WORKBENCH_LINE_CONFIG``, else the virtual line);
* ``TRIAL_CONSOLE_DIR``: where the journal and the audit log live (default ``var/trials`` under the
  directory the server was started in; the console says which);
* ``TRIAL_CONSOLE_PLANS``: folder of plan files offered in the console (default ``examples/trials`` under
  the start directory, i.e. a source checkout; with neither the console says how to set it);
* ``TRIAL_CONSOLE_WRITERS``: comma-separated users allowed to arm, start and command trials;
  ``TRIAL_CONSOLE_WRITER_GROUP``: or a group of the login's ``groups`` (OAuth providers). Deny by default;
* ``TRIAL_CONSOLE_SPEED``: virtual line speed (sim stations only);
* ``TRIAL_CONSOLE_RECOVERY``: ``confirm`` (default) or ``auto``.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from data_adapters.audit import AuditLog, verify
from data_adapters.base import Quality
from data_adapters.trials import TrialController, parse_plan
from data_adapters.trials.plan import PlanError
from data_adapters.trials.stations import trial_adapter, trial_clock
from workbench.config import default_config_path, load_line_config

log = logging.getLogger(__name__)
PLAN_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Settings:
    """Where the console keeps its state and finds its plans, and who may write (see module doc)."""

    config: Path
    state_dir: Path
    plans_dir: Path | None
    writers: frozenset
    writer_group: str | None
    speed: float | None
    recovery: str
    notes: tuple = ()

    @classmethod
    def from_env(cls, env: dict, cwd: Path | None = None) -> Settings:
        cwd = Path(cwd or os.getcwd())
        notes = []
        config = Path(env.get("TRIAL_CONSOLE_CONFIG") or env.get("WORKBENCH_LINE_CONFIG") or default_config_path())
        if env.get("TRIAL_CONSOLE_DIR"):
            state = Path(env["TRIAL_CONSOLE_DIR"])
        else:
            state = cwd / "var" / "trials"
            notes.append(f"journal and audit log in {state} (the start directory's var/trials; "
                         "set TRIAL_CONSOLE_DIR to keep them elsewhere)")
        plans = Path(env["TRIAL_CONSOLE_PLANS"]) if env.get("TRIAL_CONSOLE_PLANS") else None
        if plans is not None and not plans.is_dir():
            raise FileNotFoundError(f"TRIAL_CONSOLE_PLANS={plans}: no such folder; point it at a folder of "
                                    "trial plan YAML files")
        if plans is None:
            here = cwd / "examples" / "trials"
            if here.is_dir():
                plans = here
                notes.append(f"plans from {here} (set TRIAL_CONSOLE_PLANS to choose the plans folder)")
            else:
                notes.append("no plans folder: set TRIAL_CONSOLE_PLANS to a folder of trial plan YAML files "
                             "(the examples are in the source's examples/trials); a plan can also be pasted")
        writers = frozenset(u.strip() for u in env.get("TRIAL_CONSOLE_WRITERS", "").split(",") if u.strip())
        group = env.get("TRIAL_CONSOLE_WRITER_GROUP") or None
        if not writers and not group:
            notes.append("nobody may write: set TRIAL_CONSOLE_WRITERS (comma-separated users) or "
                         "TRIAL_CONSOLE_WRITER_GROUP")
        speed = float(env["TRIAL_CONSOLE_SPEED"]) if env.get("TRIAL_CONSOLE_SPEED") else None
        recovery = env.get("TRIAL_CONSOLE_RECOVERY", "confirm")
        return cls(config, state, plans, writers, group, speed, recovery, tuple(notes))

    def may_write(self, user: str | None, groups=()) -> bool:
        """A named user on the writers list, or in the writer group. Everyone else only views."""
        if not user:
            return False
        return user in self.writers or (self.writer_group is not None and self.writer_group in set(groups or ()))


class ConsoleBackend:
    """The line, the audit log, the journal, the live acquisition and (once armed) the controller."""

    def __init__(self, environ: dict | None = None, *, acquisition=None, cwd: Path | None = None):
        self.settings = Settings.from_env(environ if environ is not None else os.environ, cwd)
        for n in self.settings.notes:
            log.warning("trial console: %s", n)
        self.line = load_line_config(self.settings.config)
        self.dir = self.settings.state_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.plans_dir = self.settings.plans_dir
        self.speed, self.recovery = self.settings.speed, self.settings.recovery
        self.audit = AuditLog(self.dir / "audit.sqlite")
        self.journal_path = self.dir / "trials.sqlite"
        self.controller: TrialController | None = None
        self.plan_text = ""  # the text of the plan the controller holds (for the report)
        self.duration_s: float | None = None  # the armed plan's expected duration (station s)
        self.messages: list[str] = []
        self.lock = threading.Lock()
        self._acquisition = acquisition
        self._outcomes: dict[str, dict] = {}

    # --- the line, live --------------------------------------------------------------------------
    def acquisition(self):
        """The server's one acquisition task (the dashboard's), started on first use."""
        if self._acquisition is None:
            from data_adapters.acquisition import shared_acquisition

            self._acquisition = shared_acquisition(self.settings.config)
        return self._acquisition

    def present_setpoints(self, paths) -> dict[str, float]:
        """Setpoints as the acquisition last read them (good, finite values only)."""
        if self._acquisition is None:
            return {}
        store = self._acquisition.store
        out = {}
        for p in paths:
            last = store.latest(p)
            if last.quality == Quality.GOOD and pd.notna(last.value):
                out[p] = float(last.value)
        return out

    # --- plans -----------------------------------------------------------------------------------
    def plan_files(self) -> dict[str, str]:
        if self.plans_dir is None:
            return {}
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(self.plans_dir.iterdir())
                if p.suffix in PLAN_SUFFIXES}

    def may_write(self, user: str | None, groups=()) -> bool:
        return self.settings.may_write(user, groups)

    def load(self, yaml_text: str, source: str = "<console>"):
        """Validate a plan; build (or reuse) the controller for its stations; give it the plan."""
        from workbench.strict_yaml import load_yaml_text

        plan = parse_plan(load_yaml_text(yaml_text, source=source, error=PlanError), source=source)
        plan.check_tags(self.line)
        with self.lock:
            ctl = self.controller
            if ctl is not None and ctl.state in ("armed", "running", "paused"):
                raise RuntimeError(f"a trial is {ctl.state}; finish or abort it before loading another plan")
            if ctl is None or not set(plan.setpoints()) <= set(ctl.adapter.describe()):
                if ctl is not None:
                    ctl.close()
                # on the virtual line, the line moves with the trial (paced at the speed): the same
                # estimates on any machine, however loaded; a real station keeps its own clock
                adapter, scale = trial_adapter(self.line, plan, audit=self.audit, speed=self.speed, virtual=True)
                ctl = TrialController(adapter, self.line, journal=self.journal_path, time_scale=scale,
                                      recovery=self.recovery, recovery_user="trial-console",
                                      clock=trial_clock(adapter, scale))
                self.messages = ctl.connect()
                self.controller = ctl
            ctl.load(plan)
            self.plan_text = yaml_text
        return plan

    # --- the outcome ---------------------------------------------------------------------------
    def outcome(self, ctl) -> dict:
        """Estimates, HTML report and NetCDF (lazy) of the controller's ended trial; computed once."""
        from apps.trial.report import estimates, html_report, netcdf_bytes

        with self.lock:
            hit = self._outcomes.get(ctl.trial_id)
            if hit is None:
                result = ctl.result()
                rows = estimates(result)
                report = html_report(result=result, session=ctl.session, audit_check=self.audit_check(), rows=rows,
                                     plan_text=self.plan_text, restored=ctl.restored)
                hit = self._outcomes[ctl.trial_id] = {"rows": rows, "report": report, "result": result,
                                                      "netcdf": lambda: netcdf_bytes(result)}
            return hit

    # --- the audit log ---------------------------------------------------------------------------
    def record_action(self, user: str | None, action: str, accepted: bool, detail: str) -> int:
        """A console command (arm, start, pause...) in the audit log, with the user, before the reply.

        The audit log keeps write attempts; a command is kept as an entry on the pseudo-tag
        ``trial-console/<action>`` whose result is ``written`` when the command was accepted and
        ``refused`` when not (the message says why). It is stamped on the trial's station clock (the clock its
        writes are stamped on) once a controller exists, so a trial's entries read in one time; before the
        first plan is loaded, on this server's clock."""
        ctl = self.controller
        entry = SimpleNamespace(path=f"trial-console/{action}", units="", old_value=None, requested=None,
                                written=None, readback=None, result="written" if accepted else "refused",
                                message=f"{action} by {user or 'anonymous'}: {detail}")
        session = SimpleNamespace(user=user, reason=getattr(ctl.session, "reason", None) if ctl and ctl.session else None,
                                  trial_id=ctl.trial_id if ctl else None)
        return self.audit.append(entry, session=session, now=ctl.now() if ctl else None)

    def audit_frame(self, ctl=None, last: int = 30) -> pd.DataFrame:
        """Every audit entry of ``ctl``'s trial (presses, each write attempt, the restore) and the log's
        ``last`` entries (a refused press before any trial), newest first (:func:`apps.trial.views.audit_table`)."""
        from apps.trial.views import audit_table

        trial = ctl.trial_id if ctl is not None else None
        entries = [*(self.audit.entries(trial_id=trial) if trial else []), *self.audit.entries(limit=last)]
        return audit_table(entries, list(ctl.recorder.segments) if trial else [], trial)

    def audit_check(self):
        return verify(self.audit.path)

    def audit_status(self) -> str:
        v = self.audit_check()
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

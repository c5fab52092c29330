"""The trial journal: a small SQLite file, written durably (``synchronous=FULL``) before each step.

It records each trial's plan, user, reason, state and — before the first write — the baseline
setpoints. A trial whose baseline was recorded but whose restore was never confirmed is *unfinished*:
after a crash (SIGKILL, power loss) the next start of the controller finds it with :meth:`Journal.unfinished`
and restores the baseline (see :meth:`data_adapters.trials.runner.TrialController.recover`).

>>> import tempfile, os
>>> j = Journal(os.path.join(tempfile.mkdtemp(), "trials.sqlite"))
>>> j.begin("t1", plan_name="p", plan_json="{}", user="ann", reason="why")
>>> j.set_baseline("t1", {"a/b/c/d/sp": 1.0})
>>> [t.trial_id for t in j.unfinished()]
['t1']
>>> j.finish("t1", "completed", "plan finished", restored=True)
>>> j.unfinished()
[]
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from data_adapters.audit import DurableFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY, plan_name TEXT, plan_json TEXT, user TEXT, reason TEXT,
    state TEXT NOT NULL, baseline_json TEXT, started TEXT, updated TEXT, ended TEXT,
    exit_reason TEXT, restored INTEGER NOT NULL DEFAULT 0, pid INTEGER
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY, trial_id TEXT NOT NULL, time TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True)
class TrialRecord:
    trial_id: str
    plan_name: str
    plan_json: str
    user: str
    reason: str
    state: str
    baseline: dict | None
    started: str | None
    updated: str | None
    ended: str | None
    exit_reason: str | None
    restored: bool
    pid: int | None

    def describe(self) -> str:
        base = ", ".join(f"{p} = {v:g}" for p, v in (self.baseline or {}).items())
        return (f"trial {self.trial_id} ({self.plan_name!r}, armed by {self.user}: {self.reason}) was left "
                f"'{self.state}' at {self.updated} without a confirmed return to baseline [{base}]")


class Journal(DurableFile):
    """The journal at ``path`` (created if missing); thread-safe, durable on return of every call."""

    def __init__(self, path: str | Path):
        super().__init__(path, _SCHEMA)

    def _exec(self, sql: str, args=()) -> None:
        with self._lock:
            con = self._connect()
            try:
                con.execute(sql, args)
            finally:
                con.close()

    def begin(self, trial_id: str, *, plan_name: str, plan_json: str, user: str, reason: str,
              pid: int | None = None) -> None:
        now = _now()
        self._exec("INSERT INTO trials (trial_id, plan_name, plan_json, user, reason, state, started, updated, pid)"
                   " VALUES (?, ?, ?, ?, ?, 'armed', ?, ?, ?)", (trial_id, plan_name, plan_json, user, reason,
                                                                now, now, pid))
        self.log(trial_id, "armed", f"armed by {user}: {reason}")

    def set_baseline(self, trial_id: str, baseline: dict[str, float]) -> None:
        self._exec("UPDATE trials SET baseline_json = ?, updated = ? WHERE trial_id = ?",
                   (json.dumps(baseline), _now(), trial_id))
        self.log(trial_id, "baseline", json.dumps(baseline))

    def set_state(self, trial_id: str, state: str, detail: str = "") -> None:
        self._exec("UPDATE trials SET state = ?, updated = ? WHERE trial_id = ?", (state, _now(), trial_id))
        self.log(trial_id, "state", f"{state}{': ' + detail if detail else ''}")

    def log(self, trial_id: str, kind: str, detail: str = "") -> None:
        self._exec("INSERT INTO journal (trial_id, time, kind, detail) VALUES (?, ?, ?, ?)",
                   (trial_id, _now(), kind, detail))

    def finish(self, trial_id: str, state: str, reason: str, *, restored: bool) -> None:
        now = _now()
        self._exec("UPDATE trials SET state = ?, exit_reason = ?, restored = ?, ended = ?, updated = ? "
                   "WHERE trial_id = ?", (state, reason, int(restored), now, now, trial_id))
        self.log(trial_id, "finished", f"{state}: {reason}; baseline {'restored' if restored else 'NOT restored'}")

    def mark_restored(self, trial_id: str, how: str) -> None:
        now = _now()
        self._exec("UPDATE trials SET restored = 1, updated = ?, ended = COALESCE(ended, ?), "
                   "exit_reason = COALESCE(exit_reason, ?) WHERE trial_id = ?", (now, now, how, trial_id))
        self.log(trial_id, "recovered", how)

    def _records(self, where: str = "", args=()) -> list[TrialRecord]:
        con = self._connect()
        try:
            con.row_factory = sqlite3.Row
            rows = [dict(r) for r in con.execute(f"SELECT * FROM trials {where} ORDER BY started", args)]
        finally:
            con.close()
        out = []
        for r in rows:
            base = r.pop("baseline_json")
            out.append(TrialRecord(baseline=json.loads(base) if base else None, restored=bool(r.pop("restored")), **r))
        return out

    def get(self, trial_id: str) -> TrialRecord:
        recs = self._records("WHERE trial_id = ?", (trial_id,))
        if not recs:
            raise KeyError(f"{self.path}: no trial {trial_id!r} in the journal")
        return recs[0]

    def trials(self) -> list[TrialRecord]:
        return self._records()

    def unfinished(self) -> list[TrialRecord]:
        """Trials that may have moved setpoints and never confirmed the return to baseline."""
        return self._records("WHERE restored = 0 AND baseline_json IS NOT NULL")

    def events(self, trial_id: str) -> list[dict]:
        con = self._connect()
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute("SELECT * FROM journal WHERE trial_id = ? ORDER BY id", (trial_id,))]
        finally:
            con.close()


__all__ = ["Journal", "TrialRecord"]

"""Dry run: walk every write of a plan through the pure guard with a simulated clock. No station is touched.

>>> from workbench.config import load_line_config, default_config_path
>>> from data_adapters.trials.plan import parse_plan
>>> line = load_line_config(default_config_path())
>>> sp = "plant1/electrode/coat1/coater/pump_rate_setpoint"
>>> plan = parse_plan({"name": "s", "responses": [sp], "baseline": {"expected": {sp: 2950}},
...                    "sequence": [{"step": {"delta": {sp: 90}}, "dwell_s": 60}]})
>>> report = dry_run(plan, line)
>>> report.ok, report.writes, round(report.duration_s)
(True, 2, 60)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from workbench.config import LineConfig

from data_adapters.base import ArmedSession
from data_adapters.guard import LastWrite, check_write
from data_adapters.trials.plan import PlanError, TrialPlan, as_plan
from data_adapters.trials.schedule import Segment, Sleep, Timeline, Write, compile_plan

T0 = datetime(2000, 1, 1, tzinfo=timezone.utc)  # the simulated clock's origin (only differences matter)


@dataclass(frozen=True)
class TimelineRow:
    t_s: float
    step: str
    kind: str  # write | wait | segment
    path: str = ""
    value: float | None = None
    verdict: str = ""


@dataclass
class DryRunReport:
    """What the dry run found: ``ok``, the timeline rows, expected duration (s), first refusal."""

    plan: TrialPlan
    rows: list = field(default_factory=list)
    duration_s: float = 0.0
    writes: int = 0
    first_error: str | None = None
    timeline: Timeline | None = None

    @property
    def ok(self) -> bool:
        return self.first_error is None

    def format(self, max_rows: int = 200) -> str:
        """The timeline as text for a terminal (writes, waits summed per step)."""
        out = [f"plan {self.plan.name!r}: {self.writes} write(s), expected duration "
               f"{self.duration_s:.0f} s ({self.duration_s / 60:.1f} min) including return to baseline"]
        shown = [r for r in self.rows if r.kind != "wait"]
        for r in shown[:max_rows]:
            if r.kind == "segment":
                out.append(f"{r.t_s:9.1f} s  {r.step:<16} hold  {r.verdict}")
            else:
                out.append(f"{r.t_s:9.1f} s  {r.step:<16} write {r.path} = {r.value:g}  [{r.verdict}]")
        if len(shown) > max_rows:
            out.append(f"... {len(shown) - max_rows} more rows")
        out.append("dry run OK" if self.ok else f"dry run FAILED: {self.first_error}")
        return "\n".join(out)


def dry_run(plan: TrialPlan | dict | str, line: LineConfig, baseline: dict[str, float] | None = None,
            *, stop_at_first: bool = True) -> DryRunReport:
    """Check every write of ``plan`` against the guard (limits, step, rate, writability, arming expiry).

    ``baseline``: setpoint values at the start (default: the plan's ``baseline.expected``). Returns a
    :class:`DryRunReport`; ``report.first_error`` names the first offending step, tag and rule.
    """
    plan = as_plan(plan)
    plan.check_tags(line)
    base = dict(plan.baseline.expected)
    base.update(baseline or {})
    timeline = compile_plan(plan, line, base)
    report = DryRunReport(plan, duration_s=timeline.duration_s, timeline=timeline)
    expires = T0 + timedelta(minutes=plan.arming.expires_minutes)
    session = ArmedSession(plan.arming.user or "dry-run", plan.arming.reason or "dry run", expires)
    current = dict(timeline.baseline)
    last: dict[str, LastWrite] = {}
    t = 0.0
    for a in timeline.actions:
        if isinstance(a, Sleep):
            report.rows.append(TimelineRow(t, a.step, "wait", value=a.seconds))
            t += a.seconds
        elif isinstance(a, Segment):
            lv = ", ".join(f"{p.rsplit('/', 1)[-1]}={v:g}" for p, v in a.levels.items())
            report.rows.append(TimelineRow(t, a.name, "segment", verdict=lv))
        elif isinstance(a, Write):
            now = T0 + timedelta(seconds=t)
            d = check_write(line.tags.get(a.path), a.path, a.value, session=session, current=current.get(a.path),
                            last=last.get(a.path), now=now)
            report.rows.append(TimelineRow(t, a.step, "write", a.path, a.value, d.rule if d.ok else d.reason))
            report.writes += 1
            if d.ok:
                current[a.path] = a.value
                last[a.path] = LastWrite(a.value, now)
            elif report.first_error is None:
                if d.rule == "armed":  # the only way an armed dry-run session refuses: it ran out
                    d = d.__class__(False, "armed", f"the arming expires after {plan.arming.expires_minutes:.1f} min "
                                    f"but the plan and its return need {timeline.duration_s / 60:.1f} min; "
                                    "arm for longer or shorten the plan")
                report.first_error = f"step {a.step!r}: write {a.path} = {a.value:g} refused ({d.rule}): {d.reason}"
                if stop_at_first:
                    break
    return report


def check_plan(plan: TrialPlan | dict | str, line: LineConfig, baseline: dict | None = None) -> DryRunReport:
    """Like :func:`dry_run` but raises :class:`PlanError` naming the first offending step."""
    report = dry_run(plan, line, baseline)
    if not report.ok:
        raise PlanError(f"{report.plan.source or report.plan.name}: {report.first_error}")
    return report


__all__ = ["dry_run", "check_plan", "DryRunReport", "TimelineRow"]

"""A plan's planned setpoint profiles against their guard limits: the dry run as data for a chart.

:func:`planned_profile` walks every write of the dry run (the same timeline the real run executes) and
returns, per setpoint, the commanded profile over station time with what the guard allows around it:

* ``min``/``max``: the tag's limits;
* the **max-step envelope**: the value in force ± ``max_step`` (where the next write may go);
* the **max-rate envelope**: from each accepted write, ± ``max_rate`` × time since it, capped at the
  step envelope (a cone that opens until the step limit binds);
* the **baseline**, the **refused writes** (time, value, rule, reason) and the **time off baseline**
  (how long the setpoint is not at its baseline, the return included).

Times are seconds of station time from the start of the trial. Pure: no station is touched.

>>> from workbench.config import load_line_config, default_config_path
>>> from data_adapters.trials.plan import parse_plan
>>> line = load_line_config(default_config_path())
>>> sp = "plant1/electrode/coat1/coater/pump_rate_setpoint"
>>> plan = parse_plan({"name": "s", "responses": [sp], "baseline": {"hold_s": 60, "expected": {sp: 2950}},
...                    "sequence": [{"step": {"delta": {sp: 90}}, "dwell_s": 120}]})
>>> prof = planned_profile(plan, line)
>>> p = prof.setpoints[sp]
>>> p.t, p.value, round(p.off_baseline_s, 1)
([0.0, 60.0, 180.0], [2950.0, 3040.0, 2950.0], 120.0)
>>> prof.ok, p.refused
(True, [])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from data_adapters.trials.dryrun import DryRunReport, dry_run
from data_adapters.trials.plan import TrialPlan, as_plan
from data_adapters.trials.schedule import Segment
from workbench.config import LineConfig


@dataclass(frozen=True)
class RefusedWrite:
    """A write the guard would refuse: when (s), what value, which rule, and the guard's sentence."""

    t_s: float
    value: float
    step: str
    rule: str
    reason: str


@dataclass
class SetpointProfile:
    """One setpoint's planned profile (step-wise: ``value[i]`` holds from ``t[i]``) and its limits."""

    path: str
    units: str
    baseline: float
    min: float
    max: float
    max_step: float
    max_rate: float
    t: list = field(default_factory=list)
    value: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    rate_cones: list = field(default_factory=list)  # [(ts, upper, lower)] from each accepted write
    off_baseline_s: float = 0.0

    def step_band(self) -> tuple[list, list, list]:
        """(t, lower, upper) of the max-step envelope around the value in force (step-wise)."""
        return (list(self.t), [v - self.max_step for v in self.value], [v + self.max_step for v in self.value])


@dataclass
class PlannedProfile:
    """The dry run of a plan as profiles: ``setpoints`` (path -> :class:`SetpointProfile`), the
    ``segments`` [(t_s, name, kind)], the expected ``duration_s`` and the dry run ``report``."""

    report: DryRunReport
    setpoints: dict
    segments: list
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def refused(self) -> list:
        return [r for p in self.setpoints.values() for r in p.refused]


def _cone(t0: float, v0: float, t1: float, sp) -> tuple[list, list, list]:
    """Rate envelope from an accepted write (t0, v0) until t1, capped at ± max_step."""
    reach = sp.max_step / sp.max_rate if sp.max_rate > 0 else math.inf
    ts = [t0] + ([t0 + reach] if t0 + reach < t1 else []) + [t1]
    up = [v0 + min(sp.max_rate * (t - t0), sp.max_step) for t in ts]
    lo = [v0 - min(sp.max_rate * (t - t0), sp.max_step) for t in ts]
    return ts, up, lo


def planned_profile(plan: TrialPlan | dict | str, line: LineConfig,
                    baseline: dict[str, float] | None = None) -> PlannedProfile:
    """Profiles of every setpoint of ``plan`` (see module doc) from ``baseline`` (default: the plan's
    ``baseline.expected``). Every write is checked; refused ones are kept where they would happen."""
    plan = as_plan(plan)
    report = dry_run(plan, line, baseline, stop_at_first=False)
    base = report.timeline.baseline
    out: dict[str, SetpointProfile] = {}
    for p, b in base.items():
        tag = line.tag(p)
        sp = tag.setpoint
        out[p] = SetpointProfile(p, tag.units, b, sp.min, sp.max, sp.max_step, sp.max_rate, t=[0.0], value=[b])
    kinds = {a.name: a.kind for a in report.timeline.actions if isinstance(a, Segment)}
    segments = []
    accepted: dict[str, tuple[float, float]] = {}
    for r in report.rows:
        if r.kind == "segment":
            segments.append((r.t_s, r.step, kinds.get(r.step, "")))
            continue
        if r.kind != "write" or r.path not in out:
            continue
        prof = out[r.path]
        if r.verdict != "ok":
            prof.refused.append(RefusedWrite(r.t_s, r.value, r.step, _rule_of(r.verdict), r.verdict))
        if prof.t[-1] == r.t_s:
            prof.value[-1] = r.value
        else:
            prof.t.append(r.t_s)
            prof.value.append(r.value)
        if r.verdict == "ok":
            if r.path in accepted:
                t0, v0 = accepted[r.path]
                prof.rate_cones.append(_cone(t0, v0, r.t_s, line.tag(r.path).setpoint))
            accepted[r.path] = (r.t_s, r.value)
    end = report.duration_s
    for p, prof in out.items():
        if p in accepted and accepted[p][0] < end:
            t0, v0 = accepted[p]
            prof.rate_cones.append(_cone(t0, v0, end, line.tag(p).setpoint))
        if prof.t[-1] < end:
            prof.t.append(end)
            prof.value.append(prof.value[-1])
        prof.off_baseline_s = sum(t1 - t0 for t0, t1, v in zip(prof.t, prof.t[1:], prof.value)
                                  if not math.isclose(v, prof.baseline, rel_tol=1e-9, abs_tol=1e-12))
    return PlannedProfile(report, out, segments, end)


def _rule_of(reason: str) -> str:
    """The guard rule a refusal sentence comes from (the dry run keeps the sentence, not the rule)."""
    low = reason.lower()
    for rule in ("max_step", "max_rate"):
        if rule in low:
            return rule
    if "outside [" in low:
        return "limits"
    if "writable" in low:
        return "writable"
    if "expire" in low or "arm" in low:
        return "armed"
    return "refused"


__all__ = ["PlannedProfile", "RefusedWrite", "SetpointProfile", "planned_profile"]

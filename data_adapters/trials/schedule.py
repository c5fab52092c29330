"""Compile a trial plan into a timeline of writes and waits that respects every setpoint's guard.

The same timeline drives the dry run (walked through the pure guard with a simulated clock) and the
real run (turned into bluesky messages), so what was checked is what is executed.

* a **step** is split into writes no larger than ``max_step``, each one waiting as long as
  ``max_rate`` needs since the tag's last write (as fast as the guard allows);
* a **ramp** writes ``rate × write_every_s`` every ``write_every_s``; a ramp at (or just under)
  ``max_rate`` keeps the same margin as a step, so timing jitter never refuses a write mid-trial (a rate
  *above* ``max_rate`` is not slowed down: the guard refuses it, and the dry run names the step);
* a **DOE** expands to every combination of levels × replicates, shuffled with the recorded seed.

>>> from workbench.config import load_line_config, default_config_path
>>> from data_adapters.trials.plan import parse_plan
>>> line = load_line_config(default_config_path())
>>> sp = "plant1/electrode/coat1/coater/pump_rate_setpoint"
>>> plan = parse_plan({"name": "s", "responses": [sp], "sequence": [{"step": {"delta": {sp: 150}}}]})
>>> [round(a.value, 1) for a in compile_plan(plan, line, {sp: 2950.0}, restore=False).actions if isinstance(a, Write)]
[3025.0, 3100.0]
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from workbench.config import LineConfig

from data_adapters.trials.plan import DoeAction, HoldAction, PlanError, RampAction, StepAction, Target, TrialPlan

RATE_MARGIN = 1.001  # wait a hair longer than max_rate needs, so clock rounding never trips the guard
CLOCK_TICK_S = 1e-6  # datetime resolution: station times are rounded to it, so waits get two ticks more
MAX_WRITES = 100_000  # per ramp: a rate far below the change (1e-9 g/min/s) is a typo, not a trial
RETURN_WATCH_MIN_S = 10.0  # the shortest watch of the return to baseline: a few samples of a 1 Hz tag


@dataclass(frozen=True)
class Write:
    """Write ``value`` (tag units) to setpoint ``path``, as part of step ``step``."""

    path: str
    value: float
    step: str


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` of station time."""

    seconds: float
    step: str


@dataclass(frozen=True)
class Segment:
    """From here on the line is held at ``levels`` (setpoint -> value) for analysis, named ``name``."""

    name: str
    levels: dict
    kind: str  # baseline | step | ramp | doe | hold | restore
    factors: dict = field(default_factory=dict)  # DOE factor levels (as written in the plan)


Action = Write | Sleep | Segment


@dataclass
class Timeline:
    """Compiled plan: the actions, the baseline, the DOE run order, and the expected duration (s)."""

    actions: list
    baseline: dict
    duration_s: float
    doe_orders: dict = field(default_factory=dict)


class _Clock:
    """Simulated station clock + the last write of each tag, for rate-respecting waits."""

    def __init__(self, line: LineConfig, values: dict):
        self.line = line
        self.t = 0.0
        self.values = dict(values)
        self.last: dict[str, tuple[float, float]] = {}
        self.actions: list = []

    def sleep(self, seconds: float, step: str) -> None:
        if seconds > 0:
            self.actions.append(Sleep(seconds, step))
            self.t += seconds

    def write(self, path: str, value: float, step: str) -> None:
        self.actions.append(Write(path, float(value), step))
        self.values[path] = float(value)
        self.last[path] = (float(value), self.t)

    def rate_wait(self, path: str, value: float) -> float:
        """Seconds to wait before ``value`` may be written without exceeding max_rate."""
        if path not in self.last or self.line.tag(path).setpoint is None:
            return 0.0
        last_v, last_t = self.last[path]
        if value == last_v:
            return 0.0
        need = abs(value - last_v) / self.line.tag(path).setpoint.max_rate * RATE_MARGIN + 2 * CLOCK_TICK_S
        return max(0.0, need - (self.t - last_t))

    def move(self, path: str, target: float, step: str) -> None:
        """Step ``path`` to ``target`` in writes of at most max_step, each after the rate wait."""
        sp = self.line.tag(path).setpoint
        start = self.values[path]
        change = target - start
        if change == 0:
            return
        if sp is None:  # not a setpoint: one write, which the guard refuses by name ("writable")
            self.write(path, target, step)
            return
        n = max(1, math.ceil(abs(change) / sp.max_step * (1 - 1e-9)))
        for k in range(1, n + 1):
            v = start + change * k / n if k < n else target
            self.sleep(self.rate_wait(path, v), step)
            self.write(path, v, step)

    def ramp(self, path: str, target: float, rate: float, every: float, step: str) -> None:
        start = self.values[path]
        change = target - start
        n = max(1, math.ceil(abs(change) / (rate * every) - 1e-9))
        if n > MAX_WRITES:
            raise PlanError(f"step {step!r}: ramping {path} by {change:g} at {rate:g}/s with a write every "
                            f"{every:g} s needs {n} writes (more than {MAX_WRITES}); raise the rate or write_every_s")
        sp = self.line.tag(path).setpoint
        keep_margin = sp is not None and rate <= sp.max_rate  # faster: left as written, for the guard to name
        for k in range(1, n + 1):
            v = start + change * k / n if k < n else target
            wait = abs(change) / n / rate
            self.sleep(max(wait, self.rate_wait(path, v)) if keep_margin else wait, step)
            self.write(path, v, step)


def _setpoint_of(line: LineConfig, path: str, where: str):
    try:
        tag = line.tag(path)
    except KeyError:
        raise PlanError(f"{where}: {path!r} is not a tag of line {line.name!r}") from None
    return tag.setpoint


def doe_runs(spec, baseline: dict) -> tuple[list[dict], list[dict], list[int]]:
    """Runs of a DOE: (absolute levels per run, plan levels per run, the shuffled order).

    >>> from data_adapters.trials.plan import DoeSpec
    >>> runs, lv, order = doe_runs(DoeSpec(factors={"a": [1, 2]}, replicates=2, seed=3, dwell_s=1), {})
    >>> sorted(r["a"] for r in runs)
    [1.0, 1.0, 2.0, 2.0]
    """
    names = [*spec.factors, *spec.delta_factors]
    levels = [*spec.factors.values(), *spec.delta_factors.values()]
    combos = [dict(zip(names, c)) for c in itertools.product(*levels)] * spec.replicates
    order = list(range(len(combos)))
    if spec.randomise:
        order = [int(i) for i in np.random.default_rng(spec.seed).permutation(len(combos))]
    plan_levels = [combos[i] for i in order]
    absolute = [{p: float(v) + (baseline[p] if p in spec.delta_factors else 0.0) for p, v in c.items()}
                for c in plan_levels]
    return absolute, plan_levels, order


def compile_plan(plan: TrialPlan, line: LineConfig, baseline: dict[str, float], *,
                 restore: bool = True) -> Timeline:
    """The timeline of ``plan`` on ``line`` starting from ``baseline`` (setpoint -> value, tag units).

    ``restore`` appends the return to baseline that every exit path performs."""
    where = plan.source or "<plan>"
    for p in plan.setpoints():
        _setpoint_of(line, p, f"{where}: sequence")
        if p not in baseline:
            raise PlanError(f"{where}: no baseline value for {p}; give baseline.expected for a dry run")
    base = {p: float(baseline[p]) for p in plan.setpoints()}
    clk = _Clock(line, base)
    clk.actions.append(Segment("baseline", dict(base), "baseline"))
    clk.sleep(plan.baseline.hold_s, "baseline")
    doe_orders = {}
    for i, action in enumerate(plan.sequence):
        name = action.name or f"{type(action).__name__.removesuffix('Action').lower()}{i + 1}"
        if isinstance(action, HoldAction):
            clk.actions.append(Segment(name, {p: clk.values[p] for p in base}, "hold"))
            clk.sleep(action.hold.seconds, name)
        elif isinstance(action, StepAction):
            _guarded_moves(clk, action.step, base, name)
            clk.actions.append(Segment(name, {p: clk.values[p] for p in base}, "step"))
            clk.sleep(action.dwell_s, name)
        elif isinstance(action, RampAction):
            for p, v in action.ramp.resolve(base).items():
                clk.ramp(p, v, action.ramp.rate[p], action.write_every_s, name)
            clk.actions.append(Segment(name, {p: clk.values[p] for p in base}, "ramp"))
            clk.sleep(action.dwell_s, name)
        elif isinstance(action, DoeAction):
            runs, plan_levels, order = doe_runs(action.doe, base)
            doe_orders[name] = {"seed": action.doe.seed, "order": order, "levels": plan_levels}
            for k, (levels, factors) in enumerate(zip(runs, plan_levels)):
                run = f"{name}.run{k + 1}"
                for p, v in levels.items():
                    clk.move(p, v, run)
                clk.actions.append(Segment(run, {p: clk.values[p] for p in base}, "doe", dict(factors)))
                clk.sleep(action.doe.dwell_s, run)
                if action.doe.return_to_baseline:
                    for p in levels:
                        clk.move(p, base[p], run)
                    clk.actions.append(Segment(f"{run}.baseline", dict(base), "baseline"))
                    clk.sleep(action.doe.dwell_s, run)
    if restore:
        for p in base:
            clk.move(p, base[p], "restore")
        clk.actions.append(Segment("restore", dict(base), "restore"))
    return Timeline(clk.actions, base, clk.t, doe_orders)


def _guarded_moves(clk: _Clock, target: Target, base: dict, name: str) -> None:
    for p, v in target.resolve(base).items():
        clk.move(p, v, name)


def return_watch_s(plan: TrialPlan) -> float:
    """Station seconds the responses are still recorded once the setpoints are back at baseline, so the
    record (and the console's trend) shows the return settled: the plan's ``transient_s`` (how long a
    change takes to settle), at least ``RETURN_WATCH_MIN_S``. Nothing is written meanwhile.

    >>> from data_adapters.trials.plan import parse_plan
    >>> sp = "plant1/electrode/coat1/coater/pump_rate_setpoint"
    >>> return_watch_s(parse_plan({"name": "s", "responses": [sp], "transient_s": 200, "sequence": [{"hold": {"seconds": 1}}]}))
    200.0
    """
    return max(float(plan.transient_s), RETURN_WATCH_MIN_S)


def restore_moves(line: LineConfig, current: dict, baseline: dict, last: dict | None = None) -> list:
    """Writes and waits that bring each setpoint from ``current`` back to ``baseline`` (guard-respecting).

    ``last``: {path: (value, seconds_ago)} of the last accepted writes, so the first write waits for max_rate.
    """
    clk = _Clock(line, current)
    for p, (v, ago) in (last or {}).items():
        clk.last[p] = (v, -ago)
    for p, v in baseline.items():
        clk.move(p, v, "restore")
    return clk.actions


__all__ = ["RATE_MARGIN", "CLOCK_TICK_S", "RETURN_WATCH_MIN_S", "Write", "Sleep", "Segment", "Timeline", "compile_plan",
           "restore_moves", "return_watch_s", "doe_runs"]

"""Trial plans as data: a YAML file (or Python dicts) validated into a :class:`TrialPlan`.

A plan names the setpoints it moves, the responses to watch, the interlocks, how long to hold the
baseline, and a sequence of actions (``step``, ``ramp``, ``hold``, ``doe``). Values are in the tag's
configured units; times in seconds of *station* time (the line's clock).

Example plan (YAML)::

    name: pump rate step
    baseline: {hold_s: 300, expected: {plant1/electrode/coat1/coater/pump_rate_setpoint: 2969}}
    responses: [plant1/electrode/coat1/coater/pump_rate]
    transient_s: 120
    sequence:
      - step: {delta: {plant1/electrode/coat1/coater/pump_rate_setpoint: 90}}
        name: up
        dwell_s: 300
    arming: {user: alice, reason: learn pump gain, expires_minutes: 60}

>>> p = parse_plan({"name": "x", "responses": ["a/b/c/d/e"],
...                 "sequence": [{"hold": {"seconds": 5}}]})
>>> p.sequence[0].hold.seconds
5.0

Errors (unknown key, missing key, bad value) raise :class:`PlanError` naming ``<file>: <key>: <fix>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workbench.config import LineConfig
from workbench.strict_yaml import load_yaml_file

MAX_S = 24 * 3600.0  # no wait of a plan may outlast the longest arming (24 h)


class PlanError(ValueError):
    """A trial plan that cannot be used; the message names the file, the key and the fix."""


class _Strict(BaseModel):
    # a NaN delta or an infinite dwell is refused by name (NaN compares false with every limit)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Baseline(_Strict):
    """Hold the line at its present setpoints for ``hold_s`` before the first change.

    ``expected`` gives baseline values for a dry run (the real run reads them from the station)."""

    hold_s: float = Field(0.0, ge=0, le=MAX_S)
    expected: dict[str, float] = Field(default_factory=dict)


class Target(_Strict):
    """Where to move: absolute values (``set``), changes from baseline (``delta``), or ``baseline``."""

    set: dict[str, float] = Field(default_factory=dict)
    delta: dict[str, float] = Field(default_factory=dict)
    baseline: list[str] = Field(default_factory=list, description="tags to return to their baseline")

    @model_validator(mode="after")
    def _some(self):
        both = set(self.set) & set(self.delta) | (set(self.set) | set(self.delta)) & set(self.baseline)
        if both:
            raise ValueError(f"tag(s) {sorted(both)} given more than once; use one of set, delta, baseline")
        if not (self.set or self.delta or self.baseline):
            raise ValueError("give at least one tag under set, delta or baseline")
        return self

    def tags(self) -> list[str]:
        return [*self.set, *self.delta, *self.baseline]

    def resolve(self, baseline: dict[str, float]) -> dict[str, float]:
        """Absolute target values, given the baseline values."""
        out = dict(self.set)
        for path, d in self.delta.items():
            out[path] = baseline[path] + d
        for path in self.baseline:
            out[path] = baseline[path]
        return out


class StepAction(_Strict):
    """Change setpoints as fast as the guard allows (split by max_step/max_rate), then dwell."""

    step: Target
    name: str | None = None
    dwell_s: float = Field(0.0, ge=0, le=MAX_S)


class RampSpec(Target):
    rate: dict[str, float] = Field(description="ramp rate per tag, tag units per second (> 0)")

    @model_validator(mode="after")
    def _rates(self):
        missing = [t for t in self.tags() if t not in self.rate]
        if missing:
            raise ValueError(f"ramp needs a rate for {missing}")
        bad = {t: r for t, r in self.rate.items() if not r > 0}
        if bad:
            raise ValueError(f"ramp rates must be > 0, got {bad}")
        return self


class RampAction(_Strict):
    """Ramp setpoints at a rate (tag units/s) with a write every ``write_every_s``, then dwell."""

    ramp: RampSpec
    name: str | None = None
    dwell_s: float = Field(0.0, ge=0, le=MAX_S)
    write_every_s: float = Field(1.0, gt=0, le=MAX_S)


class HoldSpec(_Strict):
    seconds: float = Field(ge=0, le=MAX_S)


class HoldAction(_Strict):
    hold: HoldSpec
    name: str | None = None


class DoeSpec(_Strict):
    """Full factorial: every combination of the factors' levels, ``replicates`` times, in random order.

    Levels are absolute values (``factors``) or changes from baseline (``delta_factors``)."""

    factors: dict[str, list[float]] = Field(default_factory=dict)
    delta_factors: dict[str, list[float]] = Field(default_factory=dict)
    replicates: int = Field(1, ge=1, le=100)
    seed: int = Field(0, description="seed of the run order, recorded with the trial")
    randomise: bool = True
    dwell_s: float = Field(gt=0, le=MAX_S)
    return_to_baseline: bool = Field(False, description="go back to baseline between runs")

    @model_validator(mode="after")
    def _levels(self):
        allf = {**self.factors, **self.delta_factors}
        if not allf:
            raise ValueError("give at least one factor under factors or delta_factors")
        if set(self.factors) & set(self.delta_factors):
            raise ValueError("a factor may be in factors or delta_factors, not both")
        few = [t for t, lv in allf.items() if len(lv) < 2 or len(set(lv)) != len(lv)]
        if few:
            raise ValueError(f"factor(s) {few} need at least two distinct levels")
        return self


class DoeAction(_Strict):
    doe: DoeSpec
    name: str | None = None


Action = Union[StepAction, RampAction, HoldAction, DoeAction]


class Interlock(_Strict):
    """A condition on a live tag that pauses or aborts the trial.

    Trips when the value is above ``above`` or below ``below`` for ``for_s`` seconds, or when the tag
    has no good reading for ``stale_after_s``. Clears (pause only) once back inside by ``hysteresis``
    for ``clear_after_s``."""

    name: str
    tag: str
    above: float | None = None
    below: float | None = None
    hysteresis: float = Field(0.0, ge=0)
    for_s: float = Field(0.0, ge=0, le=MAX_S)
    clear_after_s: float = Field(0.0, ge=0, le=MAX_S)
    stale_after_s: float | None = Field(None, gt=0, le=MAX_S)
    action: Literal["pause", "abort"] = "abort"

    @model_validator(mode="after")
    def _limits(self):
        if self.above is None and self.below is None and self.stale_after_s is None:
            raise ValueError("give above, below or stale_after_s")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError(f"below ({self.below}) must be less than above ({self.above})")
        return self


class Arming(_Strict):
    """Who arms the trial, why, and for how long (the session expires after ``expires_minutes``)."""

    user: str | None = None
    reason: str | None = None
    expires_minutes: float = Field(60.0, gt=0, le=24 * 60)


class TrialPlan(_Strict):
    """A validated trial plan. Load with :func:`load_plan` or :func:`parse_plan`."""

    version: Literal[1] = 1
    name: str
    description: str = ""
    baseline: Baseline = Baseline()
    responses: list[str] = Field(min_length=1)
    transient_s: float = Field(0.0, ge=0, le=MAX_S, description="excluded from effect estimates after each change")
    sequence: list[Action] = Field(min_length=1)
    interlocks: list[Interlock] = Field(default_factory=list)
    arming: Arming = Arming()
    stale_abort_s: float | None = Field(None, gt=0, le=MAX_S, description="abort when any response is older than this")
    source: str | None = None

    def setpoints(self) -> list[str]:
        """Every setpoint tag the plan moves (plan order)."""
        seen: dict[str, None] = {}
        for a in self.sequence:
            if isinstance(a, StepAction):
                seen.update(dict.fromkeys(a.step.tags()))
            elif isinstance(a, RampAction):
                seen.update(dict.fromkeys(a.ramp.tags()))
            elif isinstance(a, DoeAction):
                seen.update(dict.fromkeys([*a.doe.factors, *a.doe.delta_factors]))
        return list(seen)

    def check_tags(self, line: LineConfig) -> None:
        """Raise :class:`PlanError` if a tag of the plan is not in the line config."""
        known = line.tags
        where = self.source or "<plan>"
        for path in self.setpoints():
            if path not in known:
                raise PlanError(f"{where}: sequence: setpoint {path!r} is not a tag of line {line.name!r}")
        for i, path in enumerate(self.responses):
            if path not in known:
                raise PlanError(f"{where}: responses[{i}]: {path!r} is not a tag of line {line.name!r}")
        for i, il in enumerate(self.interlocks):
            if il.tag not in known:
                raise PlanError(f"{where}: interlocks[{i}]({il.name}).tag: {il.tag!r} is not a tag of line {line.name!r}")


def _key(loc: tuple, raw: Any) -> str:
    parts: list[str] = []
    node = raw
    action_kinds = {"StepAction", "RampAction", "HoldAction", "DoeAction"}
    for item in loc:
        if item in action_kinds:
            continue  # pydantic's union branch, not a key the user wrote
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
            node = node[item] if isinstance(node, list) and 0 <= item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def parse_plan(raw: Any, *, source: str = "<plan>") -> TrialPlan:
    """Validate a plan given as a mapping; raises :class:`PlanError` with one line per problem."""
    if not isinstance(raw, dict):
        raise PlanError(f"{source}: top level must be a mapping with keys name, responses, sequence")
    seq = raw.get("sequence")
    if seq is None or seq == []:  # before any other key: nothing else matters while there is nothing to do
        raise PlanError(f"{source}: sequence: the plan has no actions; give a list of at least one step, ramp, "
                        "hold or doe")
    if isinstance(seq, list):  # say which action kinds exist instead of four union errors
        for i, a in enumerate(seq):
            kinds = [k for k in ("step", "ramp", "hold", "doe") if isinstance(a, dict) and k in a]
            if len(kinds) != 1:
                raise PlanError(f"{source}: sequence[{i}]: each action needs exactly one of step, ramp, hold, doe"
                                f" (got keys {sorted(a) if isinstance(a, dict) else a!r})")
    try:
        return TrialPlan.model_validate({**raw, "source": source})
    except ValidationError as exc:
        lines = []
        kind_of = {"step": "StepAction", "ramp": "RampAction", "hold": "HoldAction", "doe": "DoeAction"}
        for e in exc.errors():
            loc = tuple(e["loc"])
            if len(loc) > 2 and loc[0] == "sequence" and isinstance(loc[1], int) and isinstance(seq, list):
                want = next(kind_of[k] for k in kind_of if k in seq[loc[1]])
                if loc[2] != want:
                    continue  # errors of the union branches the user did not mean
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown key; remove it or check the spelling (see data_adapters/trials/plan.py)"
            elif e["type"] == "missing":
                msg = "required key is missing"
            elif e["type"] == "finite_number":
                msg = f"{e.get('input')!r} is not a finite number; write a number (NaN and infinity are refused)"
            elif e["type"] == "less_than_equal" and e["ctx"].get("le") == MAX_S:
                msg = (f"{e.get('input')!r} s is longer than {MAX_S:.0f} s (24 h, the longest a trial may be "
                       "armed); split the trial or shorten the wait")
            lines.append(f"{source}: {_key(loc, raw)}: {msg}")
        raise PlanError("\n".join(dict.fromkeys(lines))) from None


def load_plan(path: str | Path) -> TrialPlan:
    """Load and validate a trial plan; errors name the file, the key and the fix.

    A ``.yaml``/``.yml`` file holds the plan as data. A ``.py`` file (for power users: loops, computed
    levels) must define ``plan`` as a mapping or a :class:`TrialPlan`; it is validated the same way."""
    path = Path(path)
    if path.suffix == ".py":
        return _load_python_plan(path)
    return parse_plan(load_yaml_file(path, what="trial plan", error=PlanError), source=str(path))


def _load_python_plan(path: Path) -> TrialPlan:
    import runpy

    try:
        ns = runpy.run_path(str(path))
    except OSError as exc:
        raise PlanError(f"{path}: cannot read trial plan: {exc.strerror}") from None
    except Exception as exc:  # the user's code: say where it broke
        raise PlanError(f"{path}: running the plan file failed: {type(exc).__name__}: {exc}") from None
    plan = ns.get("plan")
    if isinstance(plan, TrialPlan):
        return plan.model_copy(update={"source": str(path)})
    if not isinstance(plan, dict):
        raise PlanError(f"{path}: plan: define `plan = {{...}}` (a mapping) or a TrialPlan, got {type(plan).__name__}")
    return parse_plan(plan, source=str(path))


def as_plan(plan: TrialPlan | dict | str | Path) -> TrialPlan:
    """A TrialPlan from a plan, a mapping or a YAML path."""
    if isinstance(plan, TrialPlan):
        return plan
    if isinstance(plan, dict):
        return parse_plan(plan)
    return load_plan(plan)

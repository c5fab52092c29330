"""Validate a plan as the engineer types it: each problem with the YAML line it sits on and its key.

>>> from workbench.config import load_line_config, default_config_path
>>> line = load_line_config(default_config_path())
>>> text = "name: x\\nresponses: [plant1/electrode/coat1/coater/pump_rate]\\nsequence:\\n  - hold: {secs: 5}\\n"
>>> plan, problems = check_plan_text(text, line)
>>> plan, [(p.line, p.key) for p in problems]
(None, [(4, 'sequence[0].hold.seconds'), (4, 'sequence[0].hold.secs')])
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from data_adapters.trials.plan import PlanError, TrialPlan, parse_plan
from workbench.config import LineConfig
from workbench.strict_yaml import StrictYamlError, load_yaml_text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan: the 1-based YAML ``line`` (None if unknown), the ``key`` and the fix."""

    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "plan"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def key_line(text: str, key: str) -> int | None:
    """The 1-based line of ``key`` (``sequence[0].step.delta``) in YAML ``text``; the deepest part found."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for name, index in _PART.findall(key):
        if node is None:
            break
        line = node.start_mark.line + 1
        if index and isinstance(node, yaml.SequenceNode):
            i = int(index)
            node = node.value[i] if i < len(node.value) else None
        elif name and isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if getattr(k, "value", None) == name), None)
            if hit is None:
                break
            line, node = hit[0].start_mark.line + 1, hit[1]
        else:
            break
    return line


def check_plan_text(text: str, line: LineConfig, source: str = "plan") -> tuple[TrialPlan | None, list[Problem]]:
    """(plan, []) when ``text`` is a valid plan for ``line``, else (None, problems naming line and key)."""
    try:
        raw = load_yaml_text(text, source=source)  # a repeated key is a problem, not a silent overwrite
    except StrictYamlError as exc:
        where = re.match(rf"{re.escape(source)}: line (\d+), column \d+: (.*)", str(exc), re.S)
        if where:
            return None, [Problem(int(where.group(1)), "", where.group(2))]
        return None, [Problem(None, "", str(exc).removeprefix(f"{source}: "))]
    try:
        plan = parse_plan(raw, source=source)
        plan.check_tags(line)
    except PlanError as exc:
        problems = []
        for msg in str(exc).splitlines():
            rest = msg.removeprefix(f"{source}: ")
            key, _, why = rest.partition(": ")
            key = key.split("(")[0] if "(" in key and ")." in key else key
            problems.append(Problem(key_line(text, key) if why else None, key if why else "", why or rest))
        return None, problems
    return plan, []


__all__ = ["Problem", "check_plan_text", "key_line"]

"""The setpoint guard: a pure function that says whether one write may happen. Deny by default.

A write is allowed only when **all** hold:

1. an audit log is available (nothing is written that could not be recorded);
2. the tag exists in the line config and is declared ``setpoint.writable: true``;
3. the session is armed (named user, reason, not expired);
4. the value is a finite number within ``[min, max]``;
5. the current readback is known and ``|value - readback| <= max_step``;
6. since the last accepted write, ``|value - last| / elapsed <= max_rate`` (units per second).

Limits are compared with a relative tolerance of :data:`TOLERANCE` (5e-10): a write at a planned
``max_rate`` is not refused for the last bits of float rounding, and no accepted write ever exceeds a
configured ``max_step`` or ``max_rate`` by more than 1e-9 relative (checked in exact arithmetic by
tests/test_guard_rate.py). The planner spaces writes with a margin well above it
(:data:`data_adapters.trials.schedule.RATE_MARGIN`).

Because it is pure (no I/O), a dry run walks a whole trial plan through it without a station.

Example
-------
>>> from datetime import datetime, timezone
>>> from workbench.config import load_line_config, default_config_path
>>> line = load_line_config(default_config_path())
>>> path = "plant1/electrode/coat1/coater/pump_rate_setpoint"
>>> d = check_write(line.tag(path), path, 5000.0, session=None, current=2950.0, last=None,
...                 now=datetime.now(timezone.utc))
>>> d.ok, d.rule
(False, 'armed')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workbench.config import Tag

TOLERANCE = 5e-10  # relative; + float error of the comparison (~1e-15) stays far below the promised 1e-9


@dataclass(frozen=True)
class LastWrite:
    """The last accepted write of a tag: value (tag units) and UTC time."""

    value: float
    time: datetime


@dataclass(frozen=True)
class GuardDecision:
    """The verdict: ``ok``, the rule that decided (``rule``), and a sentence for the operator."""

    ok: bool
    rule: str
    reason: str


def _deny(rule: str, reason: str) -> GuardDecision:
    return GuardDecision(False, rule, reason)


def check_write(tag: Tag | None, path: str, value: Any, *, session, current: float | None,
                last: LastWrite | None, now: datetime, audit_available: bool = True) -> GuardDecision:
    """Check one write against the tag's guard limits. Pure: no I/O, no state.

    ``value`` in the tag's units; ``current`` the setpoint's present readback (None if unknown);
    ``last`` the last accepted write; ``session`` an ArmedSession or None.
    """
    if not audit_available:
        return _deny("audit", "no audit log is configured; writes are refused until one is")
    if tag is None:
        return _deny("unknown_tag", f"{path!r} is not a tag of this line config")
    sp = tag.setpoint
    if sp is None or not sp.writable:
        return _deny("writable", f"{path} is not declared writable in the line config (setpoint.writable)")
    if session is None:
        return _deny("armed", "not armed: arm a session with user, reason and expiry before writing")
    if not session.is_armed(now):
        return _deny("armed", f"session of {session.user} expired at {session.expires.isoformat()}; arm again")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return _deny("value", f"value {value!r} is not a finite number in {tag.units}")
    if not sp.min <= value <= sp.max:
        return _deny("limits", f"{value:g} {tag.units} is outside [{sp.min:g}, {sp.max:g}] {tag.units}")
    if current is None:
        return _deny("readback", "the current value cannot be read, so the step cannot be checked")
    step = abs(value - current)
    if step > sp.max_step * (1 + TOLERANCE):
        return _deny("max_step", f"step of {step:g} {tag.units} from the readback {current:g} exceeds "
                                 f"max_step {sp.max_step:g} {tag.units}; split it into smaller steps")
    if last is not None:
        elapsed = (now - last.time).total_seconds()
        change = abs(value - last.value)
        if change > 0 and (elapsed <= 0 or change > sp.max_rate * elapsed * (1 + TOLERANCE)):
            wait = change / sp.max_rate - elapsed
            return _deny("max_rate", f"{change:g} {tag.units} in {elapsed:.3g} s exceeds max_rate "
                                     f"{sp.max_rate:g} {tag.units}/s; wait {wait:.3g} s more")
    return GuardDecision(True, "ok", "within limits, step and rate")


__all__ = ["check_write", "GuardDecision", "LastWrite", "TOLERANCE"]

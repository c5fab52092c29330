"""The rate check at the edge: a plan that ramps exactly at ``max_rate`` runs, and the guard's tolerance
never lets a write exceed the configured ``max_rate`` or ``max_step`` by more than 1e-9 relative.

Checked in exact arithmetic (fractions of the floats and of the microsecond clock), over limits from
1e-6 to 1e6 units per second, so no float rounding in the test can hide a violation.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from data_adapters.audit import AuditLog
from data_adapters.base import Adapter, ArmedSession, Quality, Reading, WriteRefused
from data_adapters.guard import LastWrite, check_write
from data_adapters.trials import dry_run, parse_plan
from data_adapters.trials.clock import VirtualClock
from data_adapters.trials.schedule import Sleep, Write, compile_plan
from workbench.config import Setpoint, Tag, default_config_path, load_line_config

LINE = load_line_config(default_config_path())
T0 = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)
SESSION = ArmedSession("ann", "rate edge", T0 + timedelta(days=400))
BOUND = 1 + Fraction(1, 10**9)
limits = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)
values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def tag(max_rate: float = 1e300, max_step: float = 1e300) -> Tag:
    return Tag(path="p/a/l/s/sp", units="g/min",
               setpoint=Setpoint(writable=True, min=-1e300, max=1e300, max_step=max_step, max_rate=max_rate))


@settings(max_examples=400, deadline=None, database=None)
@given(max_rate=limits, last=values, value=values, elapsed_us=st.integers(1, 10**12),
       scale=st.sampled_from([0.0, 1.0, 1 - 1e-9, 1 + 1e-10, 1 + 1e-9, 1 + 2e-9, 1.01]))
def test_an_accepted_write_never_exceeds_max_rate_by_more_than_1e_9(max_rate, last, value, elapsed_us, scale):
    if scale:  # put the write right at the limit, give or take a few bits
        value = last + max_rate * elapsed_us / 1e6 * scale
    now = T0 + timedelta(microseconds=elapsed_us)
    d = check_write(tag(max_rate=max_rate), "p/a/l/s/sp", value, session=SESSION, current=value,
                    last=LastWrite(last, T0), now=now)
    change = abs(Fraction(value) - Fraction(last))
    allowed = Fraction(max_rate) * Fraction(elapsed_us, 10**6) * BOUND
    if d.ok:
        assert change <= allowed, (change, allowed)
    else:
        assert d.rule == "max_rate"
    if scale and scale <= 1 and change <= Fraction(max_rate) * Fraction(elapsed_us, 10**6):
        assert d.ok, d.reason  # exactly at the limit (in exact arithmetic) is allowed


@settings(max_examples=300, deadline=None, database=None)
@given(max_step=limits, current=values, value=values)
def test_an_accepted_write_never_exceeds_max_step_by_more_than_1e_9(max_step, current, value):
    d = check_write(tag(max_step=max_step), "p/a/l/s/sp", value, session=SESSION, current=current, last=None, now=T0)
    if d.ok:
        assert abs(Fraction(value) - Fraction(current)) <= Fraction(max_step) * BOUND


writable = sorted(LINE.writable_tags())


@settings(max_examples=60, deadline=None, database=None)
@given(path=st.sampled_from(writable), fraction=st.floats(0.01, 1.0), sign=st.sampled_from([-1, 1]),
       every=st.floats(0.05, 5.0), step_first=st.booleans())
def test_a_ramp_exactly_at_max_rate_passes_the_guard_with_a_margin(path, fraction, sign, every, step_first):
    sp = LINE.tag(path).setpoint
    base = (sp.min + sp.max) / 2
    delta = sign * fraction * (sp.max - sp.min) / 2
    every = min(every, sp.max_step / sp.max_rate)  # each ramp write within max_step
    sequence = [{"ramp": {"delta": {path: delta}, "rate": {path: sp.max_rate}}, "write_every_s": every}]
    if step_first:  # the ramp's first write right after a step's last one
        sequence.insert(0, {"step": {"delta": {path: -sign * min(sp.max_step, (sp.max - sp.min) / 4)}}})
    plan = parse_plan({"name": "edge", "responses": [path], "baseline": {"expected": {path: base}},
                       "sequence": sequence})
    report = dry_run(plan, LINE)
    assert report.ok, report.first_error
    # and the planned spacing itself keeps below max_rate in exact arithmetic
    t, last = Fraction(0), None
    for a in compile_plan(plan, LINE, {path: base}).actions:
        if isinstance(a, Sleep):
            t += Fraction(a.seconds)
        elif isinstance(a, Write):
            if last is not None:
                assert abs(Fraction(a.value) - last[1]) <= Fraction(sp.max_rate) * (t - last[0])
            last = (t, Fraction(a.value))


def test_the_ramp_of_the_issue_is_no_longer_refused():
    path = "plant1/electrode/coat1/coater/line_speed_setpoint"  # max_rate 0.2 m/min per s
    plan = parse_plan({"name": "at max_rate", "responses": [path], "baseline": {"expected": {path: 20.0}},
                       "sequence": [{"ramp": {"delta": {path: 0.5}, "rate": {path: 0.2}}, "write_every_s": 0.3}]})
    report = dry_run(plan, LINE)
    assert report.ok, report.first_error  # main: "... exceeds max_rate 0.2 m/min/s; wait 7.78e-07 s more"


def test_a_ramp_above_max_rate_is_still_refused_by_name():
    path = "plant1/electrode/coat1/coater/line_speed_setpoint"
    plan = parse_plan({"name": "hasty", "responses": [path], "baseline": {"expected": {path: 20.0}},
                       "sequence": [{"ramp": {"delta": {path: 0.5}, "rate": {path: 0.2 * (1 + 1e-6)}},
                                     "name": "hasty", "write_every_s": 0.3}]})
    report = dry_run(plan, LINE)
    assert not report.ok and "step 'hasty'" in report.first_error and "(max_rate)" in report.first_error


def test_the_rate_is_measured_from_when_a_write_reached_the_station(tmp_path):
    """A write held in transit (a slow link, a station busy) reaches the station later than the guard
    checked it; the next write is rate-checked from the arrival, so the station never gets two writes
    closer together than max_rate allows (found by tests/test_trial_property.py: abort during a held write)."""
    sp_tag = tag(max_rate=10.0, max_step=100.0)
    clock = VirtualClock(T0)

    class SlowStation:
        value = 0.0

        async def read(self, paths):
            now = clock.now()
            return {p: Reading(p, self.value, "g/min", now, Quality.GOOD, now) for p in paths}

        async def write(self, path, value):
            await clock.sleep(5.0)  # 5 s in transit
            self.value = value

    async def run(audit):
        adapter = Adapter([sp_tag], SlowStation(), audit=audit, clock=clock.now)
        await adapter.write(sp_tag.path, 50.0, session=SESSION)  # checked at 0 s, arrives at 5 s
        await clock.sleep(1.0)
        try:  # 6 s after the check, 1 s after the arrival: 10 g/min in 1 s is at the rate, 20 beyond it
            await adapter.write(sp_tag.path, 70.0, session=SESSION)
        except WriteRefused as exc:
            return exc.result
        return None

    refused = asyncio.run(run(AuditLog(tmp_path / "audit.sqlite")))
    assert refused is not None and refused.result == "refused" and "max_rate" in refused.message

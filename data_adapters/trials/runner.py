"""The trial controller: runs a plan on bluesky's RunEngine through the adapter, and always goes home.

States: ``idle -> armed -> running <-> paused -> completed | aborted | failed``.

* The plan is compiled (:mod:`.schedule`) from the baseline *read from the station at start*, dry-run
  again against the guard, and executed as bluesky messages: ``checkpoint`` + ``set``/``wait`` for each
  write, ``sleep`` for each dwell (station seconds / ``time_scale``), ``open_run``/``close_run`` documents.
* Every exit path (completion, user abort, abort interlock, exception, SIGTERM via :meth:`abort`, lost
  connection) runs the same finalizer (``bluesky.preprocessors.finalize_wrapper``), which removes the
  suspenders and walks each setpoint back to baseline in guard-respecting writes; the journal records
  why it stopped and whether the baseline was confirmed.
* A user pause is synchronous: :meth:`TrialController.pause` returns once the run is paused (or has
  ended), so a resume right after it is never refused; a resume queued while pausing is applied as
  soon as the RunEngine stops. Every ``setpoints`` event reads all of the plan's setpoints (one
  stream, one descriptor), so events before and after a pause always match.
* Waits run on the controller's station clock (:mod:`.clock`): the wall clock scaled by
  ``time_scale`` on a line, or a :class:`~data_adapters.trials.clock.VirtualClock` in tests.
* *Pause* interlocks are bluesky suspenders (the run resumes from its last checkpoint once the
  interlock clears with hysteresis); *abort* interlocks and a disconnected adapter abort the run.
* A trial killed without a chance to clean up (SIGKILL) stays *unfinished* in the journal; the next
  controller reports it (:attr:`TrialController.unfinished`) and :meth:`TrialController.recover` restores
  the baseline, automatically when ``recovery="auto"``.

Every write goes through ``Adapter.write`` (guard + audit); the controller holds no other write path.

The adapter must run on the RunEngine's event loop: pass it unconnected; :meth:`TrialController.connect`
connects it there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import queue
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

from bluesky import Msg, RunEngine
from bluesky import plan_stubs as bps
from bluesky.preprocessors import finalize_wrapper
from bluesky.utils import RunEngineInterrupted
from bluesky._vendor.super_state_machine.errors import TransitionError

from workbench.config import LineConfig

from data_adapters.base import ArmedSession, WriteRefused
from data_adapters.trials.clock import WallClock
from data_adapters.trials.devices import SetpointDevice
from data_adapters.trials.dryrun import DryRunReport, dry_run
from data_adapters.trials.interlocks import InterlockSignal, InterlockState, InterlockSuspender
from data_adapters.trials.journal import Journal, TrialRecord
from data_adapters.trials.plan import PlanError, TrialPlan, as_plan
from data_adapters.trials.results import Recorder, TrialResult
from data_adapters.trials.schedule import Segment, Sleep, Write, compile_plan, restore_moves, return_watch_s

log = logging.getLogger(__name__)

STATES = ("idle", "armed", "running", "paused", "completed", "aborted", "failed")
FINAL = ("completed", "aborted", "failed")


class TrialError(RuntimeError):
    """A controller command that does not fit the present state (the message says what would)."""


class TrialController:
    """Runs one trial at a time on ``adapter`` (see module doc).

    ``time_scale``: station seconds per wall second (the virtual line's speed; 1 on a real line).
    ``recovery``: ``"auto"`` restores unfinished trials on :meth:`connect`; ``"confirm"`` waits for
    :meth:`recover`. ``recovery_user``: the name the automatic restore is audited under.
    ``clock``: the station clock for waits (``now()``, ``async sleep(s)``); default: the adapter's clock,
    waits in wall time / ``time_scale``. Tests pass a :class:`~data_adapters.trials.clock.VirtualClock`.
    """

    PAUSE_TIMEOUT_S = 30.0  # bound on how long pause() waits for the run to stop
    WATCH_STEP_S = 1.0  # the watch of the return waits in steps of this (station s), so an abort ends it

    def __init__(self, adapter, line: LineConfig, *, journal: Journal | str, time_scale: float = 1.0,
                 recovery: str = "confirm", recovery_user: str = "trial-controller",
                 watchdog_s: float = 0.1, clock=None):
        if recovery not in ("auto", "confirm"):
            raise ValueError(f"recovery must be 'auto' or 'confirm', got {recovery!r}")
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0 station seconds per wall second, got {time_scale}")
        self.adapter, self.line = adapter, line
        self.journal = journal if isinstance(journal, Journal) else Journal(journal)
        self.time_scale, self.recovery, self.recovery_user = float(time_scale), recovery, recovery_user
        self.watchdog_s = watchdog_s
        self.clock = clock if clock is not None else WallClock(adapter.clock, self.time_scale)
        self._paused = threading.Event()  # set while the worker holds the run paused, or once it ended
        self.RE = RunEngine({}, context_managers=[])
        self.RE.record_interruptions = True
        self.loop = self.RE.loop
        self.state, self.reason = "idle", ""
        self.plan: TrialPlan | None = None
        self.session: ArmedSession | None = None
        self.trial_id: str | None = None
        self.recorder = Recorder()
        self.interlocks: list[InterlockState] = []
        self.documents: list[tuple[str, dict]] = []
        self.restored = False
        self.baseline: dict[str, float] = {}
        self.listeners: list[Callable[[str, str], None]] = []
        self._commands: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None
        self._restoring = False
        self._end_watch = threading.Event()  # set by an abort: stop watching the return to baseline
        self._abort_reason: str | None = None
        self._subs: list = []
        self._tasks: list = []
        self._doe_orders: dict = {}
        self.RE.subscribe(lambda name, doc: self.documents.append((name, doc)))
        self.unfinished: list[TrialRecord] = self.journal.unfinished()
        for rec in self.unfinished:
            log.warning("unfinished trial found in %s: %s", self.journal.path, rec.describe())

    # --- plumbing ----------------------------------------------------------------------------------
    def call(self, coro, timeout: float = 60.0):
        """Run a coroutine on the controller's (and adapter's) loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def now(self) -> datetime:
        return self.adapter.clock()

    def connect(self) -> list[str]:
        """Connect the adapter on the RunEngine loop; with ``recovery="auto"`` restore unfinished trials.

        Returns the messages about unfinished trials (empty when none)."""
        self.call(self.adapter.connect())
        msgs = [rec.describe() for rec in self.unfinished]
        if self.unfinished and self.recovery == "auto":
            msgs += self.recover(user=self.recovery_user, reason="automatic return to baseline after a crash")
        return msgs

    def close(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            self.abort("controller closed", by="controller")
            self._worker.join(60)
        try:
            self.call(self.adapter.close(), timeout=10)
        except Exception:
            log.exception("closing the adapter failed")

    def _set_state(self, state: str, reason: str = "") -> None:
        self.state, self.reason = state, reason
        if self.trial_id and state not in FINAL:
            self.journal.set_state(self.trial_id, state, reason)
        for cb in list(self.listeners):
            try:
                cb(state, reason)
            except Exception:
                log.exception("state listener failed")

    # --- commands ----------------------------------------------------------------------------------
    def load(self, plan: TrialPlan | dict | str) -> TrialPlan:
        if self.state in ("armed", "running", "paused"):
            raise TrialError(f"cannot load a plan while {self.state}; abort or finish the trial first")
        self.plan = as_plan(plan)
        self.plan.check_tags(self.line)
        self.state, self.reason = "idle", "plan loaded"
        return self.plan

    def read_setpoints(self) -> dict[str, float]:
        """The plan's setpoints as the station reports them now (raises if one cannot be read)."""
        paths = self.plan.setpoints()
        got = self.call(self.adapter.read(paths))
        bad = [p for p in paths if not got[p].is_good or not math.isfinite(got[p].value)]
        if bad:
            raise TrialError(f"cannot read the baseline of {bad} ({[got[p].quality.value for p in bad]}); "
                             "check the connection before starting")
        return {p: got[p].value for p in paths}

    def dry_run(self, baseline: dict | None = None) -> DryRunReport:
        """Dry run of the loaded plan from the present setpoints (or ``baseline``)."""
        if self.plan is None:
            raise TrialError("load a plan first")
        return dry_run(self.plan, self.line, baseline if baseline is not None else self.read_setpoints())

    def arm(self, user: str, reason: str, minutes: float | None = None) -> ArmedSession:
        """Arm the loaded plan for ``user`` with ``reason``, expiring after ``minutes`` (default: the plan's)."""
        if self.plan is None:
            raise TrialError("load a plan before arming")
        if self.state in ("armed", "running", "paused"):
            raise TrialError(f"already {self.state}")
        if self.unfinished:
            raise TrialError("an unfinished trial must be recovered first: " + self.unfinished[0].describe())
        minutes = minutes or self.plan.arming.expires_minutes
        self.trial_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.session = ArmedSession(user, reason, self.now() + timedelta(minutes=minutes), self.trial_id)
        self.journal.begin(self.trial_id, plan_name=self.plan.name, plan_json=self.plan.model_dump_json(),
                           user=user, reason=reason, pid=os.getpid())
        self.recorder, self.documents, self.restored, self.baseline = Recorder(), [], False, {}
        self._abort_reason = None
        self._end_watch.clear()
        self._set_state("armed", f"armed by {user} until {self.session.expires.isoformat()}: {reason}")
        return self.session

    def start(self) -> None:
        """Start the armed trial in a worker thread (returns at once; :meth:`wait` for the end)."""
        if self.state != "armed":
            raise TrialError(f"cannot start from state {self.state!r}; arm the plan first")
        if not self.session.is_armed(self.now()):
            raise TrialError("the arming expired; arm again")
        while not self._commands.empty():  # a command left from an earlier run must not steer this one
            self._commands.get_nowait()
        self._worker = threading.Thread(target=self._run_worker, name=f"trial-{self.trial_id}", daemon=True)
        self._worker.start()

    def pause(self, by: str = "user") -> None:
        """Pause the run; returns once it is paused (state ``paused``) or has ended meanwhile."""
        if self.state != "running":
            raise TrialError(f"cannot pause from state {self.state!r}")
        if self._restoring:
            raise TrialError("returning to baseline: nothing to pause (abort ends the watch of the return)")
        self._paused.clear()
        try:
            self.RE.request_pause(defer=False)
        except TransitionError as exc:  # the run ended between our check and the request
            self._paused.set()
            raise TrialError(f"cannot pause now: {exc}") from None
        if not self._paused.wait(self.PAUSE_TIMEOUT_S):  # the worker sets it when it holds the pause
            raise TrialError(f"the run did not pause within {self.PAUSE_TIMEOUT_S:g} s (state {self.state!r})")

    def resume(self, by: str = "user") -> None:
        if self.state != "paused" or self.RE.state != "paused":
            raise TrialError(f"cannot resume from state {self.state!r} (interlock pauses resume by themselves)")
        self._commands.put(("resume", by))

    def abort(self, reason: str = "aborted by the user", by: str = "user") -> None:
        """Abort: stop the plan and return to baseline (no-op while already returning)."""
        if self.state == "armed":
            self.journal.finish(self.trial_id, "aborted", f"{reason} (before start)", restored=True)
            self._set_state("aborted", reason)
            return
        if self.state not in ("running", "paused"):
            raise TrialError(f"nothing to abort in state {self.state!r}")
        if self._restoring:
            log.info("abort (%s): already returning to baseline; the watch of the return ends", reason)
            self._end_watch.set()
            return
        self._abort_reason = self._abort_reason or f"{reason} ({by})"
        if self.RE.state == "paused":
            self._commands.put(("abort", self._abort_reason))
        elif not self.RE.state.is_idle:
            try:
                self.RE.abort(reason=self._abort_reason)
            except Exception as exc:  # raced with the end of the run
                log.info("abort raced with the end of the run: %s", exc)

    def wait(self, timeout: float | None = None) -> str:
        if self._worker is not None:
            self._worker.join(timeout)
        return self.state

    def result(self) -> TrialResult:
        units = {p: t.units for p, t in self.adapter.describe().items()}
        return TrialResult(self.trial_id, self.plan, dict(self.baseline), units, self.recorder, self.state,
                           self.reason, self._doe_orders)

    # --- the run -----------------------------------------------------------------------------------
    def _run_worker(self) -> None:
        state, reason = "failed", ""
        try:
            baseline = self.read_setpoints()
            remaining = (self.session.expires - self.now()).total_seconds() / 60
            report = dry_run(self.plan.model_copy(update={"arming": self.plan.arming.model_copy(
                update={"expires_minutes": max(remaining, 1e-6)})}), self.line, baseline)
            if not report.ok:
                raise PlanError(f"pre-start dry run from the present setpoints failed: {report.first_error}")
            self.baseline = baseline
            timeline = compile_plan(self.plan, self.line, self.baseline, restore=False)
            self._doe_orders = timeline.doe_orders
            self.journal.set_baseline(self.trial_id, self.baseline)  # durable before the first write
            self.call(self._setup())
            self._set_state("running", "started")
            state, reason = self._drive(timeline)
        except Exception as exc:
            log.exception("trial %s failed", self.trial_id)
            cause = exc.__cause__ or exc  # bluesky wraps a failed write in FailedStatus; say why it failed
            state, reason = "failed", f"{type(cause).__name__}: {cause}"
            if self._abort_reason is not None:  # the abort's reason first; the failed return second
                state, reason = "aborted", f"{self._abort_reason}; return to baseline failed: {reason}"
        finally:
            try:
                self.call(self._teardown())
            except Exception:
                log.exception("teardown failed")
            if not self.baseline:
                self.restored = True  # nothing was written
            elif self.restored:
                self.restored = self._confirm_baseline()
            if state == "completed" and not self.restored:
                state, reason = "failed", "plan finished but the baseline was not confirmed"
            note = "" if self.restored else "; baseline NOT confirmed: run `workbench trial recover`"
            self.journal.finish(self.trial_id, state, reason + note, restored=self.restored)
            self._restoring = False
            self._set_state(state, reason + note)
            self._paused.set()  # a pause() waiting on a run that ended returns

    def _drive(self, timeline) -> tuple[str, str]:
        """Run the bluesky plan; handle user pause/resume/abort; return (final state, reason)."""
        devices = {p: SetpointDevice(self.adapter, p, session=lambda: self.session, on_result=self.recorder.write,
                                     clock=self.now, value=v) for p, v in self.baseline.items()}
        self._devices = devices
        plan = finalize_wrapper(self._plan(timeline, devices), self._restore_plan)
        runner = lambda: self.RE(plan)  # noqa: E731
        while True:
            try:
                runner()
                break
            except RunEngineInterrupted:
                if self.RE.state != "paused":
                    break  # aborted or stopped: the RunEngine already ran the finalizer
                self.recorder.pause(self.now(), "paused by the user")
                self._set_state("paused", "paused by the user")
                self._paused.set()
                cmd, arg = self._commands.get()
                if cmd == "resume":
                    self.recorder.resume(self.now())
                    self._set_state("running", "resumed by the user")
                    runner = self.RE.resume
                else:
                    runner = lambda: self.RE.abort(reason=arg)  # noqa: E731
        stop = next((d for n, d in reversed(self.documents) if n == "stop"), {})
        status = stop.get("exit_status", "success")
        if self._abort_reason is not None or status == "abort":
            return "aborted", self._abort_reason or stop.get("reason", "aborted")
        if status == "fail":
            return "failed", stop.get("reason", "failed")
        return "completed", "plan finished"

    def _plan(self, timeline, devices):
        md = {"trial_id": self.trial_id, "plan_name": self.plan.name, "user": self.session.user,
              "reason": self.session.reason, "baseline": [{"tag": p, "value": v} for p, v in self.baseline.items()],
              "doe": json.dumps(self._doe_orders),
              "time_scale": self.time_scale}
        yield from bps.open_run(md=md)
        every = list(devices.values())  # one "setpoints" stream: every event reads all of them
        for a in timeline.actions:
            if isinstance(a, Sleep):
                yield from self._sleep(a.seconds)
            elif isinstance(a, Write):
                yield from bps.checkpoint()
                yield from bps.mv(devices[a.path], a.value)
                yield from bps.trigger_and_read(every, name="setpoints")
            elif isinstance(a, Segment):
                self.recorder.segment(a, self.now())
        yield from bps.close_run()

    def _sleep(self, seconds: float):
        """Wait ``seconds`` of station time on the controller's clock (a bluesky ``wait_for``)."""
        yield Msg("wait_for", None, [lambda: self.clock.sleep(seconds)])

    def _restore_plan(self):
        """Finalizer: drop the suspenders and walk every setpoint back to baseline (guard-respecting)."""
        self._restoring = True
        for s in self._suspenders:
            yield Msg("remove_suspender", None, s)
        paths = list(self._devices)
        if not paths:  # a plan that only holds and watches has nothing to walk back
            self.restored = True
            return
        # a write the abort caught in flight lands first: the return starts from it, and is rate-checked from it
        yield Msg("wait_for", None, [d.settled for d in self._devices.values()])
        futs = yield Msg("wait_for", None, [lambda: self.adapter.read(paths)])
        got = futs[0].result()
        now = self.now()
        # start from what the station reports (an operator may have moved it), else from what we commanded
        current = {p: got[p].value if got[p].is_good and math.isfinite(got[p].value) else d.value
                   for p, d in self._devices.items()}
        last = {p: (d.value, (now - d.last_write_time).total_seconds()) for p, d in self._devices.items()
                if d.last_write_time is not None}
        self.recorder.segment(Segment("restore", dict(self.baseline), "restore"), now)
        touched = set()
        for a in restore_moves(self.line, current, self.baseline, last):
            if isinstance(a, Sleep):
                yield from self._sleep(a.seconds)
            elif isinstance(a, Write):
                yield from bps.mv(self._devices[a.path], a.value)
                touched.add(a.path)
        self.restored = all(math.isclose(d.value if d.path in touched else current[p], self.baseline[p],
                                         rel_tol=1e-9, abs_tol=1e-9) for p, d in self._devices.items())
        if self.restored:
            yield from self._watch_return()

    def _watch_return(self):
        """Back at baseline: keep recording for :func:`return_watch_s` of station time (nothing is written,
        interlocks are not acted on), so the record shows the return settled; an abort ends it early."""
        left = return_watch_s(self.plan)
        self._set_state(self.state, f"setpoints back at baseline; watching the return for {left:g} s")
        while left > 0 and not self._end_watch.is_set():
            step = min(left, self.WATCH_STEP_S)
            yield from self._sleep(step)
            left -= step

    def _confirm_baseline(self, timeout_s: float = 5.0) -> bool:
        """Read the setpoints back until they equal the baseline (a station may lag its writes)."""
        deadline = threading.Event()
        timer = threading.Timer(timeout_s, deadline.set)
        timer.start()
        try:
            while True:
                try:
                    now = self.read_setpoints()
                    if all(math.isclose(now[p], v, rel_tol=1e-6, abs_tol=1e-9) for p, v in self.baseline.items()):
                        self.journal.log(self.trial_id, "baseline", "confirmed by readback")
                        return True
                except TrialError as exc:
                    log.warning("baseline confirmation: %s", exc)
                if deadline.wait(0.05):
                    self.journal.log(self.trial_id, "baseline", f"readback does not confirm the baseline after {timeout_s} s")
                    return False
        finally:
            timer.cancel()

    # --- live watching (runs on the loop) -----------------------------------------------------------
    async def _setup(self) -> None:
        tags = self.adapter.describe()
        self.interlocks = [InterlockState(il, tags[il.tag].units) for il in self.plan.interlocks]
        self._suspenders = []
        self._signals = {}
        for st in self.interlocks:
            if st.spec.action == "pause":
                sig = InterlockSignal(st.name)
                sus = InterlockSuspender(st, sig)
                self.RE.install_suspender(sus)
                self._suspenders.append(sus)
                self._signals[st.name] = sig
        watched = list(dict.fromkeys([*self.plan.responses, *self.baseline, *(s.spec.tag for s in self.interlocks)]))
        self._subs = [await self.adapter.subscribe(watched, self._on_reading)]
        self._tasks = [asyncio.get_running_loop().create_task(self._watchdog(), name="trial-watchdog")]

    async def _teardown(self) -> None:
        for t in self._tasks:
            t.cancel()
        for s in self._subs:
            await s.cancel()
        self._subs, self._tasks = [], []
        for s in getattr(self, "_suspenders", []):
            self.RE.remove_suspender(s)

    def _on_reading(self, r) -> None:
        self.recorder.reading(r, self.now())
        for st in self.interlocks:
            if st.spec.tag == r.path:
                self._interlock_changed(st, st.tripped, st.update(r.value, r.is_good, r.source_time))

    def _interlock_changed(self, st: InterlockState, was: bool, now_tripped: bool) -> None:
        if was == now_tripped or self._restoring:
            return
        self.journal.log(self.trial_id, "interlock", st.reason or f"{st.name}: cleared")
        if st.spec.action == "abort":
            if now_tripped:
                threading.Thread(target=self.abort, args=(f"interlock {st.reason}", "interlock"), daemon=True).start()
            return
        if now_tripped:
            self.recorder.pause(self.now(), st.reason)
            self.state, self.reason = "paused", f"interlock {st.reason}"
            self._set_state("paused", f"interlock {st.reason}")
        else:
            self.recorder.resume(self.now())
            if not any(s.tripped for s in self.interlocks if s.spec.action == "pause"):
                self._set_state("running", f"interlock {st.name} cleared")
        self._signals[st.name].put(now_tripped)

    async def _watchdog(self) -> None:
        """Stale-data interlocks and a lost connection are noticed even when no reading arrives."""
        while True:
            await asyncio.sleep(self.watchdog_s)
            if self._restoring:
                continue
            if not self.adapter.connected:
                threading.Thread(target=self.abort, args=("adapter disconnected", "watchdog"), daemon=True).start()
                return
            now = self.now()
            for st in self.interlocks:
                was = st.tripped
                self._interlock_changed(st, was, st.check_stale(now))
            if self.plan.stale_abort_s:
                for p in self.plan.responses:
                    last = self.recorder.latest(p)
                    t = last[3] if last else None  # received time: our clock, whatever the station's
                    if t is not None and (now - t).total_seconds() > self.plan.stale_abort_s:
                        threading.Thread(target=self.abort, args=(
                            f"response {p} stale for more than {self.plan.stale_abort_s:g} s", "watchdog"),
                            daemon=True).start()
                        return

    # --- recovery ----------------------------------------------------------------------------------
    def recover(self, *, user: str, reason: str = "return to baseline after an unfinished trial",
                minutes: float = 30.0) -> list[str]:
        """Restore the baseline of every unfinished trial in the journal (guard-respecting writes)."""
        msgs = []
        self.unfinished = [r for r in self.journal.unfinished() if r.trial_id != self.trial_id
                           or self.state in FINAL]
        for rec in list(self.unfinished):
            session = ArmedSession(user, f"{reason} (trial {rec.trial_id})",
                                   self.now() + timedelta(minutes=minutes), rec.trial_id)
            try:
                self.call(self._restore_record(rec, session), timeout=None)
            except (WriteRefused, TrialError) as exc:
                msgs.append(f"trial {rec.trial_id}: baseline NOT restored: {exc}")
                continue
            self.journal.mark_restored(rec.trial_id, f"baseline restored by {user}: {reason}")
            self.unfinished.remove(rec)
            msgs.append(f"trial {rec.trial_id}: baseline restored ({len(rec.baseline)} setpoint(s)) by {user}")
        return msgs

    async def _restore_record(self, rec: TrialRecord, session: ArmedSession) -> None:
        paths = list(rec.baseline)
        got = await self.adapter.read(paths)
        bad = [p for p in paths if not got[p].is_good]
        if bad:
            raise TrialError(f"cannot read {bad}; reconnect and recover again")
        current = {p: got[p].value for p in paths}
        for a in restore_moves(self.line, current, rec.baseline):
            if isinstance(a, Sleep):
                await self.clock.sleep(a.seconds)
            elif isinstance(a, Write):
                await self.adapter.write(a.path, a.value, session=session)

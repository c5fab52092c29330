"""The trial console: ``panel serve apps/trial_console.py --basic-auth users.json --cookie-secret ...``.

Viewing needs a login; arming and every command need a user allowed to write (``TRIAL_CONSOLE_WRITERS``
or ``TRIAL_CONSOLE_WRITER_GROUP``, see :mod:`apps.trial.backend`). The page, top to bottom:

* **the line**: the plan's stations (the dashboard's tiles) and every setpoint and response of the plan
  live from the server's one acquisition task (the dashboard's), with quality and age, before and during
  a trial;
* **the plan**: choose or edit it; it is validated as you type (problems name the YAML line and key) and
  dry-run from the present setpoints without any other step: a chart per setpoint shows the planned
  profile against min/max, the max-step and max-rate envelopes and the baseline, refused writes marked
  where they would happen, and the time off baseline; the timeline table below keeps the record;
* **the run**: arm (reason, expiry), start, pause, resume, abort, recover; the state machine and the
  time left, the interlocks, and a trend per response with every change marked;
* **the result**: at the end, the estimates with confidence intervals (effects, gains, DOE main
  effects), the xarray result as NetCDF and a short HTML report;
* **the audit log**: every write and every command, with the user, and the hash chain's check.

Every write goes through the controller -> ``Adapter.write`` (guard + audit). Server-wide state lives in
:mod:`apps.trial.backend`; this module is one browser session.
"""

from __future__ import annotations

import contextlib
import html
import io
import logging

import pandas as pd
import panel as pn

from apps.dashboard.common import CSS, Tile, html_pane, set_html
from apps.trial import views
from apps.trial.backend import ConsoleBackend, shared_backend
from apps.trial.charts import RunTrends, estimates_view, profile_view
from apps.trial.validate import check_plan_text
from data_adapters.trials.profile import planned_profile
from data_adapters.trials.schedule import return_watch_s

log = logging.getLogger(__name__)

COMMANDS = ("arm", "start", "pause", "resume", "abort", "recover")
FINAL = views.FINAL


class TrialConsole:
    """One browser session's view on the shared backend (``__panel__`` builds the page)."""

    def __init__(self, backend: ConsoleBackend, user: str | None, groups=(), store=None):
        self.backend, self.user = backend, (user or "").strip() or None
        self.store = store
        self.writer = backend.may_write(self.user, groups)
        self.plans = backend.plan_files()
        first = next(iter(self.plans), None)
        self.plan_select = pn.widgets.Select(name="Plan", options=list(self.plans), value=first, width=300)
        self.plan_text = pn.widgets.TextAreaInput(name="Plan (YAML) — validated and dry-run as you type",
                                                  value=self.plans.get(first, ""), height=300,
                                                  sizing_mode="stretch_width")
        self.plan_select.param.watch(lambda e: setattr(self.plan_text, "value", self.plans[e.new]), "value")
        self.plan_text.param.watch(lambda e: self.check(e.new), ["value", "value_input"])
        self.reason = pn.widgets.TextInput(name="Reason", placeholder="why these writes", width=300)
        self.minutes = pn.widgets.IntInput(name="Expires after (min)", value=60, start=1, end=24 * 60, width=150)
        self.buttons = {n: pn.widgets.Button(name=n.capitalize(), button_type=t, width=90) for n, t in [
            ("dry_run", "default"), ("arm", "warning"), ("start", "success"), ("pause", "default"),
            ("resume", "default"), ("abort", "danger"), ("recover", "warning")]}
        self.buttons["dry_run"].name = "Dry run"
        for name, b in self.buttons.items():
            b.on_click(lambda e, n=name: self._do(n))
        self.message = pn.pane.Alert("", alert_type="light", sizing_mode="stretch_width")
        self.problems = html_pane("")
        self.dry_summary = html_pane("")
        self.profile = pn.Column(sizing_mode="stretch_width")
        self.timeline = html_pane("")
        self.live = html_pane("")
        self.tiles = pn.Row(sizing_mode="stretch_width")
        self.state = html_pane("")
        self.interlocks = html_pane("")
        self.trends = pn.Column(sizing_mode="stretch_width")
        self.result = pn.Column(sizing_mode="stretch_width")
        self.audit_rows = pd.DataFrame()  # what the audit panel shows (views.audit_table)
        self.audit = html_pane("")
        self.audit_status = html_pane("")
        self.plan = None
        self.planned = None
        self._drawn = None  # (plan json, baseline) last drawn
        self._tiles_for: tuple = ()
        self._run_trends: RunTrends | None = None
        self._result_for = None
        self._audit_seen = None
        if not self.writer:
            self.message.object = (f"{self.user or 'Not logged in'}: view only. Arming and commands need a user "
                                   "allowed to write (TRIAL_CONSOLE_WRITERS or TRIAL_CONSOLE_WRITER_GROUP).")
            self.message.alert_type = "warning"
        notes = " · ".join(backend.settings.notes)
        self.notes = html_pane(f'<div class="lw-sub" data-role="notes">{html.escape(notes)}</div>' if notes else "")
        self.check(self.plan_text.value)
        self.refresh()

    # --- the plan as you type ------------------------------------------------------------------------
    def check(self, text: str) -> None:
        """Validate the editor's text; when valid, dry-run it from the present setpoints and draw it."""
        plan, problems = check_plan_text(text or "", self.backend.line, source=self.plan_select.value or "plan")
        set_html(self.problems, views.problems_html(problems))
        self.plan = plan
        if plan is None:
            self.planned = None
            self._drawn = None
            self.profile.objects = []
            set_html(self.dry_summary, '<div class="lw-sub" data-role="dry-run">no dry run: fix the plan first</div>')
            set_html(self.timeline, "")
            self._enable()
            return
        self._redraw_dry_run()
        self._enable()

    def _redraw_dry_run(self) -> None:
        """Dry-run the valid plan again if it or the present setpoints changed (a live value arrived)."""
        try:
            self.dry_run()
        except Exception as exc:  # a plan that validates but cannot be compiled (no baseline value...)
            self.planned, self._drawn = None, None
            if self.profile.objects:
                self.profile.objects = []
            set_html(self.dry_summary, f'<div data-role="dry-run" data-ok="false" style="color:#b00020">'
                                       f'dry run not possible: {html.escape(str(exc))}</div>')

    def dry_run(self):
        plan = self.plan
        present = self.backend.present_setpoints(plan.setpoints())
        base = {**plan.baseline.expected, **present}
        key = (plan.model_dump_json(), tuple(sorted(base.items())))
        if key == self._drawn and self.planned is not None:
            return self.planned
        self.planned = planned_profile(plan, self.backend.line, base)
        self._drawn = key
        rep = self.planned.report
        src = "the present setpoints" if present else "baseline.expected (no live value yet)"
        off = ", ".join(f"{p.rsplit('/', 1)[-1]} {s.off_baseline_s / 60:.1f} min" for p, s in self.planned.setpoints.items())
        verdict = (f"dry run OK: {rep.writes} writes, {rep.duration_s / 60:.1f} min" if rep.ok
                   else f"dry run REFUSED: {rep.first_error}")
        color = "" if rep.ok else "color:#b00020;font-weight:700"
        set_html(self.dry_summary, f'<div data-role="dry-run" data-ok="{str(rep.ok).lower()}" style="{color}">'
                                   f'{html.escape(verdict)}</div><div class="lw-sub">from {src}; off baseline: '
                                   f'{html.escape(off)} (return included)</div>')
        self.profile.objects = [profile_view(self.planned)]
        set_html(self.timeline, timeline_html(rep))
        return self.planned

    # --- commands ----------------------------------------------------------------------------------------
    def _do(self, name: str) -> None:
        try:
            if name in COMMANDS and not self.writer:
                raise PermissionError(f"{self.user or 'anonymous'} may not {name}: the user is not allowed to write "
                                      "(TRIAL_CONSOLE_WRITERS / TRIAL_CONSOLE_WRITER_GROUP)")
            text = getattr(self, f"_{name}")()
            ok, kind = True, "success"
        except Exception as exc:  # the operator sees why, the console keeps running
            text, ok, kind = f"{name}: {exc}", False, "danger"
        if name in COMMANDS:  # every state-changing press, accepted or not, in the audit log with the user
            self.backend.record_action(self.user, name, ok, text)
        self.message.object, self.message.alert_type = text, kind
        self.refresh()

    def _ctl(self):
        if self.backend.controller is None:
            raise RuntimeError("no trial yet: arm a plan first")
        return self.backend.controller

    def _dry_run(self) -> str:
        if self.plan is None:
            raise ValueError("the plan is not valid; see the problems under the editor")
        self._drawn = None
        rep = self.dry_run().report
        if not rep.ok:
            raise ValueError(rep.first_error)
        return f"dry run OK: {rep.writes} writes, {rep.duration_s / 60:.1f} min"

    def _arm(self) -> str:
        if not self.reason.value.strip():
            raise ValueError("give a reason before arming")
        if self.plan is None or self.planned is None or not self.planned.ok:
            raise ValueError("the plan's dry run is refused or missing; fix the plan before arming")
        self.backend.load(self.plan_text.value, source=self.plan_select.value or "<console>")
        ctl = self._ctl()
        report = ctl.dry_run()  # from the setpoints the trial's own adapter reads now
        if not report.ok:
            raise ValueError(f"not armed: the dry run from the present setpoints is refused: {report.first_error}")
        s = ctl.arm(self.user, self.reason.value.strip(), self.minutes.value)
        # the armed plan's, with the watch of the return after it, for every session's "time left"
        self.backend.duration_s = report.duration_s + return_watch_s(ctl.plan)
        return f"armed by {self.user} until {s.expires:%H:%M:%S} (line time)"

    def _start(self) -> str:
        self._ctl().start()
        return "started"

    def _pause(self) -> str:
        self._ctl().pause(by=self.user)
        return "pause requested"

    def _resume(self) -> str:
        self._ctl().resume(by=self.user)
        return "resume requested"

    def _abort(self) -> str:
        self._ctl().abort(f"aborted from the console by {self.user}", by=self.user)
        return "abort requested: returning to baseline"

    def _recover(self) -> str:
        msgs = self._ctl().recover(user=self.user)
        return " | ".join(msgs) or "nothing to recover"

    # --- view ----------------------------------------------------------------------------------------------
    def _enable(self) -> None:
        ctl = self.backend.controller
        state = ctl.state if ctl is not None else "idle"
        busy = state in ("armed", "running", "paused")
        can = self.writer
        b = self.buttons
        b["arm"].disabled = not can or busy or self.planned is None or not self.planned.ok
        b["start"].disabled = not can or state != "armed"
        b["pause"].disabled = not can or state != "running"
        b["resume"].disabled = not can or state != "paused"
        b["abort"].disabled = not can or not busy
        b["recover"].disabled = not can or ctl is None or not ctl.unfinished
        self.plan_text.disabled = self.plan_select.disabled = busy

    def _paths(self):
        ctl = self.backend.controller
        plan = ctl.plan if ctl is not None and ctl.plan is not None and ctl.state != "idle" else self.plan
        if plan is None:
            return [], []
        return plan.setpoints(), [p for p in plan.responses if p not in plan.setpoints()]

    def refresh(self) -> None:
        """Redraw from the shared state (every 500 ms); a failing redraw is logged, the session lives on."""
        try:
            self._refresh()
        except Exception:
            log.exception("trial console refresh failed")

    def _refresh(self) -> None:
        ctl = self.backend.controller
        setpoints, responses = self._paths()
        set_html(self.live, views.live_rows(self.store, setpoints, responses, ctl))
        stations = tuple(dict.fromkeys(self.backend.line.station_of(p).name for p in [*setpoints, *responses]))
        if self.store is not None and stations != self._tiles_for:
            self._tiles_for = stations
            self._tiles = [Tile(self.store, self.backend.line.station(s)) for s in stations]
            self.tiles.objects = [t.pane for t in self._tiles]
        for t in getattr(self, "_tiles", []):
            t.update()
        if self.plan is not None and (ctl is None or ctl.state not in ("armed", "running", "paused")):
            self._redraw_dry_run()
        duration = self.backend.duration_s
        ended = ctl is not None and ctl.state in FINAL  # read before the state is drawn: no result under "running"
        set_html(self.state, views.state_machine(ctl, duration))
        set_html(self.interlocks, views.interlock_rows(ctl))
        if ctl is not None and ctl.trial_id is not None:
            if self._run_trends is None or self._run_trends.ctl.recorder is not ctl.recorder:
                # drawn before it joins the document (its first data travel with its definitions) and swapped
                # in one held message: a change to the new charts' sources written before the swap reached the
                # browser as a reference it did not know (as the dashboard's page swap, apps/dashboard/shell.py)
                trends = RunTrends(ctl, self.backend.line)
                trends.update()
                doc = pn.state.curdoc
                with pn.io.hold(doc) if doc is not None else contextlib.nullcontext():
                    self.trends.objects = [trends.pane]
                self._run_trends = trends
            else:
                self._run_trends.update()
            if ended and self._result_for != ctl.trial_id and (ctl._worker is None
                                                                              or not ctl._worker.is_alive()):
                self._result_for = ctl.trial_id
                self.show_result(ctl)
        self._enable()
        seen = self.backend.audit.entries(limit=1)
        seen = seen[-1]["seq"] if seen else 0
        if seen != self._audit_seen:
            self._audit_seen = seen
            self.audit_rows = self.backend.audit_frame(ctl)
            set_html(self.audit, views.audit_html(self.audit_rows))
            check = self.backend.audit_check()
            set_html(self.audit_status, f'<div data-role="audit-status" data-ok="{str(check.ok).lower()}">audit log '
                                        f'{"OK" if check.ok else "BROKEN"}: {html.escape(check.message)}</div>')

    def show_result(self, ctl) -> None:
        """The estimates with CIs and the downloads, once the trial has ended."""
        try:
            outcome = self.backend.outcome(ctl)
        except Exception as exc:  # say so on screen; the record stays in the journal and the audit log
            log.exception("trial result failed")
            self.result.objects = [html_pane(f'<div style="color:#b00020">no estimates: {html.escape(str(exc))}</div>')]
            return
        tid = ctl.trial_id
        nc = pn.widgets.FileDownload(callback=lambda: io.BytesIO(outcome["netcdf"]()), filename=f"trial-{tid}.nc",
                                     label="Download the result (NetCDF)", button_type="primary", width=300)
        rep = pn.widgets.FileDownload(callback=lambda: io.BytesIO(outcome["report"].encode()),
                                      filename=f"trial-{tid}.html", label="Download the report (HTML)", width=300)
        head = html_pane(f'<h3 data-role="result" data-trial="{tid}">Result of {html.escape(ctl.plan.name)} '
                         f'({ctl.state})</h3>')
        self.result.objects = [head, estimates_view(outcome["rows"]), pn.Row(nc, rep)]

    def __panel__(self):
        b = self.buttons
        who = (f"Logged in as **{self.user}**" + (" (may arm and command trials)" if self.writer else " (view only)")
               if self.user else "**Not logged in** (view only)")
        plan = pn.Column("## The plan", pn.Row(self.plan_select, b["dry_run"]), self.plan_text, self.problems,
                         self.dry_summary, self.profile, "### Timeline (the record)", self.timeline,
                         sizing_mode="stretch_width")
        run = pn.Column("## The run", pn.Row(self.reason, self.minutes, b["arm"]),
                        pn.Row(b["start"], b["pause"], b["resume"], b["abort"], b["recover"]), self.message,
                        self.state, "### Interlocks", self.interlocks, self.trends, self.result,
                        sizing_mode="stretch_width")
        return pn.Column(pn.pane.Markdown(who), self.notes, "## The line", self.tiles, self.live,
                         pn.Row(plan, run, sizing_mode="stretch_width"),
                         "## Audit log", self.audit_status, html_pane(f'<div class="lw-sub">{views.AUDIT_NOTE}</div>'),
                         self.audit, sizing_mode="stretch_width")


def timeline_html(report, max_rows: int = 300) -> str:
    """The dry run's writes and holds as a table (refused rows marked)."""
    rows = [r for r in report.rows if r.kind != "wait"]
    out = ['<table class="lw-table trial-timeline"><tr><th>t (min)</th><th>step</th><th>action</th>'
           '<th>tag</th><th>value</th><th>guard</th></tr>']
    for r in rows[:max_rows]:
        bad = r.kind == "write" and r.verdict != "ok"
        style = ' style="color:#b00020;font-weight:700"' if bad else ""
        value = "" if r.value is None or r.kind != "write" else f"{r.value:g}"
        out.append(f'<tr data-refused="{str(bad).lower()}"{style}><td class="num">{r.t_s / 60:.2f}</td>'
                   f'<td>{html.escape(r.step)}</td><td>{"hold" if r.kind == "segment" else r.kind}</td>'
                   f'<td>{html.escape(r.path.rsplit("/", 1)[-1])}</td><td class="num">{value}</td>'
                   f'<td>{html.escape(r.verdict)}</td></tr>')
    if len(rows) > max_rows:
        out.append(f'<tr><td colspan=6>… {len(rows) - max_rows} more rows</td></tr>')
    out.append("</table>")
    return "".join(out)


def page():
    """The console page of one browser session (the dashboard's template, styles and local assets)."""
    pn.extension(design="bootstrap", raw_css=[CSS], notifications=False, loading_indicator=True)
    title = "Line Workbench — trial console"
    user = pn.state.user
    if not user:
        body = html_pane('<h2 data-role="login-required">Log in to view the trial console</h2><p>Serve it with '
                         '<code>--basic-auth USERS.json --cookie-secret ...</code> or an OAuth provider.</p>')
        return pn.template.BootstrapTemplate(title=title, main=[body], header_background="#6a3d00")
    backend = shared_backend()
    acq = backend.acquisition()
    groups = (pn.state.user_info or {}).get("groups") or ()
    console = TrialConsole(backend, user, groups, store=acq.store)
    doc = pn.state.curdoc
    callbacks = []

    def start_refresh():
        # only once the browser has the document (Panel's onload, on document_ready): before that Panel
        # drops held model changes, and the browser later meets references it never got (see
        # apps/dashboard/shell.py)
        callbacks.append(doc.add_periodic_callback(console.refresh, 500))

    pn.state.onload(start_refresh)
    pn.state.on_session_destroyed(lambda ctx: [doc.remove_periodic_callback(cb) for cb in callbacks
                                               if cb in doc.session_callbacks])
    return pn.template.BootstrapTemplate(title=title, main=[console.__panel__()], header_background="#6a3d00")

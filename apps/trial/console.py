"""The trial console: ``panel serve apps/trial_console.py --basic-auth users.json --cookie-secret ...``.

Log in (Panel's auth: basic auth or an OAuth provider); without a named user nothing that writes is
enabled. Load a plan, dry-run it, arm it with a reason and an expiry, start, pause, resume, abort;
watch setpoints, responses and interlocks live; browse the audit log. Every write goes through the
controller -> Adapter.write (guard + audit). Server-wide state lives in apps/trial/backend.py.
"""

from __future__ import annotations

import pandas as pd
import panel as pn

from apps.trial.backend import ConsoleBackend, shared_backend

WRITE_BUTTONS = ("arm", "start", "pause", "resume", "abort", "recover")


class TrialConsole:
    """One browser session's view on the shared backend (``__panel__`` builds the page)."""

    def __init__(self, backend: ConsoleBackend, user: str | None):
        self.backend, self.user = backend, (user or "").strip() or None
        plans = backend.plan_files()
        self.plan_select = pn.widgets.Select(name="Plan", options=list(plans), width=300)
        self.plan_text = pn.widgets.TextAreaInput(name="Plan (YAML)", value=next(iter(plans.values()), ""),
                                                  height=260, sizing_mode="stretch_width")
        self.plan_select.param.watch(lambda e: setattr(self.plan_text, "value", plans[e.new]), "value")
        self.reason = pn.widgets.TextInput(name="Reason", placeholder="why these writes", width=300)
        self.minutes = pn.widgets.IntInput(name="Expires after (min)", value=30, start=1, end=24 * 60, width=150)
        self.buttons = {n: pn.widgets.Button(name=n.capitalize(), button_type=t, width=90) for n, t in [
            ("load", "default"), ("dry_run", "default"), ("arm", "warning"), ("start", "success"),
            ("pause", "default"), ("resume", "default"), ("abort", "danger"), ("recover", "warning")]}
        self.buttons["dry_run"].name = "Dry run"
        for name, b in self.buttons.items():
            b.on_click(lambda e, n=name: self._do(n))
        self.message = pn.pane.Alert("", alert_type="light", sizing_mode="stretch_width")
        self.state = pn.pane.Markdown("", css_classes=["trial-state"])
        self.dry = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.live = pn.pane.DataFrame(pd.DataFrame(), index=False, sizing_mode="stretch_width")
        self.interlocks = pn.pane.DataFrame(pd.DataFrame(), index=False, sizing_mode="stretch_width")
        self.audit = pn.pane.DataFrame(pd.DataFrame(), index=False, sizing_mode="stretch_width", max_rows=30)
        self.audit_status = pn.pane.Markdown("")
        if self.user is None:
            for n in WRITE_BUTTONS:
                self.buttons[n].disabled = True
            self.message.object = "Not logged in: you can load and dry-run plans; arming and writing need a named user."
            self.message.alert_type = "warning"
        self.refresh()

    # --- actions -------------------------------------------------------------------------------
    def _do(self, name: str) -> None:
        try:
            text = getattr(self, f"_{name}")()
            self.message.object, self.message.alert_type = text, "success"
        except Exception as exc:  # the operator sees why, the console keeps running
            self.message.object, self.message.alert_type = f"{name}: {exc}", "danger"
        self.refresh()

    def _need_user(self) -> str:
        if self.user is None:
            raise PermissionError("log in first: no write without a named user")
        return self.user

    def _ctl(self):
        if self.backend.controller is None:
            raise RuntimeError("load a plan first")
        return self.backend.controller

    def _load(self) -> str:
        plan = self.backend.load(self.plan_text.value, source=self.plan_select.value or "<console>")
        extra = " | ".join(self.backend.messages)
        return f"plan {plan.name!r} loaded" + (f" — {extra}" if extra else "")

    def _dry_run(self) -> str:
        report = self._ctl().dry_run()
        self.dry.object = "```\n" + report.format(max_rows=60) + "\n```"
        if not report.ok:
            raise ValueError(report.first_error)
        return f"dry run OK: {report.writes} writes, {report.duration_s / 60:.1f} min"

    def _arm(self) -> str:
        user = self._need_user()
        if not self.reason.value.strip():
            raise ValueError("give a reason before arming")
        s = self._ctl().arm(user, self.reason.value.strip(), self.minutes.value)
        return f"armed by {user} until {s.expires:%H:%M:%S} (line time)"

    def _start(self) -> str:
        self._need_user()
        self._ctl().start()
        return "started"

    def _pause(self) -> str:
        self._ctl().pause(by=self._need_user())
        return "pause requested"

    def _resume(self) -> str:
        self._ctl().resume(by=self._need_user())
        return "resume requested"

    def _abort(self) -> str:
        user = self._need_user()
        self._ctl().abort(f"aborted from the console by {user}", by=user)
        return "abort requested: returning to baseline"

    def _recover(self) -> str:
        msgs = self._ctl().recover(user=self._need_user())
        return " | ".join(msgs) or "nothing to recover"

    # --- view ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        ctl = self.backend.controller
        if ctl is None:
            self.state.object = "**State:** no plan loaded"
        else:
            restored = "" if ctl.state not in ("completed", "aborted", "failed") else (
                " — baseline restored" if ctl.restored else " — baseline NOT confirmed")
            self.state.object = f"**State:** {ctl.state} — {ctl.reason}{restored}"
            rows = []
            for p in list(dict.fromkeys([*ctl.plan.setpoints(), *ctl.plan.responses])) if ctl.plan else []:
                last = ctl.recorder.latest(p)
                rows.append({"tag": p, "value": None if last is None else round(last[1], 4),
                             "time": None if last is None else last[3].strftime("%H:%M:%S"),
                             "baseline": ctl.baseline.get(p)})
            self.live.object = pd.DataFrame(rows)
            self.interlocks.object = pd.DataFrame([{"interlock": s.name, "tag": s.spec.tag, "action": s.spec.action,
                                                    "value": s.value, "tripped": s.tripped, "reason": s.reason}
                                                   for s in ctl.interlocks])
            running = ctl.state in ("running", "paused")
            if self.user is not None:
                self.buttons["start"].disabled = ctl.state != "armed"
                self.buttons["abort"].disabled = ctl.state not in ("armed", "running", "paused")
                self.buttons["recover"].disabled = not ctl.unfinished
                self.buttons["arm"].disabled = running or ctl.state == "armed"
        self.audit.object = self.backend.audit_frame()
        self.audit_status.object = self.backend.audit_status()

    def __panel__(self):
        b = self.buttons
        who = f"Logged in as **{self.user}**" if self.user else "**Not logged in** (read-only)"
        controls = pn.Column(
            pn.pane.Markdown(who), pn.Row(self.plan_select, b["load"], b["dry_run"]), self.plan_text,
            pn.Row(self.reason, self.minutes, b["arm"]),
            pn.Row(b["start"], b["pause"], b["resume"], b["abort"], b["recover"]), self.message, self.state)
        return pn.Row(
            pn.Column(controls, self.dry, width=700),
            pn.Column(pn.pane.Markdown("### Setpoints and responses"), self.live,
                      pn.pane.Markdown("### Interlocks"), self.interlocks,
                      pn.pane.Markdown("### Audit log"), self.audit_status, self.audit, sizing_mode="stretch_width"),
            sizing_mode="stretch_width")


def page():
    console = TrialConsole(shared_backend(), pn.state.user)
    pn.state.add_periodic_callback(console.refresh, period=500)
    return pn.template.FastListTemplate(title="Line Workbench — trial console", main=[console.__panel__()],
                                        header_background="#6a3d00")

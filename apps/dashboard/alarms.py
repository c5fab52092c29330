"""Alarms (ISA-18.2 style): active / acknowledged / cleared / shelved; acknowledge and shelve with a user name."""

from __future__ import annotations

import panel as pn

from workbench.live import LiveError, LiveStore

from .common import html_pane
from .tables import alarm_rows, history_rows


class AlarmsPage:
    title = "Alarms"

    def __init__(self, store: LiveStore):
        self.store = store
        self.user = pn.widgets.TextInput(name="Your name (required to acknowledge or shelve)",
                                         placeholder="operator name", width=320, css_classes=["lw-user"])
        self.choice = pn.widgets.Select(name="Alarm", options={}, width=520, css_classes=["lw-alarm-choice"])
        self.ack = pn.widgets.Button(name="Acknowledge", button_type="warning", width=170, height=48)
        self.ack_all = pn.widgets.Button(name="Acknowledge all", button_type="light", width=170, height=48)
        self.minutes = pn.widgets.IntInput(name="Shelve for (min)", value=60, start=1, end=1440, width=140)
        self.shelve = pn.widgets.Button(name="Shelve", button_type="light", width=140, height=48)
        self.message = html_pane("")
        self.open_table = html_pane("")
        self.shelved_table = html_pane("")
        self.history = html_pane("")
        self.ack.on_click(lambda e: self._act("ack"))
        self.ack_all.on_click(lambda e: self._act("ack_all"))
        self.shelve.on_click(lambda e: self._act("shelve"))
        self._seen = -1
        self.view = pn.Column(
            pn.Row(self.user, self.choice, sizing_mode="stretch_width"),
            pn.Row(self.ack, self.ack_all, self.minutes, self.shelve),
            self.message,
            "## Active, acknowledged and cleared (awaiting acknowledgement)", self.open_table,
            "## Shelved", self.shelved_table,
            "## History", self.history,
            sizing_mode="stretch_width")
        self.update()

    def _user(self) -> str:
        return self.user.value_input or self.user.value  # typed text counts even before Enter/blur

    def _act(self, what: str) -> None:
        alarms = self.store.alarms
        try:
            if what == "ack_all":
                todo = [a.id for a in alarms.unacknowledged()]
                for aid in todo:
                    alarms.acknowledge(aid, self._user())
                done = f"acknowledged {len(todo)} alarm(s)"
            elif self.choice.value is None:
                raise LiveError("choose an alarm first")
            elif what == "ack":
                a = alarms.acknowledge(self.choice.value, self._user())
                done = f"alarm #{a.id} acknowledged by {a.acked_by}"
            else:
                a = alarms.shelve(self.choice.value, self._user(), minutes=self.minutes.value)
                done = f"alarm #{a.id} shelved by {a.shelved_by} for {self.minutes.value} min"
        except LiveError as exc:
            self.message.object = f'<div class="lw-banner lw-alarm" data-role="action-error">{exc}</div>'
        else:
            self.message.object = f'<div class="lw-banner lw-running" data-role="action-ok">{done}</div>'
        self._seen = -1
        self.update()

    def update(self) -> None:
        alarms = self.store.alarms
        if alarms.version == self._seen:
            return
        self._seen = alarms.version
        open_ = alarms.active()
        options = {f"#{a.id} {a.state} - {a.message}"[:90]: a.id for a in alarms.open()}
        if options != self.choice.options:  # re-sending an unchanged list would reset the operator's pick
            self.choice.options = options
        if self.choice.value not in options.values():
            self.choice.value = next(iter(options.values()), None)
        self.open_table.object = alarm_rows(self.store, open_)
        self.shelved_table.object = alarm_rows(self.store, alarms.shelved())
        self.history.object = history_rows(list(alarms.history))

"""HTML tables of alarms and change points (plain DOM: readable from afar and easy to test)."""

from __future__ import annotations

import html
from datetime import datetime

from workbench.live import Alarm, AlarmEvent, LiveStore
from workbench.spc.monitors import ChangePoint

from .common import fmt, pretty_units


def _t(ts: datetime | None) -> str:
    return ts.strftime("%H:%M:%S") if ts else ""


def _short(store: LiveStore, path: str) -> str:
    tag = store.tags.get(path)
    return tag.short_name if tag else path


def alarm_rows(store: LiveStore, alarms: list[Alarm], *, limit: int = 50) -> str:
    """Open alarms as a table: id, state, priority, station, tag, message, raised, by whom acknowledged."""
    if not alarms:
        return '<p class="lw-sub" data-role="no-alarms">No alarms.</p>'
    rows = []
    for a in alarms[:limit]:
        state = a.state
        who = a.acked_by or ""
        if state == "shelved":
            who = f"shelved by {a.shelved_by} until {_t(a.shelved_until)}"
        rows.append(f'<tr data-alarm-id="{a.id}" data-state="{state}" data-kind="{a.kind}">'
                    f'<td class="num">#{a.id}</td><td class="lw-state-{state}">{state.upper()}</td>'
                    f'<td>{a.priority}</td><td>{html.escape(a.station)}</td>'
                    f'<td>{html.escape(_short(store, a.tag))}</td><td>{html.escape(a.message)}</td>'
                    f'<td>{_t(a.raised_at)}</td><td>{html.escape(who)}</td></tr>')
    return ('<table class="lw-table" data-role="alarm-table"><thead><tr><th>#</th><th>state</th><th>priority</th>'
            '<th>station</th><th>tag</th><th>message</th><th>raised</th><th>acknowledged by</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def history_rows(events: list[AlarmEvent], *, limit: int = 40) -> str:
    if not events:
        return '<p class="lw-sub">No alarm history yet.</p>'
    rows = [f'<tr><td>{_t(e.at)}</td><td class="num">#{e.alarm_id}</td><td>{e.action}</td>'
            f'<td>{html.escape(e.tag.rsplit("/", 1)[-1])}</td><td>{e.kind}</td><td>{html.escape(e.user or "")}</td>'
            f'<td>{html.escape(e.detail)}</td></tr>' for e in list(reversed(events))[:limit]]
    return ('<table class="lw-table" data-role="alarm-history"><thead><tr><th>time</th><th>#</th><th>action</th>'
            '<th>tag</th><th>kind</th><th>user</th><th>detail</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def changepoint_rows(store: LiveStore, cps: list[ChangePoint], *, limit: int = 10) -> str:
    """Newest change points (FOCuS on the live stream): where the shift began, its size and when seen."""
    if not cps:
        return '<p class="lw-sub" data-role="no-changepoints">No change points detected yet.</p>'
    rows = [f'<tr data-role="changepoint"><td>{html.escape(c.station)}</td><td>{html.escape(_short(store, c.tag))}</td>'
            f'<td>{_t(c.since)}</td><td class="num">{"+" if c.shift > 0 else ""}{fmt(c.shift, 3)} '
            f'{html.escape(pretty_units(c.units))}</td><td>{_t(c.signalled_at)}</td></tr>'
            for c in list(reversed(cps))[:limit]]
    return ('<table class="lw-table" data-role="changepoint-table"><thead><tr><th>station</th><th>tag</th>'
            '<th>shift began</th><th>shift</th><th>signalled</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')

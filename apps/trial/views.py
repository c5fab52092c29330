"""HTML views of the console: the plan's tags live (value, quality, age), the state machine with the time
left, the interlocks, the validation problems. Pure functions returning HTML (the dashboard's styles)."""

from __future__ import annotations

import html
import math
from datetime import datetime

import pandas as pd

from apps.dashboard.common import age_text, fmt, pretty_units

STATES = ("idle", "armed", "running", "paused", "completed", "aborted", "failed")
FINAL = ("completed", "aborted", "failed")


def live_rows(store, setpoints: list[str], responses: list[str], ctl=None, now: datetime | None = None) -> str:
    """Every setpoint and response of the plan as the line's acquisition reads it now (the dashboard's
    store): value, units, quality and age; while a trial runs, also the trial's own newest reading and
    the baseline it will return to."""
    running = ctl is not None and ctl.trial_id is not None and ctl.state not in ("idle",)
    head = "<th>role</th><th>tag</th><th>value</th><th>units</th><th>quality</th><th>age</th>"
    if running:
        head += "<th>trial reading</th><th>baseline</th>"
    out = [f'<table class="lw-table trial-live"><tr>{head}</tr>']
    for role, paths in (("setpoint", setpoints), ("response", responses)):
        for p in paths:
            if store is None:
                value, units, quality, age = math.nan, "", "waiting", "no data yet"
            else:
                last = store.latest(p, now)
                value, units = last.value, last.units
                quality, age = last.quality.value, age_text(last.age_s)
            cells = (f'<td>{role}</td><td title="{html.escape(p)}">{html.escape(p.rsplit("/", 1)[-1])}</td>'
                     f'<td class="num" data-role="live-value">{fmt(value, 6)}</td><td>{pretty_units(units)}</td>'
                     f'<td data-role="quality">{quality}</td><td data-role="age">{age}</td>')
            if running:
                mine = ctl.recorder.latest(p)
                cells += (f'<td class="num">{fmt(mine[1], 6) if mine else "—"}</td>'
                          f'<td class="num">{fmt(ctl.baseline.get(p, math.nan), 6)}</td>')
            out.append(f'<tr data-tag="{html.escape(p)}" data-quality="{quality}">{cells}</tr>')
    out.append("</table>")
    return "".join(out)


def time_left_s(ctl, duration_s: float | None) -> float | None:
    """Station seconds left of the expected duration (pauses excluded), while armed/running/paused."""
    if ctl is None or duration_s is None or ctl.state not in ("running", "paused"):
        return None
    segs = ctl.recorder.segments
    if not segs:
        return duration_s
    now = ctl.now()
    elapsed = (now - segs[0]["start"]).total_seconds()
    paused = sum(((end or now) - start).total_seconds() for start, end, _ in ctl.recorder.pauses)
    return max(0.0, duration_s - (elapsed - paused))


def state_machine(ctl, duration_s: float | None = None) -> str:
    """The state machine as a row of badges, the current state lit; the reason and the time left."""
    state = ctl.state if ctl is not None else "idle"
    badges = []
    for s in STATES:
        on = s == state
        cls = "lw-badge " + (("lw-alarm" if s in ("aborted", "failed") else "lw-running") if on else "lw-waiting")
        style = "" if on else "opacity:0.45"
        badges.append(f'<span class="{cls}" data-state="{s}" data-current="{str(on).lower()}" '
                      f'style="{style}">{s}</span>')
    parts = [f'<div class="trial-machine" data-role="trial-state" data-state="{state}">{" → ".join(badges)}</div>']
    if ctl is not None:
        restored = "" if state not in FINAL else (" — baseline restored" if ctl.restored else " — baseline NOT confirmed")
        parts.append(f'<div class="lw-sub trial-state">State: {state} — {html.escape(ctl.reason)}{restored}</div>')
        left = time_left_s(ctl, duration_s)
        if left is not None:
            wall = left / ctl.time_scale
            parts.append(f'<div class="lw-sub" data-role="time-left">time left: {left / 60:.1f} min of line time '
                         f'(~{wall / 60:.1f} min wall clock, pauses not counted)</div>')
    return "".join(parts)


def interlock_rows(ctl) -> str:
    """Each interlock of the plan: limits, the last value, tripped or not and why."""
    if ctl is None or ctl.plan is None or not ctl.plan.interlocks:
        return '<p class="lw-sub">no interlocks in this plan</p>'
    states = {s.name: s for s in ctl.interlocks}
    out = ['<table class="lw-table trial-interlocks"><tr><th>interlock</th><th>tag</th><th>limits</th>'
           '<th>action</th><th>value</th><th>state</th></tr>']
    for il in ctl.plan.interlocks:
        st = states.get(il.name)
        limits = " ".join(x for x in (f"above {il.above:g}" if il.above is not None else "",
                                      f"below {il.below:g}" if il.below is not None else "",
                                      f"stale {il.stale_after_s:g} s" if il.stale_after_s else "") if x)
        if st is None:
            word, cls = "not armed", "lw-state-shelved"
        elif st.tripped:
            word, cls = f"TRIPPED: {st.reason}", "lw-state-active"
        else:
            word, cls = "ok", "lw-state-cleared"
        value = fmt(st.value) if st is not None else "—"
        out.append(f'<tr data-interlock="{html.escape(il.name)}"><td>{html.escape(il.name)}</td>'
                   f'<td>{html.escape(il.tag.rsplit("/", 1)[-1])}</td><td>{limits}</td><td>{il.action}</td>'
                   f'<td class="num">{value}</td><td class="{cls}">{html.escape(word)}</td></tr>')
    out.append("</table>")
    return "".join(out)


def problems_html(problems) -> str:
    if not problems:
        return '<div class="lw-sub" data-role="plan-valid">plan valid</div>'
    items = "".join(f"<li>{html.escape(str(p))}</li>" for p in problems)
    return f'<div data-role="plan-problems" style="color:#b00020"><b>Plan not valid:</b><ul>{items}</ul></div>'


PRESS = "trial-console/"  # the pseudo-tag prefix of the console's button presses in the audit log
AUDIT_COLUMNS = ["seq", "time", "user", "event", "step", "tag", "old_value", "requested", "readback", "result",
                 "message", "trial_id"]
AUDIT_NOTE = ("Newest first: every press and every setpoint write attempt of the trial (written, refused or "
              "failed, and why), the return to baseline included, and the latest entries of the log. Time (UTC, "
              "to the second): the station's clock (the virtual line's own clock on the virtual line); a press "
              "before the first plan was loaded, the server's.")


def audit_table(entries: list[dict], segments: list[dict] = (), trial_id: str | None = None) -> pd.DataFrame:
    """The audit log's ``entries`` (dicts as :meth:`AuditLog.entries` gives them) as the console shows
    them: newest first, each a ``press`` (a console command) or a ``write`` attempt; a write of trial
    ``trial_id`` made after its ``restore`` segment began is a ``restore``, and its ``step`` is the
    segment (``segments`` of the trial's recorder) in force when it was attempted (both station clock)."""
    df = pd.DataFrame(list(entries), columns=[c for c in AUDIT_COLUMNS if c not in ("event", "step")])
    if df.empty:
        return pd.DataFrame(columns=AUDIT_COLUMNS)
    df = df.drop_duplicates("seq").sort_values("seq", ascending=False, ignore_index=True)
    # isoformat() drops the fraction on whole seconds (a station clock): parse each as ISO 8601
    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    press = df["tag"].str.startswith(PRESS)
    starts = sorted(((pd.Timestamp(s["start"]), s["name"], s["kind"]) for s in segments), key=lambda x: x[0])
    step, event = [], []
    for t, is_press, trial in zip(df["time"], press, df["trial_id"]):
        now = [s for s in starts if s[0] <= t] if not is_press and trial == trial_id else []
        step.append(now[-1][1] if now else "")
        event.append("press" if is_press else "restore" if now and now[-1][2] == "restore" else "write")
    df["event"], df["step"] = event, step
    return df[AUDIT_COLUMNS]


def audit_html(table: pd.DataFrame) -> str:
    """:func:`audit_table`'s rows as the console's HTML table: times in UTC to the second (the log keeps them
    to the microsecond), text escaped, missing values blank."""
    return table.to_html(index=False, classes="lw-table trial-audit", border=0, na_rep="", escape=True,
                         formatters={"time": lambda t: t.strftime("%Y-%m-%d %H:%M:%S") if pd.notna(t) else ""})


__all__ = ["audit_html", "audit_table", "interlock_rows", "live_rows", "problems_html", "state_machine", "time_left_s"]

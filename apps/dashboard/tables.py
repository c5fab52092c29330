"""HTML tables of alarms and change points (plain DOM: readable from afar and easy to test)."""

from __future__ import annotations

import html
from datetime import datetime

from workbench.live import Alarm, AlarmEvent, LiveStore
from workbench.spc.monitors import ChangePoint

from .common import fmt, pretty_units


def _replace_prefix(obj, old: str, new: str):
    """``obj`` (JSON: dicts, lists, strings) with every string starting with ``old`` starting with ``new``.

    >>> _replace_prefix({"a": ["https://cdn/x.css", 1]}, "https://cdn/", "static/")
    {'a': ['static/x.css', 1]}
    """
    if isinstance(obj, str):
        return new + obj[len(old):] if obj.startswith(old) else obj
    if isinstance(obj, dict):
        return {k: _replace_prefix(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace_prefix(v, old, new) for v in obj]
    return obj


def inline_pulled_documents() -> None:
    """Make a browser's reconnect to a *restarted* server work: send pulled documents with inline buffers.

    After a server restart the browser reconnects (``pn.extension(reconnect=True)``) and re-pulls the
    session's document, but BokehJS 3.9 replaces its document with ``replace_with_json(doc_json)`` without
    the message's binary buffers, so any document with numpy data (every chart) fails with "buffer for id
    ... not found" and the page keeps showing the dead session. With buffers inlined as base64 (the form
    standalone HTML uses) the re-pull succeeds; page loads keep bokeh's own reply. A session created by such a
    reconnect never went through Panel's page handler, which points the components' stylesheets at this
    server instead of the CDN: the same is done here, so nothing is fetched from outside (air-gapped
    plants; the browser tests check it). The reply's fragments are written back to back (see ``send``).
    Idempotent.

    >>> inline_pulled_documents()
    >>> from bokeh.document import Document
    >>> from bokeh.protocol.messages.pull_doc_reply import pull_doc_reply
    >>> pull_doc_reply.create("1", Document()).buffers
    []
    """
    import importlib

    mod = importlib.import_module("bokeh.protocol.messages.pull_doc_reply")
    cls = mod.pull_doc_reply
    if getattr(cls, "_lw_inline", False):
        return
    original_create, original_send = cls.create, cls.send

    def create(request_id, document, **metadata):
        import os

        from panel.io.resources import CDN_DIST, LOCAL_DIST
        from panel.io.state import set_curdoc, state

        # a page load went through Panel's page handler, which set dist_url; a reconnect to a new server
        # did not. Page loads keep bokeh's own reply.
        if "dist_url" in document._template_variables:
            return original_create(request_id, document, **metadata)
        doc_json = document.to_json(deferred=False)
        if os.environ.get("BOKEH_RESOURCES", "server") == "server":
            # as panel.io.server.server_html_page_for_session does, but on the JSON: changing the models
            # here would send patches while this reply is being written
            with set_curdoc(document):
                dist_url = f"{state.rel_path}/{LOCAL_DIST}" if state.rel_path else LOCAL_DIST
            document._template_variables["dist_url"] = dist_url  # for models the session creates later
            doc_json = _replace_prefix(doc_json, CDN_DIST, dist_url)
        msg = cls(cls.create_header(request_id=request_id), metadata, mod.PullDoc(doc=doc_json))
        msg._lw_reconnected = document
        return msg

    async def send(self, conn) -> int:
        doc = getattr(self, "_lw_reconnected", None)
        if doc is None:
            return await original_send(self, conn)
        from panel.io.state import state
        from tornado.websocket import WebSocketHandler

        frags = [self.header_json, self.metadata_json, self.content_json]
        with await conn.write_lock.acquire():
            # queued back to back: Panel writes its patches to the socket without bokeh's write lock, and one
            # landing between a reply's fragments breaks the protocol ("Expected binary fragment")
            for fut in [WebSocketHandler.write_message(conn, f) for f in frags]:
                await fut
        if not state._loaded.get(doc):
            # a re-pulled document is not rendered anew, so the browser never says "document_ready":
            # without this Panel holds every later change of the session and the page stays frozen
            state._schedule_on_load(doc, None)
        return sum(len(f) for f in frags)

    cls.create = staticmethod(create)
    cls.send = send
    cls._lw_inline = True


inline_pulled_documents()


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

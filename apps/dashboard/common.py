"""Building blocks shared by the dashboard pages: units, station key tags, tiles, streaming trend charts.

Pages only *read* the process-wide :class:`workbench.live.LiveStore`; every chart keeps the buffer
total it last saw and streams only the new samples (``ColumnDataSource.stream`` with rollover).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from datetime import datetime

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, Range1d, Span
from bokeh.palettes import Category10_10
from bokeh.plotting import figure
from panel.custom import JSComponent

from workbench.live import GOOD, LiveStore  # noqa: F401  (GOOD: quality code of a good sample, for the pages)
from workbench.config import Station, Tag
from workbench.display import tile_choice, trend_tags  # noqa: F401  (trend_tags: used by the pages)
from workbench.units import pretty_units  # noqa: F401  (re-used by the pages)

from .background import shared_background

CSS = (Path(__file__).resolve().parents[1] / "assets" / "dashboard.css").read_text(encoding="utf-8")
STATE_WORDS = {"running": "LIVE", "stale": "STALE", "disconnected": "DISCONNECTED", "waiting": "WAITING"}


def fmt(value: float, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def age_text(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "no data yet"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def set_html(pane: pn.pane.HTML, text: str) -> None:
    """Replace an HTML pane's content only when it changed (each change is a message to every browser)."""
    if pane.object != text:
        pane.object = text


def trend_label(tag: Tag, siblings: list[Tag]) -> str:
    """Legend label: the tag's short name, or with its parent ('rack1 ch01') when short names repeat."""
    name = tag.short_name
    if sum(t.short_name == name for t in siblings) > 1:
        parts = tag.path.split("/")
        return f"{parts[-3]} {parts[-2]}"
    return name.replace("areal_mass_", "").replace("_", " ")


def html_pane(obj: str = "", **kw) -> pn.pane.HTML:
    """An HTML pane with the dashboard's stylesheet (panes live in shadow DOM: global CSS does not reach)."""
    kw.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(obj, stylesheets=[CSS], **kw)


def key_value(store: LiveStore, station: Station) -> tuple[str, float, str]:
    """(label, value, units) of the one number a station tile shows (workbench.display.tile_choice)."""
    tile = tile_choice(station)
    return tile.label, float(tile.reading(store.latest_values([t.path for t in tile.tags])).m), tile.units


def tile_fields(store: LiveStore, station: Station, now: datetime | None = None) -> dict:
    """What a station tile shows, as text: state, freshness, key value with units, alarm counts."""
    st = store.station_status(station, now)
    label, value, units = key_value(store, station)
    return {"station": station.name, "heading": st.title, "status": st.state, "status_word": STATE_WORDS[st.state],
            "freshness": f"updated {age_text(st.freshness_s)}", "label": label, "reading": fmt(value),
            "units": pretty_units(units), "alarms": int(st.alarms), "unacked": int(st.unacked)}


def tile_html(store: LiveStore, station: Station, now: datetime | None = None) -> str:
    """A station tile as static HTML (same markup as :class:`TileView` builds in the browser)."""
    f = {k: html.escape(str(v)) for k, v in tile_fields(store, station, now).items()}
    alarm = (f'<span class="lw-badge lw-alarm">{f["unacked"]} UNACK / {f["alarms"]} ALARMS</span>'
             if int(f["alarms"]) else '<span class="lw-badge lw-running">NO ALARMS</span>')
    classes = f"lw-tile lw-state-{f['status']}" + (" lw-has-alarm" if int(f["alarms"]) else "")
    return (f'<div class="{classes}" data-station="{f["station"]}" data-state="{f["status"]}">'
            f'<h3>{f["heading"]}</h3>'
            f'<span class="lw-badge lw-{f["status"]}" data-role="state">{f["status_word"]}</span> '
            f'<span class="lw-sub" data-role="freshness">{f["freshness"]}</span>'
            f'<div class="lw-sub">{f["label"]}</div>'
            f'<div><span class="lw-kv" data-role="value" data-station="{f["station"]}">{f["reading"]}'
            f'</span><span class="lw-units">{f["units"]}</span></div>'
            f'<div data-role="alarms">{alarm}</div></div>')


class TileView(JSComponent):
    """A station tile drawn once in the browser; each update changes only the text that changed.

    An HTML pane would re-parse and rebuild its whole shadow DOM on every change (a style recalc and
    layout of the tile each time); on the live pages that was as much browser work as the charts.
    Markup and attributes are those of :func:`tile_html` (``.lw-tile[data-station]``, ``data-role=value``...).
    """

    station = param.String(default="")
    heading = param.String(default="")
    status = param.String(default="waiting")
    status_word = param.String(default="WAITING")
    freshness = param.String(default="")
    label = param.String(default="")
    reading = param.String(default="—")
    units = param.String(default="")
    alarms = param.Integer(default=0)
    unacked = param.Integer(default=0)

    _esm = """
export function render({ model }) {
  const make = (tag, cls, role) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (role) e.dataset.role = role;
    return e;
  };
  const tile = make('div'), h3 = make('h3'), badge = make('span', '', 'state'), fresh = make('span', 'lw-sub', 'freshness');
  const label = make('div', 'lw-sub'), row = make('div'), value = make('span', 'lw-kv', 'value');
  const units = make('span', 'lw-units'), alarms = make('div', '', 'alarms'), alarm = make('span');
  row.append(value, units);
  alarms.append(alarm);
  tile.append(h3, badge, document.createTextNode(' '), fresh, label, row, alarms);
  const text = (e, t) => { if (e.textContent !== t) e.textContent = t; };
  const attr = (e, k, v) => { if (e.getAttribute(k) !== v) e.setAttribute(k, v); };
  const sync = () => {
    const m = model, a = m.alarms > 0;
    attr(tile, 'class', `lw-tile lw-state-${m.status}` + (a ? ' lw-has-alarm' : ''));
    attr(tile, 'data-station', m.station);
    attr(tile, 'data-state', m.status);
    attr(value, 'data-station', m.station);
    attr(badge, 'class', `lw-badge lw-${m.status}`);
    attr(alarm, 'class', a ? 'lw-badge lw-alarm' : 'lw-badge lw-running');
    text(h3, m.heading); text(badge, m.status_word); text(fresh, m.freshness); text(label, m.label);
    text(value, m.reading); text(units, m.units);
    text(alarm, a ? `${m.unacked} UNACK / ${m.alarms} ALARMS` : 'NO ALARMS');
  };
  for (const p of ['station', 'heading', 'status', 'status_word', 'freshness', 'label', 'reading', 'units',
                   'alarms', 'unacked']) model.on(p, sync);
  sync();
  return tile;
}
"""


class Heartbeat(JSComponent):
    """Reloads the page once the dashboard server answers again after this session was lost (a restart).

    The server bumps ``beat`` every second (:meth:`apps.dashboard.shell.Dashboard.tick`). When no beat has
    arrived for ``stall_s`` seconds the browser asks the server's liveness endpoint (``panel serve
    --liveness``, no session is created) every ``poll_s`` seconds; if the server answers for ``confirm_s``
    seconds and still no beat comes, this session is gone (the server was restarted) and the page reloads:
    the new session shows the live line and its history again, reloaded once (the poll stops: on a loaded
    server the new page can take longer than a poll, and a second reload aborted the first, again and again).
    A merely slow server sends its beat again and nothing happens. Supported APIs only (a JSComponent property, ``fetch``, ``location.reload``).

    It also paces the server (flow control): every refresh bumps ``seq`` in its own message and the browser
    answers ``drawn = seq`` once that message is applied and the frame after it painted. The server sends the
    next refresh only after that answer (:meth:`apps.dashboard.shell.Dashboard.refresh`), so a slow kiosk PC,
    or a loaded one, is never handed more than it can draw: it shows the newest data a little less often
    instead of a backlog of old messages that keeps it busy (and deaf to clicks) for minutes. A hidden tab
    paints no frames and so asks for nothing until it is shown again.
    """

    beat = param.Integer(default=0)
    seq = param.Integer(default=0, doc="the server's refresh counter")
    drawn = param.Integer(default=0, doc="the last refresh the browser has applied and painted")
    # the browser's answer is no user action: Panel would mark the session busy for it (the template's
    # spinner on and off, two more messages and an animation per refresh)
    _busy__ignore = ["drawn"]
    liveness = param.String(default="/liveness")
    stall_s = param.Number(default=10.0)
    poll_s = param.Number(default=2.0)
    confirm_s = param.Number(default=6.0)

    _esm = """
export function render({ model }) {
  let last = Date.now(), upSince = null, busy = false;
  const el = document.createElement('span');
  el.dataset.role = 'heartbeat';
  model.on('beat', () => { last = Date.now(); upSince = null; el.dataset.state = 'live'; });
  // flow control: answer once this refresh is applied and the next frame painted (never in a hidden tab)
  model.on('seq', () => {
    const s = model.seq;
    requestAnimationFrame(() => setTimeout(() => { if (model.drawn < s) model.drawn = s; }, 0));
  });
  setInterval(async () => {
    if (busy || Date.now() - last < model.stall_s * 1000) return;
    busy = true;
    el.dataset.state = 'lost';
    try {
      const r = await fetch(model.liveness, {cache: 'no-store'});
      upSince = r.ok ? (upSince || Date.now()) : null;
    } catch (e) { upSince = null; }
    if (upSince !== null && Date.now() - upSince >= model.confirm_s * 1000 && Date.now() - last >= model.stall_s * 1000) {
      el.dataset.state = 'reloading';
      window.location.reload();
      return;  // once: a second reload would abort the first while a loaded server builds the new session
    }
    busy = false;
  }, model.poll_s * 1000);
  return el;
}
"""


class Tile:
    """A station tile (:class:`TileView`) that refreshes itself from the store."""

    def __init__(self, store: LiveStore, station: Station, **kw):
        self.store, self.station = store, station
        kw.setdefault("sizing_mode", "stretch_width")
        self.pane = TileView(**tile_fields(store, station), stylesheets=[CSS], **kw)

    def update(self) -> None:
        fields = tile_fields(self.store, self.station)
        changed = {k: v for k, v in fields.items() if getattr(self.pane, k) != v}
        if changed:
            self.pane.param.update(**changed)


def new_figure(title: str, units: str = "", *, height: int = 320, x_datetime: bool = True,
               tools: str = "pan,xwheel_zoom,box_zoom,reset,save", **kw):
    if "x_range" not in kw:  # categorical ranges pick their own axis type
        kw["x_axis_type"] = "datetime" if x_datetime else "linear"
    fig = figure(title=title, height=height, sizing_mode="stretch_width", tools=tools, toolbar_location="right", **kw)
    fig.title.text_font_size = "20px"
    fig.xaxis.major_label_text_font_size = fig.yaxis.major_label_text_font_size = "15px"
    fig.yaxis.axis_label = pretty_units(units)
    fig.yaxis.axis_label_text_font_size = "16px"
    return fig


def limit_spans(fig, tag: Tag) -> None:
    """Spec limits (dashed red) and alarm limits (dotted orange) as horizontal lines."""
    if tag.spec is not None:
        for v in (tag.spec.lsl, tag.spec.usl):
            if v is not None:
                fig.add_layout(Span(location=v, dimension="width", line_color="#d33", line_dash="dashed", line_width=2))
        if tag.spec.target is not None:
            fig.add_layout(Span(location=tag.spec.target, dimension="width", line_color="#2e9e44", line_alpha=0.6))
    if tag.alarm is not None:
        for v in (tag.alarm.low_low, tag.alarm.low, tag.alarm.high, tag.alarm.high_high):
            if v is not None:
                fig.add_layout(Span(location=v, dimension="width", line_color="#d98a00", line_dash="dotted", line_width=2))


def legend_html(entries: list[tuple[str, str]]) -> str:
    """A static legend (colour swatch + label per line) drawn in HTML above a chart.

    Bokeh's own legend is DOM built inside the plot and rebuilt on every repaint, each time forcing the
    browser to recompute styles: on a live trend that is most of the page's cost per update.

    >>> legend_html([("#1f77b4", "lane 1")])
    '<div class="lw-legend"><span><i style="background:#1f77b4"></i>lane 1</span></div>'
    """
    items = "".join(f'<span><i style="background:{html.escape(color)}"></i>{html.escape(label)}</span>'
                    for color, label in entries)
    return f'<div class="lw-legend">{items}</div>'


class TrendChart:
    """Trend of some tags over a window of history (default the last 8 h) with the live samples streamed
    at its right edge: one line per tag.

    The window is read from the live buffers and, where it reaches further back, from the history store
    (:func:`apps.dashboard.history.window_series`), with gaps drawn as breaks and long windows downsampled
    on the server (each pixel column's lowest and highest sample); new samples are then streamed (only what
    is new). Samples whose quality is not good are drawn as gaps, never as fresh values. With several tags
    the legend is static HTML above the plot (see :func:`legend_html`); ``pane`` is the chart with it. The axes follow the data from the
    server, in the same message as the samples: Bokeh's automatic ranges would repaint the plot a second
    time after each update and send the new range back to the server. A shop-floor view, so no pan/zoom
    (those belong in the notebooks); the plot can be saved. ``history``: the store's URL (default
    ``$WORKBENCH_HISTORY``), or False for a feed that holds all its samples itself (the trial console).
    """

    RELOAD_AFTER = 256  # more new samples than this at once (a seed landed, a long pause): redraw the window

    def __init__(self, store: LiveStore, tags: list[Tag], title: str, *, height: int = 320,
                 markers: bool = False, limits: bool = True, window_s: float | None = None,
                 history: str | bool | None = None):
        from .history import DEFAULT_WINDOW, WINDOWS_H, history_url

        self.store, self.tags = store, tags
        self.window_s = window_s or WINDOWS_H[DEFAULT_WINDOW] * 3600.0
        self.history = history_url() if history is None else (history or None)
        units = tags[0].units if tags else ""
        self.fig = new_figure(title, units, height=height, tools="save", x_range=Range1d(0, 1),
                              y_range=Range1d(0, 1), x_axis_type="datetime")
        self.sources: dict[str, ColumnDataSource] = {}
        self.totals: dict[str, int] = {}
        self._loaded = False
        self._rollover: int | None = None
        entries = []
        for i, tag in enumerate(tags):
            src = ColumnDataSource({"t": np.empty(0), "v": np.empty(0)})  # arrays: streams append in numpy
            color = Category10_10[i % 10]
            self.fig.line("t", "v", source=src, color=color, line_width=2)
            if markers:
                self.fig.scatter("t", "v", source=src, color=color, size=5)
            self.sources[tag.path] = src
            self.totals[tag.path] = 0
            entries.append((color, trend_label(tag, tags)))
        if limits and tags:
            limit_spans(self.fig, tags[0])
        plot = pn.pane.Bokeh(self.fig, sizing_mode="stretch_width")
        self.pane = (pn.Column(html_pane(legend_html(entries), margin=(0, 10)), plot, sizing_mode="stretch_width")
                     if len(tags) > 1 else plot)

    def set_window(self, seconds: float) -> None:
        """Show the last ``seconds`` (the time-range picker); drawn anew at the next update."""
        if seconds != self.window_s:
            self.window_s, self._loaded = seconds, False

    def newest(self) -> float:
        """The chart's "now": its newest sample (the line's own clock), else the wall clock."""
        times = [self.store.series(p, 1)[0] for p in self.sources]
        times = [float(t[-1]) for t in times if len(t)]
        return max(times) if times else datetime.now().timestamp()

    def load(self) -> int:
        """Draw the whole window afresh (history + buffers, downsampled); returns the points drawn."""
        from .history import ROLLUP_AFTER_H, DRAW_POINTS, downsample, mark_gaps, window_rollup, window_series

        paths = list(self.sources)
        totals = {p: self.store.buffers[p].total for p in paths}
        shared = lambda key, compute: shared_result(key, 30.0, compute)  # noqa: E731
        start = self.newest() - self.window_s
        drawn = 0
        if self.history is not None and self.window_s > ROLLUP_AFTER_H * 3600.0 and paths:
            from workbench.history.rollup import envelope

            # a long window: each line is the min/max envelope of the store's rollups (2 points a bucket)
            r = window_rollup(self.store, self.history, paths, start, DRAW_POINTS // 2, shared=shared)
            series = {}
            for j, path in enumerate(paths):
                t, v = envelope(r, j) if r is not None else (np.empty(0), np.empty(0))
                series[path] = (np.asarray(t) / 1e9, v)
        else:
            series = {p: downsample(*mark_gaps(t, v))
                      for p, (t, v) in window_series(self.store, self.history, paths, start, shared=shared).items()}
        for path, (t, v) in series.items():
            self.sources[path].data = {"t": t * 1000.0, "v": v}
            drawn = max(drawn, len(t))
        self.totals.update(totals)
        self._rollover = drawn + 4 * self.RELOAD_AFTER
        self._loaded = True
        self._follow()
        return drawn

    def update(self) -> int:
        """Stream what is new since the last call; returns the number of new samples."""
        if not self._loaded or any(self.store.buffers[p].total - n > self.RELOAD_AFTER for p, n in self.totals.items()):
            return self.load()
        n = 0
        for path, src in self.sources.items():
            t, v, q, total = self.store.since(path, self.totals[path])
            self.totals[path] = total
            if len(t):
                v = np.where(q == GOOD, v, np.nan)
                # a few samples go as JSON lists inside the message; numpy arrays would travel as two
                # binary websocket frames per column (35 frames for a refresh of 8 lines, a send() each)
                src.stream({"t": (t * 1000.0).tolist(), "v": v.tolist()}, rollover=self._rollover)
                n += len(t)
        if n:
            self._follow()
        return n

    def _follow(self) -> None:
        """Fit both axes to the samples drawn (only the bounds that moved are sent)."""
        ts = [np.asarray(s.data["t"]) for s in self.sources.values() if len(s.data["t"])]
        vs = [np.asarray(s.data["v"]) for s in self.sources.values() if len(s.data["v"])]
        if not ts:
            return
        set_range(self.fig.x_range, *padded(min(float(t[0]) for t in ts), max(float(t[-1]) for t in ts), 0.0, 30e3))
        finite = [v[np.isfinite(v)] for v in vs]
        finite = [v for v in finite if len(v)]
        if finite:
            lo, hi = min(float(v.min()) for v in finite), max(float(v.max()) for v in finite)
            set_range(self.fig.y_range, *padded(lo, hi, 0.05, 1.0))


def charts_of(page) -> list[TrendChart]:
    """The trend charts a page holds (as attributes, or in lists of them): the time-range picker's targets."""
    found = []
    for value in vars(page).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        found += [v for v in items if isinstance(v, TrendChart)]
    return found


def padded(lo: float, hi: float, frac: float, minimum: float) -> tuple[float, float]:
    """[lo, hi] widened by ``frac`` of its span each side; a zero span becomes ``minimum`` around it.

    >>> padded(0.0, 10.0, 0.05, 1.0), padded(5.0, 5.0, 0.05, 1.0)
    ((-0.5, 10.5), (4.5, 5.5))
    """
    span = hi - lo
    if span <= 0:
        return lo - minimum / 2, hi + minimum / 2
    return lo - frac * span, hi + frac * span


def set_range(rng: Range1d, start: float, end: float) -> None:
    if rng.start != start:
        rng.start = start
    if rng.end != end:
        rng.end = end


_SHARED_RESULTS: dict[str, tuple[float, object]] = {}
SHARED_FORGET_S = 600.0  # a shared result not asked for in this long is dropped (its window has moved on)
STALE_AT_MOST = 6  # shared_result(refresh_off_loop=True) shows a result at most this many periods old


def shared_result(key: str, max_age_s: float, compute, *, refresh_off_loop: bool = False):
    """The result of ``compute()``, shared by every session of this server for ``max_age_s`` seconds.

    Heavier analyses (capability, excursions, I-MR, dQ/dV) run once per process per period however many
    screens are open: sessions only render. All sessions run on the server's one event-loop thread.
    ``refresh_off_loop``: once a result exists, an outdated one (up to ``STALE_AT_MOST`` periods old) is
    returned at once and recomputed in the analysis thread (``shared_background``) for the next refresh,
    so a session being opened does not wait for it; an older one, or none, is computed here.
    """
    import time as _time

    now = _time.monotonic()
    hit = _SHARED_RESULTS.get(key)
    if hit is not None and now - hit[0] < max_age_s:
        return hit[1]
    if refresh_off_loop and hit is not None and now - hit[0] < STALE_AT_MOST * max_age_s:
        shared_background(f"refresh:{key}", max_age_s, lambda: _keep_result(key, compute()))
        return hit[1]
    value = compute()
    _keep_result(key, value)
    return value


def _keep_result(key: str, value) -> None:
    import time as _time

    now = _time.monotonic()
    if len(_SHARED_RESULTS) > 64:  # keys carry their window (an hour, a minute): forget the long stale ones
        for old in [k for k, (t, _) in list(_SHARED_RESULTS.items()) if now - t > SHARED_FORGET_S]:
            _SHARED_RESULTS.pop(old, None)  # (the analysis thread keeps results too)
    _SHARED_RESULTS[key] = (now, value)


def genealogy_as_of(store: LiveStore, note: pn.pane.HTML, needs: str):
    """(genealogy source, newest line time as naive UTC) for a genealogy panel, or None: with no source the
    panel's ``note`` says what is missing and how to configure it; with no data yet it waits.
    ``needs`` completes "No genealogy source configured: ..." (what the panel cannot do without it)."""
    source = store.genealogy
    if source is None:
        set_html(note, f'<p class="lw-sub" data-role="no-genealogy">No genealogy source configured: {needs} '
                       '(set WORKBENCH_GENEALOGY to the history store whose catalog holds the genealogy and '
                       'formation results).</p>')
        return None
    newest = store.newest_source_time()
    if newest is None:
        return None
    return source, pd.Timestamp(newest).tz_convert("UTC").tz_localize(None)

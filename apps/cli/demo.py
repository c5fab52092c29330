"""`workbench demo`: the virtual line plus the live dashboard, served at http://localhost:5006/.

The demo opens on a shift of history: before serving it fills its history store (``--store``, default
``~/.local/share/line-workbench/demo``) with the virtual line's batch history of the last
``--history-hours`` (8.5 h; only what the store lacks), and approves a Phase I limit set for every tag
with a spec if none is in force. The Phase I window is the line's commissioning run: the stations with SPC
tags (the coating gauge, the welder) also hold the 15.5 h before the day, which has no injected events and
spans several slurry lots, so the limits see the lot-to-lot wander (2 h of one lot gave limits that
alarmed 1-3 times a shift per lane on the quiet line). The virtual line then runs inside the dashboard
server (one acquisition task for all browser sessions), which records it into the same store, so a
restart brings the same history and limits back. ``STORE/demo.json`` remembers the virtual line (seed,
the day it began), so history and live stay one line across restarts. ``--speed`` makes simulated time
run faster, so the injected events of the day (dew-point excursion, laser-window contamination, die-lip
streak...) show up sooner.
"""

from __future__ import annotations

import json
import os
from itertools import pairwise
from pathlib import Path

import pandas as pd

from workbench.history.store import DeclarationChanged

DEMO_HISTORY_H = 8.5  # the dashboards open on the last 8 h: the store holds a little more
# The commissioning run before the day (hours 8.5-24 of the virtual line's day -1: the default events of a
# day all fall in its first 8 h), stored for the stations with SPC tags: the demo's Phase I window. Six slurry
# lots: the limits include the lot-to-lot wander (workbench.spc.design); one lot's 2 h did not.
COMMISSIONING_H = 15.5
BASELINE_H = 2.0  # stores made before the commissioning run: Phase I on the first hours of the day


def register(sub) -> None:
    from apps.cli.serve import add_server_args

    p = sub.add_parser("demo", help="run the virtual line with the live dashboard (prints the URL)")
    p.add_argument("--config", default=None, help="line config YAML (default: the shipped virtual line)")
    p.add_argument("--speed", type=float, default=None,
                   help="simulated seconds per wall-clock second (default: the config's, 1.0)")
    p.add_argument("--seed", type=int, default=None, help="seed of the virtual line (default: the config's)")
    p.add_argument("--store", default=None,
                   help="history store of the demo (default: ~/.local/share/line-workbench/demo; created if missing)")
    p.add_argument("--history-hours", type=float, default=DEMO_HISTORY_H,
                   help=f"hours of batch history the store holds before going live (default {DEMO_HISTORY_H:g})")
    p.add_argument("--events", default=None,
                   help="YAML list of injected events instead of the default day, e.g. "
                        "[{kind: dewpoint_excursion, start: 2min, end: 10min, magnitude: 9}]; 'none' for none")
    add_server_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from apps.cli.serve import run_dashboard

    if args.speed is not None and not args.speed > 0:
        raise ValueError(f"--speed must be > 0 simulated seconds per second, got {args.speed}")
    env = {}
    if args.speed is not None:
        env["WORKBENCH_SIM_SPEED"] = repr(float(args.speed))
    if args.seed is not None:
        env["WORKBENCH_SIM_SEED"] = str(args.seed)
    if args.events:
        if args.events.lower() != "none" and not Path(args.events).is_file():
            raise FileNotFoundError(f"--events {args.events}: no such file (a YAML list of events, or 'none')")
        env["WORKBENCH_SIM_EVENTS"] = args.events if args.events.lower() == "none" else str(Path(args.events).resolve())
    store = Path(args.store or default_store()).expanduser().resolve()
    epoch = prepare_demo_store(store, chosen=args.store is not None, config=args.config, seed=args.seed,
                               hours=args.history_hours, events=env.get("WORKBENCH_SIM_EVENTS"))
    env.update(WORKBENCH_HISTORY=str(store), WORKBENCH_SIM_EPOCH=epoch.isoformat(),
               WORKBENCH_SIM_NOT_BEFORE=newest_stored(store).isoformat())
    return run_dashboard(config=args.config, port=args.port, address=args.address, env_extra=env,
                         allow_origins=args.allow_origin, what="demo (virtual line + live dashboard)")


def prepare_demo_store(store: Path, *, chosen: bool, **kw) -> pd.Timestamp:
    """:func:`prepare_store`; the default demo store (not ``chosen`` by the user) filled by another version
    of the virtual line (a tag's units or resolution changed) is moved aside and filled afresh."""
    try:
        return prepare_store(store, **kw)
    except DeclarationChanged as exc:
        if chosen:  # a store the user chose: theirs to decide
            raise
        aside = store.with_name(f"{store.name}-superseded-{pd.Timestamp.now():%Y%m%d-%H%M%S}")
        store.rename(aside)
        print(f"demo: {store} holds an older virtual line ({exc}); moved it to {aside}, filling a new one")
        return prepare_store(store, **kw)


def default_store() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "line-workbench" / "demo"


def demo_record(store: Path, seed: int, now: pd.Timestamp, hours: float,
                commissioning_h: float = COMMISSIONING_H) -> dict:
    """``STORE/demo.json``: which virtual line this store holds (seed, the day it began, the hours of
    commissioning run before that day); written once."""
    path = store / "demo.json"
    if path.exists():
        doc = json.loads(path.read_text())
        if int(doc["seed"]) != seed:
            raise ValueError(f"{store} holds the demo of the virtual line with seed {doc['seed']}, not {seed}: "
                             f"run with --seed {doc['seed']}, or give another --store")
        return doc
    store.mkdir(parents=True, exist_ok=True)
    doc = {"seed": seed, "epoch": (now - pd.Timedelta(hours=hours)).floor("s").isoformat(),
           "commissioning_h": commissioning_h}
    path.write_text(json.dumps(doc, indent=1))
    return doc


def prepare_store(store: Path, *, config=None, seed: int | None = None, hours: float = DEMO_HISTORY_H,
                  events: str | None = None, commissioning_h: float = COMMISSIONING_H) -> pd.Timestamp:
    """Fill ``store`` with the virtual line's history up to now (what it lacks, at most ``hours``; a new
    store first gets the commissioning run of its SPC stations) and make sure a limit set is in force for
    every tag with a spec; returns the day the virtual line began (naive UTC)."""
    from workbench.config import default_config_path, load_line_config
    from workbench.history import HistoryStore
    from workbench.history.fill import declare_line
    from workbench.simulate import virtual_line

    line = load_line_config(config or default_config_path())
    sims = [s.adapter for s in line.stations if s.adapter.kind == "sim"]
    seed = seed if seed is not None else (sims[0].seed if sims else 0)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    record = demo_record(store, seed, now, hours, commissioning_h)
    epoch = pd.Timestamp(record["epoch"])
    commissioning_h = float(record.get("commissioning_h", 0.0))  # as written once; 0: a store from before it
    hist = HistoryStore(store)
    busy: dict[str, list[tuple]] = {}  # injected events in the commissioning run, per station kind
    stations = declare_line(hist, line)
    marks = {s: hist.high_water_mark(s) for s in stations}
    newest = min((m.tz_convert("UTC").tz_localize(None) for m in marks.values() if m is not None), default=None)
    start = max(epoch, now - pd.Timedelta(hours=hours), newest if newest is not None else epoch)
    spc = {s.name: stations[s.name] for s in line.stations
           if any(t.spec is not None for t in s.tags) and marks[s.name] is None} if commissioning_h else {}
    if start < now or spc:
        from data_adapters.acquisition import load_events

        evs = "default" if events is None else None if events == "none" else load_events(events, now.to_pydatetime())
        vl = virtual_line(seed=seed, start=epoch, events=evs, config=line)
        if spc:  # a new store: the commissioning run first (a station's rows are stored in time order)
            fill_window(hist, vl, line, spc, epoch - pd.Timedelta(hours=commissioning_h), epoch,
                        what="commissioning run (SPC stations)")
            busy = injected_events(vl, epoch - pd.Timedelta(hours=commissioning_h), epoch)
        if start < now:
            fill_window(hist, vl, line, stations, start, now, what="virtual line history")
    ensure_limit_set(store, line, epoch, commissioning_h, busy)
    return epoch


MIN_QUIET = pd.Timedelta(hours=2)  # a Phase I stretch shorter than this is not used (the whole run is, said so)
EVENT_MARGIN = pd.Timedelta(hours=1)  # an event's effect outlasts its end (a dew-point decay, cold welds cooling)


def injected_events(vl, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, list[tuple]]:
    """{station kind: [(start, end + EVENT_MARGIN, event kind)]} of the virtual line's injected process events
    (an events file's or the default scenario's) overlapping [start, end): assignable causes a Phase I
    window must leave out."""
    from workbench.simulate import EVENT_KINDS

    out: dict[str, list[tuple]] = {}
    for e in vl.events.overlapping(vl.seconds(start), vl.seconds(end)):
        if e.kind in EVENT_KINDS:
            a, b = (pd.Timestamp(vl.time(t)) for t in (e.start_s, e.end_s))
            out.setdefault(EVENT_KINDS[e.kind][0], []).append((a, b + EVENT_MARGIN, e.kind))
    return out


def quiet_stretch(start: pd.Timestamp, end: pd.Timestamp, busy) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The longest part of [start, end] that overlaps none of the ``busy`` (start, end, ...) intervals.

    >>> t = pd.Timestamp("2026-01-01")
    >>> h = lambda n: t + pd.Timedelta(hours=n)
    >>> quiet_stretch(h(0), h(15), [(h(-9), h(2), "x"), (h(6), h(7), "y")])  == (h(7), h(15))
    True
    """
    best, cursor = (start, start), start
    for a, b, *_ in sorted(busy):
        if b <= cursor or a >= end:
            continue
        if min(a, end) - cursor > best[1] - best[0]:
            best = (cursor, min(a, end))
        cursor = max(cursor, b)
    if end - cursor > best[1] - best[0]:
        best = (cursor, end)
    return best


def fill_window(hist, vl, line, stations: dict[str, list[str]], start: pd.Timestamp, end: pd.Timestamp, *,
                what: str) -> None:
    """Append the virtual line's samples of ``stations`` from ``start`` to ``end`` hour by hour (a progress
    bar), and its link drop-outs there as gaps."""
    from tqdm.auto import tqdm

    from workbench.history.fill import append_samples, dropout_gaps
    from workbench.history.gaps import write_gaps

    edges = sorted(set(pd.date_range(start, end, freq="1h")) | {end})
    paths = [p for ps in stations.values() for p in ps]
    for t0, t1 in tqdm(list(pairwise(edges)), unit="h", desc=f"{what} -> {hist.root}"):
        append_samples(hist, stations, vl.tag_samples(start=t0, end=t1, paths=paths))
    gaps = dropout_gaps(vl, line, vl.seconds(start), vl.seconds(end))
    write_gaps(hist.root, gaps[gaps.station.isin(list(stations))], source="virtual-line links")


def newest_stored(store: Path) -> pd.Timestamp:
    """The newest time any station of ``store`` holds (naive UTC), one second on: where the live line goes on."""
    from workbench.history import HistoryStore

    hist = HistoryStore(store)
    marks = [hist.high_water_mark(p.stem) for p in (store / "stations").glob("*.json")]
    marks = [m.tz_convert("UTC").tz_localize(None) for m in marks if m is not None]
    return (max(marks) if marks else pd.Timestamp.now(tz="UTC").tz_localize(None)).floor("s") + pd.Timedelta("1s")


def ensure_limit_set(store: Path, line, epoch: pd.Timestamp, commissioning_h: float = 0.0,
                     busy: dict[str, list[tuple]] | None = None) -> None:
    """The demo's Phase I limits: if no approved set is in force for a tag with a spec, fit one on the
    commissioning run before the day (``commissioning_h`` hours; a store made without one: the first
    ``BASELINE_H`` hours of the day) and approve it (both by ``workbench demo``). ``busy``: injected events
    in that run per station kind (an events file may reach back into it: :func:`injected_events`); a
    station's window is then the longest stretch of the run without them (an assignable cause is left out
    of Phase I, as on a real line), said in the set's reason."""
    from workbench.spc import limitsets

    if commissioning_h:
        start, end = epoch - pd.Timedelta(hours=commissioning_h), epoch - pd.Timedelta(seconds=1)
        why = f"demo Phase I baseline: the virtual line's {commissioning_h:g} h commissioning run before the day"
    else:
        start, end = epoch, epoch + pd.Timedelta(hours=BASELINE_H)
        why = f"demo Phase I baseline: the virtual line's first {BASELINE_H:g} h of history"
    for station in line.stations:  # every tag with a spec: the live SPC monitors start from these sets
        events = (busy or {}).get(station.kind, []) if commissioning_h else []
        s, e = quiet_stretch(start, end, events)
        reason = why + (" (several slurry lots, no injected events)" if commissioning_h and not events else "")
        if events:
            kinds = ", ".join(sorted({k for *_, k in events}))
            if e - s >= MIN_QUIET:
                reason += (f" (several slurry lots), its {(e - s) / pd.Timedelta(hours=1):.1f} h without the "
                           f"injected events there ({kinds}, each with an hour after it)")
            else:  # no stretch long enough: the whole run, and the reason says what is in it
                s, e = start, end
                reason += f" (several slurry lots; injected events in it: {kinds})"
        for tag in (t for t in station.tags if t.spec is not None):
            if limitsets.in_force(store, tag.path) is not None:
                continue
            fitted = limitsets.fit_limit_set(store, tag.path, start=s, end=e, by="workbench demo", why=reason)
            saved = limitsets.save(store, fitted)
            limitsets.approve(store, saved.id, by="workbench demo")
            print(f"limit set {saved.id} approved for {tag.path} (window {saved.window_start} .. {saved.window_end})")

"""The acquisition task of a dashboard server: the station adapters of a line feed one live store.

One :class:`Acquisition` per server process (:func:`shared_acquisition`) subscribes through the adapters
of the configured line (:func:`adapters_for_line`) and feeds one :class:`workbench.live.LiveStore`; a
watchdog marks stale tags and dropped stations and reconnects. The environment configures it:
``WORKBENCH_LINE_CONFIG`` (the line), ``WORKBENCH_GENEALOGY`` (a history store with the genealogy) and the
``WORKBENCH_SIM_*`` options of the live virtual line (:func:`sim_options_from_env`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

from workbench.config import LineConfig, default_config_path, load_line_config
from workbench.genealogy import CatalogGenealogy, GenealogySource, VirtualLineGenealogy
from workbench.live import LiveError, LiveStore

from data_adapters.base import Adapter, utcnow

log = logging.getLogger(__name__)


# --- the acquisition task -------------------------------------------------------------------------------
WARM_START_H = 3.0  # the live line starts this far into the virtual line's day: cells are in formation


def sim_options_from_env(environ: dict | None = None) -> dict:
    """Options of the live virtual line from the environment (set by ``workbench demo``).

    ``WORKBENCH_SIM_SPEED`` (simulated s per s), ``WORKBENCH_SIM_SEED``, ``WORKBENCH_SIM_EVENTS`` (a YAML
    list of events with offsets from the moment the dashboard starts, such as ``{kind: dewpoint_excursion,
    start: 30s, end: 10min, magnitude: 9}``, or "none"; default: the virtual line's day of events).
    The live clock starts at the current wall-clock second, so source timestamps are real time and
    freshness means what it says; the virtual line's day began ``WARM_START_H`` hours earlier.

    >>> sim_options_from_env({"WORKBENCH_SIM_SPEED": "10"})["speed"]
    10.0
    """
    env = os.environ if environ is None else environ
    live_start = utcnow().replace(microsecond=0, tzinfo=None)
    opts: dict[str, Any] = {"live_start": live_start, "epoch": live_start - timedelta(hours=WARM_START_H)}
    if env.get("WORKBENCH_SIM_SPEED"):
        try:
            opts["speed"] = float(env["WORKBENCH_SIM_SPEED"])
        except ValueError:
            raise LiveError(f"WORKBENCH_SIM_SPEED must be a number (simulated s per s), "
                            f"got {env['WORKBENCH_SIM_SPEED']!r}") from None
    if env.get("WORKBENCH_SIM_SEED"):
        opts["seed"] = int(env["WORKBENCH_SIM_SEED"])
    events = env.get("WORKBENCH_SIM_EVENTS")
    if events:
        opts["events"] = None if events.lower() == "none" else load_events(events, live_start)
    return opts


def load_events(path: str | Path, live_start: datetime | None = None) -> list[dict]:
    """Injected events from a YAML list of mappings (kind, start, end, magnitude, ...).

    Offsets such as "30s" count from ``live_start`` (when the dashboard started) and are returned as
    absolute naive-UTC ISO times; absolute times are kept as written.
    """
    import pandas as pd
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LiveError(f"{path}: cannot read events file: {exc.strerror}") from None
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise LiveError(f"{path}: events file must be a YAML list of mappings with kind, start, end, magnitude")
    out = []
    for i, e in enumerate(raw):
        e = dict(e)
        for key in ("start", "end"):
            v = str(e.get(key, ""))
            if live_start is not None and v and not any(c in v for c in "-:T"):
                try:
                    e[key] = (pd.Timestamp(live_start) + pd.Timedelta(v)).isoformat()
                except ValueError:
                    raise LiveError(f"{path}: events[{i}].{key}: {v!r} is not a duration like 30s or 10min") from None
            elif v:
                e[key] = v
        out.append(e)
    return out


class _LiveFrom:
    """A virtual line whose live clock starts at ``live_start`` instead of at the line's epoch."""

    def __init__(self, vl: Any, live_start: datetime):
        self.vl, self.live_start = vl, live_start

    def live(self, speed: float = 1.0):
        return self.vl.live(speed=speed, start=self.live_start)


def live_sim_adapter(line: LineConfig, environ: dict | None = None) -> Adapter:
    """The sim adapter for a dashboard: live clock at wall-clock now, options from the environment."""
    from data_adapters.sim import sim_adapter
    from workbench.simulate import virtual_line

    opts = sim_options_from_env(environ)
    sims = [s.adapter for s in line.stations if s.adapter.kind == "sim"]
    seed = opts.get("seed", sims[0].seed if sims else 0)
    vl = virtual_line(seed=seed, start=opts["epoch"], events=opts.get("events", "default"), config=line)
    adapter = sim_adapter(line, seed=seed, speed=opts.get("speed"), vl=_LiveFrom(vl, opts["live_start"]))
    adapter.genealogy = VirtualLineGenealogy(vl)  # the virtual line knows its cells, lots and rolls
    return adapter


def adapters_for_line(line: LineConfig) -> list[tuple[list[str], Adapter]]:
    """The adapters that serve a line, as (station names, adapter): one per transport in the config.

    Sim stations share one in-process virtual line; other kinds are built by ``data_adapters.connect``
    (adapters are created, not connected: :meth:`Acquisition.start` connects them).
    """
    out: list[tuple[list[str], Adapter]] = []
    sim_stations = [s.name for s in line.stations if s.adapter.kind == "sim"]
    if sim_stations:
        out.append((sim_stations, live_sim_adapter(line)))
    others = [s for s in line.stations if s.adapter.kind != "sim"]
    if others:
        from data_adapters.connect import open_line

        # one adapter per endpoint (stations on the same OPC UA server or broker share it)
        rest = open_line(line.model_copy(update={"stations": others}))
        shared: dict[int, tuple[list[str], Adapter]] = {}
        for station in others:
            adapter = rest.station(station.name)
            shared.setdefault(id(adapter), ([], adapter))[0].append(station.name)
        out.extend(shared.values())
    return out


class Acquisition:
    """The one acquisition task of a server process: adapters -> :class:`LiveStore`.

    ``await acq.start()`` connects every adapter and subscribes to all its tags; a watchdog (every
    ``watch_s`` seconds) marks stale tags, marks stations whose transport dropped as disconnected and
    retries the connection. ``await acq.stop()`` ends it. Failures never propagate to sessions.
    """

    def __init__(self, line: LineConfig, *, adapters: list[tuple[list[str], Adapter]] | None = None,
                 capacity: int = 3600, watch_s: float = 0.5, spc: bool = True):
        self.line = line
        # (station names, adapter) per transport; built here (not connected) so readers have no side effects
        self.adapters: list[tuple[list[str], Adapter]] = adapters if adapters is not None else adapters_for_line(line)
        self.store = LiveStore(line, capacity=capacity, spc=spc, genealogy=genealogy_source(self.adapters))
        self.watch_s = watch_s
        self._tasks: list[asyncio.Task] = []
        self._subs: dict[int, Any] = {}
        self.started = False

    async def start(self) -> "Acquisition":
        if self.started:
            return self
        self.started = True
        for stations, adapter in self.adapters:
            await self._connect(stations, adapter)
        self._tasks.append(asyncio.get_running_loop().create_task(self._watch(), name="live-watchdog"))
        return self

    async def _connect(self, stations: list[str], adapter: Adapter) -> bool:
        try:
            await adapter.connect()
            if id(adapter) not in self._subs:
                self._subs[id(adapter)] = await adapter.subscribe(None, self.store.ingest)
        except Exception as exc:  # a station down at start-up must not stop the dashboard
            log.warning("live: cannot connect %s: %s", adapter.name, exc)
            for s in stations:
                self.store.mark_disconnected(s, reason=f"({type(exc).__name__}: {exc})")
            return False
        for s in stations:
            self.store.mark_connected(s)
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_s)
            try:
                for stations, adapter in self.adapters:
                    if not adapter.connected:
                        for s in stations:
                            self.store.mark_disconnected(s)
                self.store.refresh()
            except Exception:
                log.exception("live: watchdog pass failed")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        for _, adapter in self.adapters:
            sub = self._subs.pop(id(adapter), None)
            try:
                if sub is not None:
                    await sub.cancel()
                await adapter.close()
            except Exception:
                log.exception("live: closing %s failed", adapter.name)
        self.started = False


def genealogy_source(adapters: Iterable[tuple[list[str], Adapter]] = (), environ: dict | None = None
                     ) -> GenealogySource | None:
    """The genealogy the dashboard uses: the history store in ``$WORKBENCH_GENEALOGY`` if set, else the
    virtual line behind a sim adapter, else None (the pages then say "no genealogy source configured").

    >>> genealogy_source([], environ={}) is None
    True
    """
    env = os.environ if environ is None else environ
    if env.get("WORKBENCH_GENEALOGY"):
        return CatalogGenealogy(env["WORKBENCH_GENEALOGY"])
    for _, adapter in adapters:
        source = getattr(adapter, "genealogy", None)
        if isinstance(source, GenealogySource):
            return source
    return None



# --- one per process ------------------------------------------------------------------------------------
_SHARED: dict[str, Acquisition] = {}
_SHARED_LOCK = threading.Lock()


def line_config_path() -> Path:
    """The line config of this server: $WORKBENCH_LINE_CONFIG, else the shipped virtual line."""
    env = os.environ.get("WORKBENCH_LINE_CONFIG")
    return Path(env) if env else default_config_path()


def shared_acquisition(config: str | Path | None = None, *, factory: Callable[[LineConfig], Acquisition] | None = None,
                       loop: asyncio.AbstractEventLoop | None = None) -> Acquisition:
    """The process-wide :class:`Acquisition` for a line config, created and started on first call.

    Every browser session calls this; only the first creates the task (one acquisition for all sessions).
    ``loop``: the event loop to run on (default: the running one, else the current one).
    """
    path = str(Path(config or line_config_path()).resolve())
    with _SHARED_LOCK:
        acq = _SHARED.get(path)
        if acq is None:
            line = load_line_config(path)
            acq = (factory or Acquisition)(line)
            _SHARED[path] = acq
            if loop is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    loop = asyncio.get_event_loop()
            loop.create_task(acq.start(), name="live-acquisition")
        return acq


def reset_shared() -> None:
    """Forget the process-wide acquisitions (tests only; does not stop them)."""
    with _SHARED_LOCK:
        _SHARED.clear()


__all__ = ["Acquisition", "adapters_for_line", "genealogy_source", "shared_acquisition", "line_config_path",
           "reset_shared", "sim_options_from_env", "load_events", "live_sim_adapter", "WARM_START_H"]

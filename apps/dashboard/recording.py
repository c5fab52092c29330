"""The server's one acquisition task, backed by a history store: seed, acquire, record.

With ``$WORKBENCH_HISTORY`` set, :func:`history_acquisition` (the factory ``apps/setup.py`` hands to
``shared_acquisition``) builds an :class:`Acquisition` that, on start,

1. seeds the live buffers with the store's newest hours (every page opens on history, not on an empty chart),
2. connects the line's adapters as usual (one acquisition task per server process),
3. records everything it acquires into the same store (:class:`data_adapters.recorder.Recorder`, subscribed
   to the same adapters), so a restarted server brings the same history back.

For the virtual line, ``$WORKBENCH_SIM_EPOCH`` (set by ``workbench demo``) fixes the day the virtual line
began, so the history the demo filled in batch and the live samples are one continuous line; the
recorder fills the seconds between the batch fill and the live start from the same virtual line.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime
from pathlib import Path

import pandas as pd

from data_adapters.live import (Acquisition, VirtualLineGenealogy, adapters_for_line, sim_options_from_env)
from workbench.config import LineConfig

from .history import history_url, newest_time, seed_from_store

log = logging.getLogger(__name__)

EPOCH_ENV = "WORKBENCH_SIM_EPOCH"


class _LiveFromNow:
    """A virtual line whose live clock starts at ``live_start`` (wall-clock now), not at its epoch."""

    def __init__(self, vl, live_start: datetime):
        self.vl, self.live_start = vl, live_start

    def live(self, speed: float = 1.0):
        return self.vl.live(speed=speed, start=self.live_start)


def sim_adapter_from_epoch(line: LineConfig, epoch: pd.Timestamp, environ: dict | None = None, *,
                           not_before: pd.Timestamp | None = None):
    """The sim adapter of a virtual line that began at ``epoch`` (naive UTC), live from now on, or from
    ``not_before`` (naive UTC) if that is later: a sped-up line recorded ahead of the wall clock goes on
    from where it stopped, never back over stored time."""
    from data_adapters.sim import sim_adapter
    from workbench.simulate import virtual_line

    opts = sim_options_from_env(environ)
    if not_before is not None and not_before > pd.Timestamp(opts["live_start"]):
        opts["live_start"] = not_before.ceil("s").to_pydatetime()
    sims = [s.adapter for s in line.stations if s.adapter.kind == "sim"]
    seed = opts.get("seed", sims[0].seed if sims else 0)
    vl = virtual_line(seed=seed, start=epoch, events=opts.get("events", "default"), config=line)
    adapter = sim_adapter(line, seed=seed, speed=opts.get("speed"), vl=_LiveFromNow(vl, opts["live_start"]))
    adapter.genealogy = VirtualLineGenealogy(vl)
    adapter.virtual_line = vl
    print(f"virtual line (seed {seed}, day began {epoch:%Y-%m-%d %H:%M:%S} UTC) live from "
          f"{pd.Timestamp(opts['live_start']):%Y-%m-%d %H:%M:%S} UTC", flush=True)
    return adapter


class AcquisitionTap:
    """The acquisition's adapters as a recorder source: a second subscription on the same connections."""

    def __init__(self, acq: Acquisition):
        self.acq = acq

    async def subscribe(self, paths, on_reading):
        subs = []
        for stations, adapter in self.acq.adapters:
            mine = [t.path for s in stations for t in self.acq.line.station(s).tags]
            subs.append(await adapter.subscribe([p for p in mine if p in set(paths)], on_reading))
        return subs


class HistoryAcquisition(Acquisition):
    """An :class:`Acquisition` whose buffers start from the history store and whose readings are recorded
    into it (see the module docstring). ``url``: a local history store folder."""

    def __init__(self, line: LineConfig, url: str, *, adapters=None, seed_hours: float = 8.0, **kw):
        super().__init__(line, adapters=adapters, **kw)
        self.url, self.seed_hours = url, seed_hours
        self.recorder = None
        self.seeded = 0

    def _backfill(self):
        """Where the recorder finds samples it did not hear: the virtual line itself (sim stations)."""
        vls = [getattr(a, "virtual_line", None) for _, a in self.adapters]
        vl = next((v for v in vls if v is not None), None)
        if vl is None:
            return getattr(self.adapters[0][1], "history", None) if len(self.adapters) == 1 else None

        def from_virtual_line(paths, start, end):
            naive = [pd.Timestamp(x).tz_convert("UTC").tz_localize(None) for x in (start, end)]
            return vl.tag_samples(start=max(naive[0], pd.Timestamp(vl.start)), end=naive[1],
                                  paths=[p for p in paths if p in vl.signals])
        return from_virtual_line

    async def start(self) -> "HistoryAcquisition":
        if self.started:
            return self
        try:
            # in a worker thread: the server answers browsers meanwhile (pages fill in as the seed lands);
            # live readings arrive only after it, so every buffer stays in time order
            self.seeded = await asyncio.to_thread(seed_from_store, self.store, self.url, self.seed_hours)
            log.info("history %s: seeded the live buffers with %d samples", self.url, self.seeded)
        except Exception:  # a damaged store must not keep the line off the screen
            log.exception("history %s: could not seed the live buffers; they start empty", self.url)
        await super().start()
        from data_adapters.recorder import Recorder

        try:
            self.recorder = Recorder(self.line, AcquisitionTap(self), self.url, backfill=self._backfill())
            await self.recorder.start()
        except Exception:
            log.exception("history %s: not recording (the dashboard still shows the live line)", self.url)
            self.recorder = None
        return self

    async def stop(self) -> None:
        if self.recorder is not None:
            await self.recorder.stop()
            self.recorder = None
        await super().stop()


def history_acquisition(line: LineConfig) -> Acquisition:
    """The server's acquisition: history-backed when ``$WORKBENCH_HISTORY`` names a store, else plain."""
    url = history_url()
    if url is None:
        return Acquisition(line)
    adapters = None
    if os.environ.get(EPOCH_ENV) and any(s.adapter.kind == "sim" for s in line.stations):
        epoch = pd.Timestamp(os.environ[EPOCH_ENV])
        epoch = epoch.tz_convert("UTC").tz_localize(None) if epoch.tzinfo else epoch
        sims = [s.name for s in line.stations if s.adapter.kind == "sim"]
        others = line.model_copy(update={"stations": [s for s in line.stations if s.adapter.kind != "sim"]})
        marks = [newest_time(url, s) for s in sims if (Path(url) / "stations" / f"{s}.json").exists()]
        marks = [m.tz_convert("UTC").tz_localize(None) for m in marks if m is not None]
        adapters = [(sims, sim_adapter_from_epoch(line, epoch, not_before=max(marks) if marks else None))]
        adapters += adapters_for_line(others) if others.stations else []
    return HistoryAcquisition(line, url, adapters=adapters)


__all__ = ["HistoryAcquisition", "history_acquisition", "sim_adapter_from_epoch", "AcquisitionTap", "EPOCH_ENV"]

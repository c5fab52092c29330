"""The server's one acquisition task, backed by a history store: seed, acquire, record.

With ``$WORKBENCH_HISTORY`` set, :func:`history_acquisition` (the factory ``apps/setup.py`` hands to
``shared_acquisition``) builds an :class:`Acquisition` that, on start,

1. seeds the live buffers with the store's newest hours (every page opens on history, not on an empty chart),
2. connects the line's adapters as usual (one acquisition task per server process),
3. records everything it acquires into the same store (:class:`data_adapters.recorder.Recorder`, subscribed
   to the same adapters), so a restarted server brings the same history back.

For the virtual line, ``$WORKBENCH_SIM_EPOCH`` (set by ``workbench demo``) fixes the day the virtual line
began, so the history the demo filled in batch and the live samples are one continuous line; the
recorder fills the seconds between the batch fill and the live start from the same virtual line
(``VirtualLine.tag_samples``, equal to what live reads would have delivered).
"""

from __future__ import annotations

import asyncio
import logging

import pandas as pd

from data_adapters.acquisition import Acquisition
from workbench.genealogy import VirtualLineGenealogy
from workbench.history.fill import readings_only
from workbench.config import LineConfig

from .history import history_url, prewarm_rollups, seed_from_store

log = logging.getLogger(__name__)


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

    def __init__(self, line: LineConfig, url: str, *, adapters=None, seed_hours: float = 8.5, **kw):
        super().__init__(line, adapters=adapters, **kw)
        self.url, self.seed_hours = url, seed_hours
        self.recorder = None
        self.seeded = 0

    def _source_clock(self):
        """The clock that samples are judged against: the virtual line's own clock when every station is the
        virtual line (``workbench demo --speed 30`` runs it ahead of this computer's; the recorder would
        otherwise refuse its samples as stamped in the future), else None (this computer's clock)."""
        clocks = [getattr(adapter.backend, "line_time", None) for _, adapter in self.adapters]
        if not clocks or any(c is None for c in clocks):
            return None
        line_time = clocks[0]
        return lambda: pd.Timestamp(line_time())

    def _backfill(self):
        """Where the recorder finds samples it did not hear: the virtual line itself (sim stations)."""
        genealogy = self.store.genealogy
        vl = genealogy.vl if isinstance(genealogy, VirtualLineGenealogy) else None
        if vl is None:
            return getattr(self.adapters[0][1], "history", None) if len(self.adapters) == 1 else None

        def from_virtual_line(paths, start, end):
            # what the line's own history holds: readings only (no bad-value code, nothing while a link was down)
            naive = [pd.Timestamp(x).tz_convert("UTC").tz_localize(None) for x in (start, end)]
            return readings_only(vl.tag_samples(start=max(naive[0], pd.Timestamp(vl.start)), end=naive[1],
                                                paths=[p for p in paths if p in vl.signals]))[0]
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
        try:  # SPC from the approved limit sets in force (workbench.spc.design), not a provisional warm-up
            from workbench.spc.limitsets import in_force_for

            sets = await asyncio.to_thread(in_force_for, self.url, list(self.store.spc))
            log.info("history %s: SPC limit sets in force for %d tags", self.url, len(self.store.use_limit_sets(sets)))
        except Exception:
            log.exception("history %s: could not read the limit sets; SPC starts on a provisional warm-up", self.url)
        try:  # the week's rollups, read once now rather than by the first session that asks for them
            await asyncio.to_thread(prewarm_rollups, self.store, self.url)
        except Exception:
            log.exception("history %s: could not read the stored rollups; long windows read them on demand", self.url)
        await super().start()
        from data_adapters.recorder import Recorder

        try:
            self.recorder = Recorder(self.line, AcquisitionTap(self), self.url, backfill=self._backfill(),
                                     clock=self._source_clock())
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
    """The server's acquisition: history-backed when ``$WORKBENCH_HISTORY`` names a store, else plain.

    For the virtual line, ``workbench demo`` sets ``WORKBENCH_SIM_EPOCH`` and ``WORKBENCH_SIM_NOT_BEFORE``
    (:func:`data_adapters.acquisition.sim_options_from_env`) so the live line continues the stored one.
    """
    url = history_url()
    if url is None:
        return Acquisition(line)
    acq = HistoryAcquisition(line, url)
    genealogy = acq.store.genealogy
    if isinstance(genealogy, VirtualLineGenealogy):
        log.info("%s, recorded into the history store %s", genealogy.description, url)
    return acq


__all__ = ["HistoryAcquisition", "history_acquisition", "AcquisitionTap"]

"""Open a whole line from its config: the right backend per station, one adapter per endpoint.

Stations whose adapter settings are identical share one connection (e.g. one OPC UA server, one MQTT
broker session, the one virtual line). :class:`LineAdapters` routes ``read``/``subscribe``/``write`` by
tag path, so a dashboard or a trial treats the line like one adapter.

Example
-------
>>> import asyncio
>>> from workbench.config import load_line_config, default_config_path
>>> async def demo():
...     async with open_line(load_line_config(default_config_path())) as line:
...         return sorted(a.name for a in line.adapters)
>>> asyncio.run(demo())  # doctest: +SKIP
['virtual line (sim seed 0)']
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from workbench.config import LineConfig, Station, Tag, load_line_config

from data_adapters.base import Adapter, ArmedSession, Reading, ReadingCallback, Subscription, WriteResult

log = logging.getLogger(__name__)


def _beside_config(line: LineConfig, settings, *keys: str):
    """``settings`` with its relative file paths (``keys``) resolved against the config file's folder,
    like any include: a config works whatever the current directory."""
    update = {}
    for key in keys:
        value = getattr(settings, key)
        if value and not Path(value).is_absolute() and line.source:
            update[key] = str(Path(line.source).parent / value)
    return settings.model_copy(update=update) if update else settings


def _backend(line: LineConfig, settings, tags: list[Tag], secrets: dict[str, str]):
    kind = settings.kind
    if kind == "sim":
        from data_adapters.sim import SimBackend

        return SimBackend(line, seed=settings.seed, speed=settings.speed), f"virtual line (sim seed {settings.seed})"
    if kind == "opcua":
        from data_adapters.opcua import OpcUaBackend

        return OpcUaBackend(tags, settings, password=secrets.get(settings.url)), settings.url
    if kind == "mqtt":
        from data_adapters.mqtt import MqttBackend

        settings = _beside_config(line, settings, "ca_file", "certfile", "keyfile")
        where = f"mqtt://{settings.host}:{settings.port}"
        return MqttBackend(tags, settings, password=secrets.get(where)), where
    if kind == "rest":
        from data_adapters.rest import RestBackend

        return RestBackend(tags, settings, token=secrets.get(settings.url)), settings.url
    if kind == "replay":
        from data_adapters.replay import ReplayBackend

        settings = _beside_config(line, settings, "path")
        return ReplayBackend(tags, settings), f"replay {settings.path}"
    raise ValueError(f"{line.source}: adapter kind {kind!r} has no backend")  # config validation prevents this


class LineAdapters:
    """The adapters of a line, routed by tag path. Use ``async with open_line(config) as line``."""

    def __init__(self, line: LineConfig, adapters: list[Adapter], stations: dict[str, Adapter]):
        self.config = line
        self.adapters = adapters
        self._by_station = stations
        self._by_tag = {t.path: stations[s.name] for s in line.stations for t in s.tags}

    def station(self, name: str) -> Adapter:
        """The adapter serving station ``name``."""
        try:
            return self._by_station[name]
        except KeyError:
            raise KeyError(f"no station {name!r}; stations: {sorted(self._by_station)}") from None

    def for_tag(self, path: str) -> Adapter:
        try:
            return self._by_tag[path]
        except KeyError:
            raise KeyError(f"no tag {path!r} in line {self.config.name!r}; see describe()") from None

    def describe(self) -> dict[str, Tag]:
        return self.config.tags

    async def connect(self) -> None:
        """Connect every adapter; one that cannot connect now is logged and keeps retrying on its own."""
        results = await asyncio.gather(*(a.connect() for a in self.adapters), return_exceptions=True)
        failed = [(a, r) for a, r in zip(self.adapters, results) if isinstance(r, BaseException)]
        for a, exc in failed:
            log.error("%s: %s", a.name, exc)
        if failed and len(failed) == len(self.adapters):
            raise failed[0][1]

    async def close(self) -> None:
        await asyncio.gather(*(a.close() for a in self.adapters), return_exceptions=True)

    async def __aenter__(self) -> "LineAdapters":
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def _group(self, paths: Iterable[str] | None) -> dict[Adapter, list[str]]:
        groups: dict[Adapter, list[str]] = defaultdict(list)
        for p in (self._by_tag if paths is None else paths):
            groups[self.for_tag(p)].append(p)
        return groups

    async def read(self, paths: Iterable[str] | None = None) -> dict[str, Reading]:
        parts = await asyncio.gather(*(a.read(ps) for a, ps in self._group(paths).items()))
        return {k: v for part in parts for k, v in part.items()}

    async def subscribe(self, paths: Iterable[str] | None, callback: ReadingCallback) -> list[Subscription]:
        return [await a.subscribe(ps, callback) for a, ps in self._group(paths).items()]

    async def write(self, path: str, value: Any, *, session: ArmedSession | None) -> WriteResult:
        return await self.for_tag(path).write(path, value, session=session)

    @property
    def history(self):
        """``await line.history(paths, start, end) -> {path: (times, values)}`` routed by tag, present only when
        every adapter's backend reads history (e.g. OPC UA HistoryRead); otherwise AttributeError, so
        ``getattr(line, "history", None)`` is None. An adapter whose history read fails is logged and left
        out; if every one fails, the first error is raised.

        >>> backfill = getattr(open_line(config), "history", None)   # doctest: +SKIP
        """
        missing = [a.name for a in self.adapters if not callable(getattr(a.backend, "history", None))]
        if missing:
            raise AttributeError(f"history: the backend of {', '.join(missing)} keeps no history to read")
        return self._history

    async def _history(self, paths: Iterable[str] | None, start, end) -> dict:
        groups = self._group(paths)
        parts = await asyncio.gather(*(a.backend.history(ps, start, end) for a, ps in groups.items()),
                                     return_exceptions=True)
        errors = [(a, r) for a, r in zip(groups, parts) if isinstance(r, BaseException)]
        for a, exc in errors:
            log.warning("%s: history read failed: %s", a.name, exc)
        if errors and len(errors) == len(parts):
            raise errors[0][1]
        return {k: v for part in parts if not isinstance(part, BaseException) for k, v in part.items()}


def open_line(config: LineConfig | str | Path, *, audit=None, secrets: dict[str, str] | None = None) -> LineAdapters:
    """Build (not connect) the adapters of a line config; ``secrets`` maps endpoint -> password/token
    (otherwise each adapter's ``password_env``/``token_env`` is used). ``audit`` is shared by all adapters."""
    line = config if isinstance(config, LineConfig) else load_line_config(config)
    secrets = secrets or {}
    groups: dict[str, list[Station]] = defaultdict(list)
    for st in line.stations:
        groups[st.adapter.model_dump_json()].append(st)
    adapters, by_station = [], {}
    for stations in groups.values():
        tags = [t for st in stations for t in st.tags]
        backend, where = _backend(line, stations[0].adapter, tags, secrets)
        adapter = Adapter(tags, backend, audit=audit, name=where)
        adapters.append(adapter)
        by_station.update({st.name: adapter for st in stations})
    return LineAdapters(line, adapters, by_station)


__all__ = ["open_line", "LineAdapters"]

"""HTTP JSON: a polling backend (aiohttp client) and a small server of a line (aiohttp web).

The JSON API (``url`` is its base, e.g. ``http://127.0.0.1:8081/api``)::

    GET  {url}/tags                     -> [{path, units, description, writable}]
    GET  {url}/values?path=a&path=b     -> {path: {value, unit, ts, quality}}   (no path: all tags)
    PUT  {url}/values/{path}  {value, unit}  (Authorization: Bearer <token>)
                                        -> {ok, message, readback}; 401 without/with a wrong token,
                                           403 for a tag that is not a writable setpoint

The backend polls ``values`` every ``poll_interval_s`` for the subscribed tags and delivers readings whose
source timestamp moved; when the endpoint stops answering it delivers ``disconnected`` once per tag and
keeps polling, so it recovers by itself.

Example
-------
>>> from workbench.config import RestAdapter, load_line_config, default_config_path
>>> line = load_line_config(default_config_path())
>>> b = RestBackend(line.station("welding").tags, RestAdapter(kind="rest", url="http://127.0.0.1:8081/api"))
>>> b.connected
False
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import os
from typing import Iterable

import aiohttp
from aiohttp import web

from workbench.config import RestAdapter, Tag

from data_adapters.base import Backend, BackendError, LocalSubscribers, Quality, Reading, utcnow
from data_adapters.mqtt import decode_fields
from data_adapters.opcua_model import unit_converter
from data_adapters.readback import WriteHold

log = logging.getLogger(__name__)


def reading_json(r: Reading) -> dict:
    v = None if math.isnan(r.value) else r.value
    return {"value": v, "unit": r.units, "ts": r.source_time.isoformat(), "quality": r.quality.value}


class RestBackend(LocalSubscribers):
    """Polling backend for an HTTP JSON endpoint; ``token`` defaults to env ``settings.token_env``."""

    def __init__(self, tags: Iterable[Tag], settings: RestAdapter, *, token: str | None = None,
                 timeout_s: float = 3.0):
        self.tags = {t.path: t for t in tags}
        self.settings = settings
        self.url = settings.url.rstrip("/")
        if token is None and settings.token_env:
            token = os.environ.get(settings.token_env)
            if token is None:
                raise ValueError(f"{self.url}: environment variable {settings.token_env} (token_env) is not set")
        self._token = token
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        super().__init__()
        self._poller: asyncio.Task | None = None
        self._connected = False
        self._last_ts: dict[tuple[int, str], object] = {}
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        try:
            await self._get_values(list(self.tags)[:1])
        except BackendError as exc:
            log.warning("%s; polling keeps trying", exc)
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._connected = False

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    async def _get_values(self, paths: list[str]) -> dict[str, Reading]:
        if self._session is None:
            raise BackendError(f"{self.url}: not connected (call connect first)")
        try:
            async with self._session.get(f"{self.url}/values", params=[("path", p) for p in paths],
                                         headers=self._headers()) as resp:
                if resp.status != 200:
                    raise BackendError(f"{self.url}/values answered HTTP {resp.status}: {(await resp.text())[:200]}")
                body = await resp.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            if self._connected:
                log.warning("%s stopped answering: %s", self.url, exc)
            self._connected = False
            raise BackendError(f"{self.url} not reachable: {type(exc).__name__}: {exc}") from None
        if not self._connected and self._session is not None:
            self.reconnects += 1
        self._connected = True
        now = utcnow()
        out = {}
        for p in paths:
            tag, raw = self.tags[p], body.get(p)
            if raw is None:
                continue
            try:
                d = decode_fields(raw)
                value = d["value"] if not d["unit"] or d["unit"] == tag.units else \
                    unit_converter(d["unit"], tag.units, f"{self.url} {p}")(d["value"])
                out[p] = Reading(p, value, tag.units, d["ts"] or now, d["quality"], now)
            except ValueError as exc:
                log.warning("%s %s: %s", self.url, p, exc)
                out[p] = Reading(p, math.nan, tag.units, now, Quality.BAD, now)
        return out

    async def read(self, paths: list[str]) -> dict[str, Reading]:
        return await self._get_values(paths)

    async def _poll(self) -> None:
        while True:
            wanted = sorted({p for _, paths, _ in self.subscribers() for p in paths})
            if wanted:
                was = self._connected
                try:
                    got = await self._get_values(wanted)
                except BackendError:
                    got = None
                for handle, paths, callback in self.subscribers():
                    for p in paths:
                        if got is None:
                            if was or (handle, p) not in self._last_ts:  # one gap mark per outage
                                now = utcnow()
                                self._last_ts[(handle, p)] = None
                                await callback(Reading(p, math.nan, self.tags[p].units, now, Quality.DISCONNECTED, now))
                        elif p in got and self._last_ts.get((handle, p)) != got[p].source_time:
                            self._last_ts[(handle, p)] = got[p].source_time
                            await callback(got[p])
            await asyncio.sleep(self.settings.poll_interval_s)

    async def unsubscribe(self, handle: int) -> None:
        await super().unsubscribe(handle)
        for key in [k for k in self._last_ts if k[0] == handle]:
            del self._last_ts[key]

    async def write(self, path: str, value: float) -> None:
        if self._session is None:
            raise BackendError(f"{self.url}: not connected")
        try:
            async with self._session.put(f"{self.url}/values/{path}", json={"value": value, "unit": self.tags[path].units},
                                         headers=self._headers()) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200 or not body.get("ok"):
                    raise BackendError(f"{self.url} refused the write to {path} (HTTP {resp.status}): "
                                       f"{body.get('message', '')}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise BackendError(f"write to {self.url} failed: {type(exc).__name__}: {exc}") from None


class LineRestServer:
    """Serve ``tags`` of ``source`` over the JSON API on ``host:port``; writes need ``token`` (Bearer)."""

    def __init__(self, tags: Iterable[Tag], source: Backend, *, host: str = "127.0.0.1", port: int = 8081,
                 token: str | None = None, close_source: bool = False):
        self.tags = {t.path: t for t in tags}
        self.source, self.host, self.port, self.token = source, host, port, token
        self.close_source = close_source
        self._hold = WriteHold()
        self._runner: web.AppRunner | None = None
        app = web.Application()
        app.add_routes([web.get("/api/tags", self._tags), web.get("/api/values", self._values),
                        web.put("/api/values/{path:.+}", self._write)])
        self.app = app

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    async def start(self) -> None:
        if not self.source.connected:
            await self.source.connect()
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.close_source:
            await self.source.close()

    async def __aenter__(self) -> "LineRestServer":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response([{"path": t.path, "units": t.units, "description": t.description,
                                   "writable": t.writable} for t in self.tags.values()])

    async def _values(self, request: web.Request) -> web.Response:
        paths = request.query.getall("path", []) or list(self.tags)
        unknown = [p for p in paths if p not in self.tags]
        if unknown:
            return web.json_response({"message": f"unknown tag(s): {unknown[:3]}; GET /api/tags lists them"},
                                     status=404)
        got = await self.source.read(paths)
        return web.json_response({p: reading_json(self._hold.view(r)) for p, r in got.items()})

    async def _write(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not self.token or not hmac.compare_digest(given.encode(), self.token.encode()):
            return web.json_response({"ok": False, "message": "writes need a valid bearer token "
                                      "(Authorization: Bearer <token>)"}, status=401)
        tag = self.tags.get(path)
        if tag is None or not tag.writable:
            return web.json_response({"ok": False, "message": f"{path} is not a writable setpoint"}, status=403)
        try:
            body = await request.json()
            value = float(body["value"])
            if body.get("unit") and body["unit"] != tag.units:
                value = unit_converter(body["unit"], tag.units, path)(value)
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"ok": False, "message": f"expected {{value, unit}}: {exc}"}, status=400)
        applied = await self._hold.write(self.source, path, value)
        return web.json_response({"ok": True, "message": "written", "readback": applied})


def rest_adapter(tags: Iterable[Tag], settings: RestAdapter, *, audit=None, name: str = "rest", **kw):
    """An :class:`data_adapters.base.Adapter` over a :class:`RestBackend`."""
    from data_adapters.base import Adapter

    tags = list(tags)
    return Adapter(tags, RestBackend(tags, settings, **kw), audit=audit, name=name)


__all__ = ["RestBackend", "LineRestServer", "rest_adapter"]

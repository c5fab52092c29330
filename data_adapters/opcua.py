"""OPC UA client backend (asyncua): browse by ISA-95 path, read with engineering units, subscribe, write.

Tags are found by browsing from ``Objects`` along the ISA-95 path in the configured namespace
(``Objects/ns:plant1/ns:electrode/...``), so any server that lays out its address space that way works.
The unit of each tag is read from its ``EngineeringUnits`` property and values are converted to the
tag's configured units (an incompatible unit is a clear error). Writes use the node's own data type.

The backend reconnects by itself: a supervisor task notices a lost link (socket closed or keep-alive
probe failing), delivers a ``disconnected`` reading for every subscribed tag (the gap), retries every
``reconnect_s`` and, once the server is back, resolves the tags again and recreates the subscriptions.

Example
-------
>>> from workbench.config import load_line_config, default_config_path, OpcUaAdapter
>>> line = load_line_config(default_config_path())
>>> settings = OpcUaAdapter(kind="opcua", url="opc.tcp://127.0.0.1:4840/line-workbench/")
>>> backend = OpcUaBackend(line.station("welding").tags, settings)
>>> backend.connected
False
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd
from asyncua import Client, ua
from asyncua.common.subscription import DataChangeEvent, OverflowPolicy, StatusChangeEvent
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from workbench.config import OpcUaAdapter, Tag

from data_adapters.base import (BackendError, Quality, Reading, ReadingCallback, deliver_from,
                                 enqueue_latest, utcnow, wait_set)
from data_adapters.opcua_model import browse_path, quality_of, unit_converter, units_from_eu
from data_adapters.opcua_pki import certificate_uri

log = logging.getLogger(__name__)

# Errors that retrying will not fix: the server said no to who we are.
_REFUSALS = {
    "BadUserAccessDenied": "wrong username or password, or this user may not log in",
    "BadIdentityTokenRejected": "the server does not accept this kind of login on this endpoint",
    "BadIdentityTokenInvalid": "the login token was not valid",
    "BadCertificateUntrusted": "the server does not trust this client's certificate (add it to the server's trusted list)",
    "BadCertificateInvalid": "a certificate is invalid",
    "BadCertificateUriInvalid": "the client certificate's URI does not match the application URI",
    "BadCertificateTimeInvalid": "a certificate has expired or is not yet valid",
    "BadCertificateUseNotAllowed": "a certificate is not allowed for this use",
    "BadSecurityChecksFailed": "security checks failed (wrong server certificate pinned, or untrusted client)",
    "BadSecurityPolicyRejected": "the server does not offer this security policy",
    "BadSecurityModeRejected": "the server does not offer this security mode",
}


class OpcUaRefused(BackendError):
    """The server refused this client (credentials, certificates, security policy); retrying will not help."""


class OpcUaNoHistory(BackendError):
    """The server keeps no history for the tags asked for (their nodes do not historize)."""


_SAMPLE_QUALITIES = frozenset((Quality.GOOD, Quality.UNCERTAIN, Quality.STALE))


def _utc(t) -> pd.Timestamp:
    """A UTC ``pandas.Timestamp`` of anything it takes (naive = UTC)."""
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass
class _Sub:
    paths: list[str]
    on_reading: ReadingCallback
    ua_sub: Any = None
    pump: asyncio.Task | None = None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=10000))
    deliver_task: asyncio.Task | None = None


def _refusal(exc: BaseException) -> str | None:
    name = type(exc).__name__
    return _REFUSALS.get(name)


class OpcUaBackend:
    """Backend for tags on one OPC UA server. ``password`` defaults to the env var ``settings.password_env``."""

    def __init__(self, tags: Iterable[Tag], settings: OpcUaAdapter, *, password: str | None = None,
                 reconnect_s: float = 0.5, timeout_s: float = 4.0, watchdog_s: float = 5.0,
                 connect_timeout_s: float = 20.0, write_timeout_s: float = 10.0, history_batch: int = 100):
        self.tags = {t.path: t for t in tags}
        self.settings = settings
        self.url = settings.url
        # timeout_s bounds a read or write (the dashboard waits on it); connecting, browsing every tag and
        # creating subscriptions may take longer on a busy server: connect_timeout_s.
        self.reconnect_s, self.timeout_s, self.watchdog_s = reconnect_s, timeout_s, watchdog_s
        self.connect_timeout_s, self.write_timeout_s = connect_timeout_s, write_timeout_s
        if history_batch < 1:
            raise ValueError(f"{settings.url}: history_batch must be >= 1 node per HistoryRead, got {history_batch}")
        self.history_batch = history_batch  # nodes per HistoryRead request
        if settings.username and settings.security == "None":
            raise ValueError(f"{self.url}: username login needs security 'Basic256Sha256_SignAndEncrypt' "
                             "(a password is never sent over an unencrypted channel)")
        if settings.security != "None":
            missing = [k for k in ("certificate", "private_key", "server_certificate") if not getattr(settings, k)]
            if missing:
                raise ValueError(f"{self.url}: security {settings.security} needs {', '.join(missing)} in the "
                                 "adapter settings (server_certificate pins the server; see README 'Point it at a real line')")
        if password is None and settings.password_env:
            password = os.environ.get(settings.password_env)
            if password is None:
                raise ValueError(f"{self.url}: environment variable {settings.password_env} (password_env) is not set")
        self._password = password
        self._client: Client | None = None
        self._nodes: dict[str, Any] = {}
        self._ns: int | None = None
        self._vtypes: dict[str, ua.VariantType] = {}
        self._to_tag: dict[str, Any] = {}
        self._to_server: dict[str, Any] = {}
        self._subs: dict[int, _Sub] = {}
        self._next = 0
        self._connected = False
        self._closing = False
        self._lost = asyncio.Event()
        self._up = asyncio.Event()
        self._supervisor: asyncio.Task | None = None
        self.refusal: str | None = None
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._connected

    # --- connection ------------------------------------------------------------------------------
    async def _new_client(self) -> Client:
        s = self.settings
        client = Client(self.url, timeout=self.connect_timeout_s, watchdog_intervall=self.watchdog_s)
        client.session_timeout = 30_000
        client.name = client.description = "Line Workbench"
        if s.security != "None":
            client.application_uri = certificate_uri(s.certificate) or client.application_uri
            await client.set_security(SecurityPolicyBasic256Sha256, s.certificate, s.private_key,
                                      server_certificate=s.server_certificate,
                                      mode=ua.MessageSecurityMode.SignAndEncrypt)
        if s.username:
            client.set_user(s.username)
            client.set_password(self._password or "")
        return client

    async def _open(self) -> None:
        """Connect, find every tag, learn its units and data type, recreate subscriptions."""
        client = await self._new_client()
        try:
            await asyncio.wait_for(client.connect(), self.connect_timeout_s)
        except BaseException as exc:
            await self._quiet_disconnect(client)
            why = _refusal(exc)
            if why:
                who = f"user {self.settings.username!r}" if self.settings.username else "this client"
                raise OpcUaRefused(f"OPC UA server {self.url} refused {who}: {why} ({type(exc).__name__})") from None
            raise BackendError(f"cannot reach OPC UA server {self.url}: {type(exc).__name__}: {exc}") from None
        try:
            client.connection_lost_callback = self._on_lost
            await self._resolve(client)
        except (OpcUaRefused, ValueError):
            await self._quiet_disconnect(client)
            raise
        except (ua.UaError, ConnectionError, asyncio.TimeoutError) as exc:  # transient: the supervisor retries
            await self._quiet_disconnect(client)
            raise BackendError(f"browsing OPC UA server {self.url} failed: {type(exc).__name__}: {exc}") from None
        except BaseException:
            await self._quiet_disconnect(client)
            raise
        self._client = client
        self._lost.clear()
        for sub in self._subs.values():
            await self._start_ua_sub(sub)
        self._connected = True
        self._up.set()

    async def _resolve(self, client: Client) -> None:
        try:
            ns = await client.get_namespace_index(self.settings.namespace)
        except ValueError:
            raise OpcUaRefused(f"{self.url}: the server has no namespace {self.settings.namespace!r} "
                               "(set adapter.namespace to the server's namespace URI)") from None
        if self._nodes and ns == self._ns and await self._still_valid(client):
            self._nodes = {p: client.get_node(nd.nodeid) for p, nd in self._nodes.items()}
            return  # same server address space after a reconnect: skip browsing every tag again
        self._ns = ns
        paths = list(self.tags)
        rel = ["".join("/" + p for p in browse_path(path, ns)) for path in paths]
        rel += [r + ".0:EngineeringUnits" for r in rel]  # '.' follows Aggregates (HasProperty)
        objects = ua.NodeId(ua.ObjectIds.ObjectsFolder)
        results = await client.translate_browsepaths(objects, rel)
        n = len(paths)
        missing = [paths[i] for i in range(n) if not results[i].StatusCode.is_good()]
        if missing:
            raise OpcUaRefused(f"{self.url}: {len(missing)} tag(s) not found browsing from Objects in namespace "
                               f"{self.settings.namespace!r}, e.g. {missing[0]!r}; check the tag paths in the line config")
        nodes = [client.get_node(results[i].Targets[0].TargetId) for i in range(n)]
        eu_nodes = [(i, client.get_node(results[n + i].Targets[0].TargetId)) for i in range(n)
                    if results[n + i].StatusCode.is_good()]
        eus = await client.read_attributes([nd for _, nd in eu_nodes], ua.AttributeIds.Value) if eu_nodes else []
        dtypes = await client.read_attributes(nodes, ua.AttributeIds.DataType)
        server_units = {paths[i]: units_from_eu(dv.Value.Value) for (i, _), dv in zip(eu_nodes, eus)
                        if dv.Value is not None and dv.Value.Value is not None}
        for i, path in enumerate(paths):
            tag = self.tags[path]
            src = server_units.get(path, tag.units)  # no EngineeringUnits: trust the config
            self._to_tag[path] = unit_converter(src, tag.units, f"{self.url} {path}")
            self._to_server[path] = unit_converter(tag.units, src, f"{self.url} {path}")
            self._nodes[path] = nodes[i]
            dt = dtypes[i].Value.Value if dtypes[i].Value is not None else None
            try:
                self._vtypes[path] = ua.datatype_to_varianttype(dt) if dt is not None else ua.VariantType.Double
            except ValueError:
                self._vtypes[path] = ua.VariantType.Double

    async def _still_valid(self, client: Client) -> bool:
        """After a reconnect: do the node ids found before still name the same kind of nodes? (one request)"""
        dvs = await client.read_attributes([client.get_node(nd.nodeid) for nd in self._nodes.values()],
                                           ua.AttributeIds.DataType)
        for path, dv in zip(self._nodes, dvs):
            if not (dv.StatusCode is None or dv.StatusCode.is_good()) or dv.Value is None:
                return False
            try:
                if ua.datatype_to_varianttype(dv.Value.Value) != self._vtypes[path]:
                    return False
            except ValueError:
                return False
        return True

    async def _on_lost(self, exc: Exception) -> None:
        log.warning("OPC UA link to %s lost: %r", self.url, exc)
        self._lost.set()

    async def connect(self) -> None:
        """Connect now; raise :class:`OpcUaRefused` with the reason if the server refuses this client.

        An unreachable server does not raise: the supervisor keeps trying and reads say ``disconnected``.
        """
        self._closing = False
        if self._supervisor is not None and not self._supervisor.done():
            return
        try:
            await self._open()
        except OpcUaRefused as exc:
            self.refusal = str(exc)
            raise
        except BackendError as exc:
            log.warning("%s; will keep trying every %.1f s", exc, self.reconnect_s)
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name=f"opcua {self.url}")

    async def _supervise(self) -> None:
        while not self._closing:
            if self._connected:
                await self._lost.wait()
                if self._closing:
                    return
                await self._mark_gap()
                continue
            await asyncio.sleep(self.reconnect_s)
            try:
                await self._open()
                self.reconnects += 1
                log.info("OPC UA link to %s is back", self.url)
            except OpcUaRefused as exc:
                self.refusal = str(exc)
                log.error("%s", exc)
                await asyncio.sleep(5 * self.reconnect_s)
            except (BackendError, OSError, asyncio.TimeoutError, ua.UaError) as exc:
                log.debug("reconnect to %s failed: %s", self.url, exc)
            except Exception:
                log.exception("reconnect to %s failed unexpectedly", self.url)

    async def _mark_gap(self) -> None:
        """The link dropped: say so to every subscriber, drop the client, let the supervisor reconnect."""
        self._connected = False
        self._up.clear()
        client, self._client = self._client, None
        for sub in self._subs.values():
            if sub.pump is not None:
                sub.pump.cancel()
                sub.pump = None
            sub.ua_sub = None
            now = utcnow()
            for p in sub.paths:
                enqueue_latest(sub.queue, Reading(p, math.nan, self.tags[p].units, now, Quality.DISCONNECTED, now))
        if client is not None:
            await self._quiet_disconnect(client)

    @staticmethod
    async def _quiet_disconnect(client: Client) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), 2.0)
        except BaseException as exc:  # the link is already gone; nothing to tell anyone
            if isinstance(exc, asyncio.CancelledError) and asyncio.current_task().cancelling():
                raise
            log.debug("disconnect after loss: %r", exc)

    async def close(self) -> None:
        self._closing = True
        self._lost.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        for handle in list(self._subs):
            await self.unsubscribe(handle)
        self._connected = False
        client, self._client = self._client, None
        if client is not None:
            await self._quiet_disconnect(client)

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until the link is up (True) or ``timeout`` seconds pass (False)."""
        return await wait_set(self._up, timeout)

    # --- reading -----------------------------------------------------------------------------------
    def _reading(self, path: str, dv: ua.DataValue) -> Reading:
        now = utcnow()
        raw = dv.Value.Value if dv.Value is not None else None
        quality = quality_of(dv.StatusCode)
        try:
            value = self._to_tag[path](float(raw)) if raw is not None else math.nan
        except (TypeError, ValueError):
            value, quality = math.nan, Quality.BAD
        if math.isnan(value) and quality is Quality.GOOD:
            quality = Quality.BAD
        ts = dv.SourceTimestamp or dv.ServerTimestamp or now
        return Reading(path, value, self.tags[path].units, ts, quality, now)

    def _require(self) -> Client:
        if not self._connected or self._client is None:
            raise BackendError(self.refusal or f"not connected to OPC UA server {self.url}")
        return self._client

    async def read(self, paths: list[str]) -> dict[str, Reading]:
        client = self._require()
        nodes = [self._nodes[p] for p in paths]
        try:
            dvs = await asyncio.wait_for(client.read_attributes(nodes, ua.AttributeIds.Value), self.timeout_s)
        except (ua.UaError, ConnectionError, asyncio.TimeoutError) as exc:
            raise BackendError(f"read from {self.url} failed: {type(exc).__name__}: {exc}") from None
        return {p: self._reading(p, dv) for p, dv in zip(paths, dvs)}

    # --- history -----------------------------------------------------------------------------------
    async def history(self, paths: list[str], start, end) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Samples the server kept for ``paths`` in [start, end) via HistoryRead (raw, source timestamps).

        Returns ``{path: (times, values)}``: times ``datetime64[ns]`` (UTC), values float64 in the tag's
        configured units (converted like live reads); a sample whose status maps to bad or disconnected
        quality is NaN (a gap, not a value). ``history_batch`` nodes go in one request, and each node's
        continuation point is followed until the server has sent everything. ``start``/``end``: anything
        ``pandas.Timestamp`` takes (naive = UTC). Nodes that do not historize are left out.

        Raises :class:`OpcUaNoHistory` when none of the tags' nodes historizes (nothing to fill a gap
        from), BackendError when not connected or the request fails, ValueError for start >= end.

        >>> await backend.history([FROST], "2026-01-05T06:00Z", "2026-01-05T07:00Z")  # doctest: +SKIP
        {'plant1/dryroom/room1/hygrometer/frost_point_s1': (array([...], dtype='datetime64[ns]'), array([...]))}
        """
        client = self._require()
        t0, t1 = _utc(start), _utc(end)
        if not t0 < t1:
            raise ValueError(f"history: start {t0} must be before end {t1}")
        paths = list(paths)
        unknown = [p for p in paths if p not in self._nodes]
        if unknown:
            raise KeyError(f"{self.url}: history of unknown tag(s) {unknown[:3]}; see the line config")
        kept = [p for p, h in zip(paths, await self._historizing(client, paths)) if h]
        if paths and not kept:
            raise OpcUaNoHistory(f"OPC UA server {self.url} keeps no history for these {len(paths)} tag(s) "
                                 "(Historizing is false): the time nobody was subscribed cannot be filled")
        out = {}
        for i in range(0, len(kept), self.history_batch):
            out.update(await self._history_batch(client, kept[i:i + self.history_batch], t0, t1))
        return out

    async def _historizing(self, client: Client, paths: list[str]) -> list[bool]:
        try:
            dvs = await asyncio.wait_for(client.read_attributes([self._nodes[p] for p in paths],
                                                                ua.AttributeIds.Historizing), self.timeout_s)
        except (ua.UaError, ConnectionError, asyncio.TimeoutError) as exc:
            raise BackendError(f"reading Historizing from {self.url} failed: {type(exc).__name__}: {exc}") from None
        return [bool(dv.Value is not None and dv.Value.Value) for dv in dvs]

    async def _history_batch(self, client: Client, paths: list[str], t0, t1) -> dict:
        # OPC UA times are datetimes (us here): widen to whole microseconds, the exact window is applied below
        details = ua.ReadRawModifiedDetails(IsReadModified=False, StartTime=t0.floor("us").to_pydatetime(),
                                            EndTime=t1.ceil("us").to_pydatetime(), NumValuesPerNode=0,
                                            ReturnBounds=False)
        got: dict[str, list[ua.DataValue]] = {p: [] for p in paths}
        points: dict[str, bytes | None] = {p: None for p in paths}
        pending = list(paths)
        for _ in range(100_000):  # bounded: a round that returns no values ends that node's read
            params = ua.HistoryReadParameters(HistoryReadDetails=details,
                                              TimestampsToReturn=ua.TimestampsToReturn.Both,
                                              ReleaseContinuationPoints=False)
            params.NodesToRead = [ua.HistoryReadValueId(NodeId=self._nodes[p].nodeid, IndexRange="",
                                                        ContinuationPoint=points[p]) for p in pending]
            try:
                results = await asyncio.wait_for(client.uaclient.history_read(params), self.connect_timeout_s)
            except (ua.UaError, ConnectionError, asyncio.TimeoutError) as exc:
                raise BackendError(f"HistoryRead from {self.url} failed: {type(exc).__name__}: {exc}") from None
            again = []
            for p, res in zip(pending, results):
                if not res.StatusCode.is_good():
                    log.warning("%s: HistoryRead of %s answered %s; its gap stays", self.url, p, res.StatusCode.name)
                    continue
                values = list(getattr(res.HistoryData, "DataValues", None) or [])
                got[p] += values
                if res.ContinuationPoint and res.ContinuationPoint != points[p] and values:
                    points[p] = res.ContinuationPoint
                    again.append(p)
            if not again:
                break
            pending = again
        return {p: self._history_arrays(p, dvs, t0, t1) for p, dvs in got.items()}

    def _history_arrays(self, path: str, dvs: list[ua.DataValue], t0, t1) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = t0.value, t1.value
        times, values = [], []
        for dv in dvs:
            r = self._reading(path, dv)
            ns = _utc(r.source_time).value
            if lo <= ns < hi:  # servers treat EndTime as inclusive; the contract here is half-open
                times.append(ns)
                values.append(r.value if r.quality in _SAMPLE_QUALITIES else math.nan)
        t = np.array(times, dtype="int64")
        order = np.argsort(t, kind="stable")
        return t[order].astype("datetime64[ns]"), np.array(values, dtype=float)[order]

    # --- subscriptions -----------------------------------------------------------------------------
    async def _pump(self, sub: _Sub, ua_sub) -> None:
        paths = {nd.nodeid: p for p, nd in self._nodes.items()}
        async for ev in ua_sub:
            if isinstance(ev, DataChangeEvent):
                path = paths.get(ev.node.nodeid)
                if path is not None:
                    enqueue_latest(sub.queue, self._reading(path, ev.data.monitored_item.Value))
            elif isinstance(ev, StatusChangeEvent):
                log.warning("subscription status on %s: %s", self.url, ev.notification.Status)

    async def _start_ua_sub(self, sub: _Sub) -> None:
        client = self._client
        s = self.settings
        ua_sub = await client.create_subscription(s.publishing_interval_ms, None, queue_maxsize=s.queue_size,
                                                  overflow=OverflowPolicy.DROP_OLDEST)
        aiter(ua_sub)  # create the bounded queue before the first notification can arrive
        sub.pump = asyncio.get_running_loop().create_task(self._pump(sub, ua_sub))
        await ua_sub.create_monitored_items(_every_sample([self._nodes[p].nodeid for p in sub.paths]))
        sub.ua_sub = ua_sub

    async def subscribe(self, paths: list[str], on_reading: ReadingCallback) -> int:
        self._next += 1
        sub = _Sub(list(paths), on_reading, queue=asyncio.Queue(maxsize=self.settings.queue_size))
        sub.deliver_task = asyncio.get_running_loop().create_task(deliver_from(sub.queue, sub.on_reading))
        self._subs[self._next] = sub
        if self._connected:
            try:
                await self._start_ua_sub(sub)
            except (ua.UaError, ConnectionError, asyncio.TimeoutError) as exc:
                log.warning("subscribe on %s failed (%s); it will be made on reconnect", self.url, exc)
                self._lost.set()
        else:  # the gap starts now; values follow when the server is reachable
            now = utcnow()
            for p in sub.paths:
                enqueue_latest(sub.queue, Reading(p, math.nan, self.tags[p].units, now, Quality.DISCONNECTED, now))
        return self._next

    async def unsubscribe(self, handle: int) -> None:
        sub = self._subs.pop(handle, None)
        if sub is None:
            return
        for task in (sub.pump, sub.deliver_task):
            if task is not None:
                task.cancel()
        if sub.ua_sub is not None and self._connected:
            try:
                await asyncio.wait_for(sub.ua_sub.delete(), 2.0)
            except Exception as exc:
                log.debug("deleting subscription on %s: %r", self.url, exc)

    # --- writing -----------------------------------------------------------------------------------
    async def write(self, path: str, value: float) -> None:
        """Write ``value`` (tag units) with the node's variant type; server refusals raise BackendError."""
        client = self._require()
        vtype = self._vtypes[path]
        v = _as_node_type(path, self._to_server[path](value), vtype, value)
        try:
            await asyncio.wait_for(client.get_node(self._nodes[path].nodeid).write_value(
                ua.DataValue(ua.Variant(v, vtype))), self.write_timeout_s)
        except ua.UaStatusCodeError as exc:
            name = type(exc).__name__
            if name == "BadUserAccessDenied":
                raise BackendError(f"OPC UA server {self.url} refused the write ({name}): this session may not "
                                   "write setpoints; log in with a username over Basic256Sha256_SignAndEncrypt") from None
            raise BackendError(f"OPC UA server {self.url} refused the write to {path} ({name})") from None
        except (ConnectionError, asyncio.TimeoutError) as exc:
            raise BackendError(f"write to {self.url} failed: {type(exc).__name__}: {exc}") from None


_INT_RANGES = {
    ua.VariantType.SByte: (-2**7, 2**7 - 1), ua.VariantType.Byte: (0, 2**8 - 1),
    ua.VariantType.Int16: (-2**15, 2**15 - 1), ua.VariantType.UInt16: (0, 2**16 - 1),
    ua.VariantType.Int32: (-2**31, 2**31 - 1), ua.VariantType.UInt32: (0, 2**32 - 1),
    ua.VariantType.Int64: (-2**63, 2**63 - 1), ua.VariantType.UInt64: (0, 2**64 - 1),
}


def _as_node_type(path: str, v: float, vtype: ua.VariantType, asked: float):
    """``v`` (server units) as the Python value of the node's variant type, or BackendError saying why not.

    >>> _as_node_type("p", 7.0, ua.VariantType.Int32, 7.0), _as_node_type("p", 1.0, ua.VariantType.Boolean, 1.0)
    (7, True)
    """
    if vtype in _INT_RANGES:
        lo, hi = _INT_RANGES[vtype]
        if not math.isfinite(v) or v != round(v):
            raise BackendError(f"{path} is an integer ({vtype.name}) on the server; {asked:g} is not whole")
        if not lo <= round(v) <= hi:
            raise BackendError(f"{path} is {vtype.name} on the server ({lo}..{hi}); {asked:g} does not fit")
        return int(round(v))
    if vtype == ua.VariantType.Boolean:
        if v not in (0, 1):
            raise BackendError(f"{path} is Boolean on the server; write 0 or 1, not {asked:g}")
        return bool(v)
    if vtype in (ua.VariantType.Float, ua.VariantType.Double):
        return float(v)
    raise BackendError(f"{path} has data type {vtype.name} on the server; the adapter writes numbers only")


def opcua_adapter(tags: Iterable[Tag], settings: OpcUaAdapter, *, audit=None, name: str = "opcua", **kw):
    """An :class:`data_adapters.base.Adapter` over an :class:`OpcUaBackend`."""
    from data_adapters.base import Adapter

    tags = list(tags)
    return Adapter(tags, OpcUaBackend(tags, settings, **kw), audit=audit, name=name)


def _every_sample(nodeids: list) -> list:
    """Monitored-item requests that report every sample the station takes: trigger StatusValueTimestamp,
    not OPC UA's default StatusValue, which drops a sample whose value repeats the last one (a quantised
    signal repeats often: the trial's settled means and the history would silently lose those samples).
    Queue of 10 per item, sampled as the server writes (interval 0); client handles 1..n (one subscription
    per adapter subscription)."""
    out = []
    for handle, nodeid in enumerate(nodeids, start=1):
        params = ua.MonitoringParameters(ClientHandle=handle, SamplingInterval=0, QueueSize=10, DiscardOldest=True,
                                         Filter=ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp))
        out.append(ua.MonitoredItemCreateRequest(ItemToMonitor=ua.ReadValueId(NodeId=nodeid,
                                                                               AttributeId=ua.AttributeIds.Value),
                                                 MonitoringMode=ua.MonitoringMode.Reporting, RequestedParameters=params))
    return out


__all__ = ["OpcUaBackend", "OpcUaRefused", "OpcUaNoHistory", "opcua_adapter"]

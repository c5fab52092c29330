"""MQTT backend (paho-mqtt 2.x): topic = ISA-95 path, JSON payload ``{value, unit, ts, quality}``.

The backend holds one persistent session (MQTT 3.1.1, ``clean_session=False``, fixed client id) with
QoS 1 subscriptions to every tag topic, so messages the broker queued while this client was away are
delivered when it comes back. paho's network thread reconnects by itself; a dropped link is delivered
to subscribers as ``disconnected`` readings (the gap) and the subscriptions are renewed on reconnect.

Reads come from the last value received per tag (the line publishes retained messages, so a new client
has every tag at once). A write publishes ``{value, unit, id}`` (QoS 1) to ``<command_prefix>/<path>``
and waits for the station's acknowledgement on ``<ack_prefix>/<path>`` carrying ``ok``, ``message``
and the ``readback``.

Example
-------
>>> encode_reading(1.5, "degC", datetime(2026, 1, 5, 6, tzinfo=timezone.utc), "good")
b'{"value":1.5,"unit":"degC","ts":"2026-01-05T06:00:00+00:00","quality":"good"}'
>>> decode_payload(b'{"value": 2, "unit": "V", "ts": "2026-01-05T06:00:00Z"}')["value"]
2.0
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

import paho.mqtt.client as paho

from workbench.config import MqttAdapter, Tag

from data_adapters.base import (BackendError, Quality, Reading, ReadingCallback, deliver_from,
                                 enqueue_latest, utcnow, wait_set)
from data_adapters.mqtt_link import (BrokerLink, MqttRefused, MqttSettingsError, broker_address,  # noqa: F401
                                     broker_password, connack_refusal, tls_context, tls_refusal)
from data_adapters.opcua_model import unit_converter

log = logging.getLogger(__name__)


class PayloadError(ValueError):
    """An MQTT payload that is not ``{value, unit, ts, quality}`` JSON."""


def encode_reading(value: float, unit: str, ts: datetime, quality: str = "good") -> bytes:
    """The JSON payload of one value (``ts`` is ISO 8601 UTC; NaN is sent as null)."""
    v = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    return json.dumps({"value": v, "unit": unit, "ts": ts.astimezone(timezone.utc).isoformat(), "quality": quality},
                      separators=(",", ":")).encode()


def decode_payload(payload: bytes) -> dict:
    """Parse a tag payload; raises :class:`PayloadError` naming what is missing or wrong."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"payload is not JSON ({exc}); expected {{value, unit, ts, quality}}") from None
    if not isinstance(data, dict) or "value" not in data:
        raise PayloadError(f"payload {payload[:80]!r} has no 'value'; expected {{value, unit, ts, quality}}")
    return decode_fields(data)


def decode_fields(data: dict) -> dict:
    """Validate a parsed ``{value, unit, ts, quality}`` object: value float (NaN for null), ts aware, Quality."""
    if not isinstance(data, dict) or "value" not in data:
        raise PayloadError(f"expected an object {{value, unit, ts, quality}}, got {str(data)[:80]}")
    value = data["value"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise PayloadError(f"'value' must be a number or null, got {value!r}")
    ts = data.get("ts")
    try:
        t = datetime.fromisoformat(ts.replace("Z", "+00:00")) if ts else None
    except (AttributeError, ValueError):
        raise PayloadError(f"'ts' must be an ISO 8601 timestamp, got {ts!r}") from None
    if t is not None and t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    try:
        quality = Quality(data.get("quality", "good"))
    except ValueError:
        raise PayloadError(f"'quality' must be one of {[q.value for q in Quality]}, got {data.get('quality')!r}") from None
    return {"value": math.nan if value is None else float(value), "unit": data.get("unit"), "ts": t,
            "quality": quality}


@dataclass
class _Sub:
    paths: set[str]
    on_reading: ReadingCallback
    queue: asyncio.Queue
    task: asyncio.Task | None = None


@dataclass
class _Pending:
    future: asyncio.Future
    path: str = ""


class MqttBackend:
    """Backend for tags published on one MQTT broker. ``password`` defaults to env ``settings.password_env``.

    Login and TLS come from ``settings`` (see :class:`BrokerLink`); missing files or an unset password
    variable raise :class:`MqttSettingsError` here, a refused login or certificate raises
    :class:`MqttRefused` from :meth:`connect` (call :meth:`close` anyway: the link keeps retrying, backing off).
    """

    def __init__(self, tags: Iterable[Tag], settings: MqttAdapter, *, password: str | None = None,
                 reconnect_s: float = 0.25, timeout_s: float = 5.0, queue_size: int = 10000,
                 refused_backoff_s: tuple[float, float] = (2.0, 60.0)):
        self.tags = {t.path: t for t in tags}
        self.settings = settings
        self.timeout_s, self.queue_size = timeout_s, queue_size
        self.link = BrokerLink(settings, client_id=settings.client_id, clean_session=False, password=password,
                               reconnect_s=reconnect_s, refused_backoff_s=refused_backoff_s)
        self.link.on_refused = lambda why: self._post(self._refused_now, why)
        self._client = self.link.client
        self._client.max_inflight_messages_set(1000)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: deque = deque()
        self._drain_posted = False
        self._connected = False
        self._up: asyncio.Event | None = None
        self._answered: asyncio.Event | None = None  # the broker accepted or refused us
        self._cache: dict[str, Reading] = {}
        self._convert: dict[tuple[str, str], Any] = {}
        self._subs: dict[int, _Sub] = {}
        self._next = 0
        self._pending: dict[str, _Pending] = {}
        self._started = False
        self._closing = False
        self.reconnects = 0

    @property
    def where(self) -> str:
        return self.link.where

    @property
    def refusal(self) -> str | None:
        """Why the broker refused us last (login, certificate), until it accepts again; else None."""
        return self.link.refusal

    @property
    def connected(self) -> bool:
        return self._connected

    def _cmd_topic(self, path: str) -> str:
        return f"{self.settings.command_prefix}/{path}"

    def _ack_topic(self, path: str) -> str:
        return f"{self.settings.ack_prefix}/{path}"

    # --- paho thread callbacks (never touch asyncio objects directly) ------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not self.link.accepted(reason_code):
            return  # recorded and backed off by the link, which also tells _refused_now
        topics = [(p, self.settings.qos) for p in self.tags]
        topics += [(self._ack_topic(p), 1) for p, t in self.tags.items() if t.writable]
        client.subscribe(topics)
        self._post(self._up_now, bool(getattr(flags, "session_present", False)))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.link.lost()
        self._post(self._gap, str(reason_code))

    def _on_message(self, client, userdata, msg):
        # One loop wake-up per burst, not per message: at thousands of values/s the wake-ups dominate.
        self._inbox.append((msg.topic, msg.payload))
        if not self._drain_posted:
            self._drain_posted = True
            self._post(self._drain)

    def _post(self, fn, *args) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # loop closing: nobody left to tell
                pass

    # --- on the asyncio loop ----------------------------------------------------------------------
    def _drain(self) -> None:
        self._drain_posted = False  # before draining: a message appended from now on posts a new drain
        while self._inbox:
            self._received(*self._inbox.popleft())

    def _up_now(self, session_present: bool) -> None:
        if self._started:
            self.reconnects += 1
        self._started = True
        self._connected = True
        if self._up is not None:
            self._up.set()
        if self._answered is not None:
            self._answered.set()
        log.info("%s connected (session present: %s)", self.where, session_present)

    def _refused_now(self, why: str) -> None:
        if self._answered is not None:
            self._answered.set()
        self._gap(why)

    def _gap(self, why: str) -> None:
        was = self._connected
        self._connected = False
        if self._up is not None:
            self._up.clear()
        if not was or self._closing:
            return
        log.warning("%s link lost (%s); marking subscribed tags disconnected", self.where, why)
        now = utcnow()
        for sub in self._subs.values():
            for p in sub.paths:
                enqueue_latest(sub.queue, Reading(p, math.nan, self.tags[p].units, now, Quality.DISCONNECTED, now))
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(BackendError(f"{self.where} link lost before the acknowledgement"))

    def _received(self, topic: str, payload: bytes) -> None:
        if topic.startswith(self.settings.ack_prefix + "/"):
            self._ack(topic[len(self.settings.ack_prefix) + 1:], payload)
            return
        tag = self.tags.get(topic)
        if tag is None:
            return
        try:
            data = decode_payload(payload)
            value = self._to_tag_units(tag, data["value"], data["unit"])
        except ValueError as exc:
            log.warning("%s %s: %s", self.where, topic, exc)
            now = utcnow()
            self._store(Reading(topic, math.nan, tag.units, now, Quality.BAD, now))
            return
        now = utcnow()
        quality = data["quality"] if math.isfinite(value) or data["quality"] is not Quality.GOOD else Quality.BAD
        self._store(Reading(topic, value, tag.units, data["ts"] or now, quality, now))

    def _to_tag_units(self, tag: Tag, value: float, unit: str | None) -> float:
        if not unit or unit == tag.units:
            return value
        key = (unit, tag.units)
        if key not in self._convert:
            self._convert[key] = unit_converter(unit, tag.units, f"{self.where} {tag.path}")
        return self._convert[key](value)

    def _store(self, r: Reading) -> None:
        self._cache[r.path] = r
        for sub in self._subs.values():
            if r.path in sub.paths:
                enqueue_latest(sub.queue, r)

    def _ack(self, path: str, payload: bytes) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            log.warning("%s: unreadable acknowledgement on %s", self.where, path)
            return
        pending = self._pending.get(str(data.get("id")))
        if pending is not None and not pending.future.done():
            pending.future.set_result(data)

    # --- Backend protocol -----------------------------------------------------------------------
    async def connect(self) -> None:
        """Start the session; waits (bounded) for the broker and the retained values.

        An absent broker does not raise (paho keeps trying); a refusal raises :class:`MqttRefused`.
        """
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._up, self._answered = asyncio.Event(), asyncio.Event()
        self._client.connect_async(self.settings.host, self.settings.port, keepalive=5)
        self._client.loop_start()
        try:
            await asyncio.wait_for(self._answered.wait(), self.timeout_s)
        except asyncio.TimeoutError:
            log.warning("%s not reachable yet%s; paho keeps trying", self.where, self.link.unreachable_hint())
            return
        if not self._connected:
            raise MqttRefused(self.refusal or f"{self.where} refused the connection")
        await self._first_values(min(2.0, self.timeout_s))

    async def _first_values(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._cache) < len(self.tags) and loop.time() < deadline:
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        for handle in list(self._subs):
            await self.unsubscribe(handle)
        self._closing = True
        self._client.disconnect()  # clean_session=False: the broker keeps our session and queues for us
        await asyncio.to_thread(self._client.loop_stop)
        self._connected = False

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until the link is up (True) or ``timeout`` seconds pass (False)."""
        return await wait_set(self._up, timeout)

    async def read(self, paths: list[str]) -> dict[str, Reading]:
        if not self._connected:
            raise BackendError(self.refusal or f"not connected to {self.where}")
        return {p: self._cache[p] for p in paths if p in self._cache}

    async def subscribe(self, paths: list[str], on_reading: ReadingCallback) -> int:
        self._next += 1
        sub = _Sub(set(paths), on_reading, asyncio.Queue(maxsize=self.queue_size))
        sub.task = asyncio.get_running_loop().create_task(deliver_from(sub.queue, sub.on_reading))
        self._subs[self._next] = sub
        now = utcnow()
        for p in paths:  # the present first: last value, or the gap if there is none yet
            enqueue_latest(sub.queue, self._cache.get(p) if self._connected and p in self._cache else
                          Reading(p, math.nan, self.tags[p].units, now, Quality.DISCONNECTED, now))
        return self._next

    async def unsubscribe(self, handle: int) -> None:
        sub = self._subs.pop(handle, None)
        if sub is not None and sub.task is not None:
            sub.task.cancel()

    async def write(self, path: str, value: float) -> None:
        """Publish a command and wait for the station's acknowledgement; a refusal raises BackendError."""
        if not self._connected:
            raise BackendError(self.refusal or f"not connected to {self.where}")
        tag = self.tags[path]
        cmd_id = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        self._pending[cmd_id] = _Pending(fut, path)
        try:
            body = json.dumps({"id": cmd_id, "value": value, "unit": tag.units, "ts": utcnow().isoformat()})
            info = self._client.publish(self._cmd_topic(path), body, qos=1)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise BackendError(f"{self.where}: publishing the command failed ({paho.error_string(info.rc)})")
            try:
                ack = await asyncio.wait_for(fut, self.timeout_s)
            except asyncio.TimeoutError:
                user = self.settings.username
                acl = (f", and may user {user!r} publish there and read {self._ack_topic(path)} (the broker's ACL "
                       "drops what it forbids without telling us)?" if user else "?")
                raise BackendError(f"{self.where}: no acknowledgement for {path} within {self.timeout_s:g} s: is the "
                                   f"station listening on {self._cmd_topic(path)}{acl}") from None
        finally:
            self._pending.pop(cmd_id, None)
        if not ack.get("ok"):
            raise BackendError(f"station refused the write to {path}: {ack.get('message', 'no reason given')}")
        rb = ack.get("readback")
        if rb is not None:  # the station's own readback, so the adapter's readback check sees it now
            now = utcnow()
            self._store(Reading(path, float(rb), tag.units, now, Quality.GOOD, now))


def mqtt_adapter(tags: Iterable[Tag], settings: MqttAdapter, *, audit=None, name: str = "mqtt", **kw):
    """An :class:`data_adapters.base.Adapter` over an :class:`MqttBackend`."""
    from data_adapters.base import Adapter

    tags = list(tags)
    return Adapter(tags, MqttBackend(tags, settings, **kw), audit=audit, name=name)


__all__ = ["MqttBackend", "mqtt_adapter", "encode_reading", "decode_payload", "decode_fields", "PayloadError",
           "BrokerLink", "MqttRefused", "MqttSettingsError", "tls_context", "broker_password", "broker_address",
           "connack_refusal", "tls_refusal"]

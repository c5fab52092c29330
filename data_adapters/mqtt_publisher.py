"""Publish a line (any backend, e.g. the virtual line) to an MQTT broker and execute its write commands.

Every tag is published, retained, QoS 1, on its ISA-95 path with ``{value, unit, ts, quality}``. Commands
arrive on ``<command_prefix>/<path>`` as ``{id, value, unit, ts}``; the publisher writes the setpoint to the
line (only tags declared writable; commands older than ``max_command_age_s`` are refused, so a command
queued while the station was away is never executed late) and acknowledges on ``<ack_prefix>/<path>`` with
``{id, ok, message, readback}``, the readback being the setpoint as the line applied it (held against
samples the line took before the write, see :mod:`data_adapters.readback`).

A secured broker: pass ``settings`` (an :class:`workbench.config.MqttAdapter`, the same login/TLS keys the
workbench uses: ``username``/``password_env``, ``tls``, ``ca_file``, ``certfile``/``keyfile``); its host,
port, qos and topic prefixes are used too, its ``client_id`` is not (the publisher keeps its own, so it never
takes over a workbench's persistent session). :meth:`LineMqttPublisher.start` raises
:class:`data_adapters.mqtt_link.MqttRefused` when the broker refuses the login or its certificate fails the check.

Example
-------
>>> import asyncio
>>> from workbench.config import load_line_config, default_config_path
>>> from data_adapters.sim import SimBackend
>>> line = load_line_config(default_config_path())
>>> pub = LineMqttPublisher(line.tags.values(), SimBackend(line), port=1883)
>>> pub.topic_of("plant1/dryroom/room1/hygrometer/frost_point_s1")
'plant1/dryroom/room1/hygrometer/frost_point_s1'
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from datetime import datetime, timezone
from typing import Iterable

from workbench.config import MqttAdapter, Tag

from data_adapters.base import Backend, Reading, utcnow
from data_adapters.mqtt import encode_reading
from data_adapters.mqtt_link import BrokerLink, MqttRefused
from data_adapters.opcua_model import unit_converter
from data_adapters.readback import WriteHold

log = logging.getLogger(__name__)


class LineMqttPublisher:
    """Mirror ``source`` to the broker at ``host:port``; see the module docstring."""

    def __init__(self, tags: Iterable[Tag], source: Backend, *, host: str = "127.0.0.1", port: int = 1883,
                 client_id: str = "line-workbench-station", qos: int = 1, command_prefix: str = "cmd",
                 ack_prefix: str = "ack", retain: bool = True, max_command_age_s: float = 10.0,
                 close_source: bool = False, username: str | None = None, password: str | None = None,
                 settings: MqttAdapter | None = None, connect_timeout_s: float = 5.0):
        if settings is None:
            settings = MqttAdapter(kind="mqtt", host=host, port=port, username=username, qos=qos,
                                   command_prefix=command_prefix, ack_prefix=ack_prefix)
        self.tags = {t.path: t for t in tags}
        self.source = source
        self.settings = settings
        self.host, self.port, self.qos, self.retain = settings.host, settings.port, settings.qos, retain
        self.command_prefix, self.ack_prefix = settings.command_prefix, settings.ack_prefix
        self.max_command_age_s, self.close_source = max_command_age_s, close_source
        self.connect_timeout_s = connect_timeout_s
        self._hold = WriteHold()
        self.link = BrokerLink(settings, client_id=client_id, clean_session=True, password=password)
        self.link.on_refused = lambda why: self._post(self._answer)
        self._client = self.link.client
        self._client.max_inflight_messages_set(1000)
        self._answered: asyncio.Event | None = None
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda client, userdata, flags, rc, props: self.link.lost()
        self._client.on_message = self._on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sub = None
        self.published = 0
        self.commands = 0

    def topic_of(self, path: str) -> str:
        return path

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if self.link.accepted(reason_code):
            client.subscribe(f"{self.command_prefix}/#", qos=1)
            self._post(self._answer)

    def _post(self, fn) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn)
            except RuntimeError:  # loop closing
                pass

    def _answer(self) -> None:
        if self._answered is not None:
            self._answered.set()

    def _on_message(self, client, userdata, msg):
        loop = self._loop
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._command(msg.topic, msg.payload), loop)

    async def start(self) -> None:
        """Connect (waiting up to ``connect_timeout_s`` for the broker's answer) and publish every tag.

        An absent broker is not an error (paho keeps trying and queues); a refusal raises
        :class:`data_adapters.mqtt_link.MqttRefused` and stops the client.
        """
        self._loop = asyncio.get_running_loop()
        self._answered = asyncio.Event()
        self._client.connect_async(self.host, self.port, keepalive=5)
        self._client.loop_start()
        try:
            await asyncio.wait_for(self._answered.wait(), self.connect_timeout_s)
        except asyncio.TimeoutError:
            log.warning("%s not reachable yet%s; publishing as soon as it is", self.link.where,
                        self.link.unreachable_hint())
        if self.link.refusal is not None:
            self._client.disconnect()
            await asyncio.to_thread(self._client.loop_stop)
            raise MqttRefused(self.link.refusal)
        if not self.source.connected:
            await self.source.connect()
        for r in (await self.source.read(list(self.tags))).values():
            self.publish(r)
        self._sub = await self.source.subscribe(list(self.tags), self._on_reading)

    async def stop(self) -> None:
        if self._sub is not None:
            await self.source.unsubscribe(self._sub)
            self._sub = None
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        if self.close_source:
            await self.source.close()

    async def __aenter__(self) -> "LineMqttPublisher":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def publish(self, r: Reading) -> None:
        """Publish one reading (retained, QoS ``qos``); paho queues it while the broker is away."""
        self._client.publish(self.topic_of(r.path), encode_reading(r.value, r.units, r.source_time, r.quality.value),
                             qos=self.qos, retain=self.retain)
        self.published += 1

    async def _on_reading(self, r: Reading) -> None:
        self.publish(self._hold.view(r))

    def _ack(self, path: str, cmd_id, ok: bool, message: str, readback: float | None = None) -> None:
        body = {"id": cmd_id, "ok": ok, "message": message,
                "readback": None if readback is None or math.isnan(readback) else readback}
        self._client.publish(f"{self.ack_prefix}/{path}", json.dumps(body), qos=1)

    async def _command(self, topic: str, payload: bytes) -> None:
        path = topic[len(self.command_prefix) + 1:]
        self.commands += 1
        try:
            cmd = json.loads(payload)
            cmd_id, value = cmd["id"], float(cmd["value"])
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable command on %s: %r", topic, payload[:100])
            return
        tag = self.tags.get(path)
        if tag is None or not tag.writable:
            return self._ack(path, cmd_id, False, f"{path} is not a writable setpoint of this station")
        try:
            sent = datetime.fromisoformat(cmd["ts"]) if cmd.get("ts") else None
        except ValueError:
            sent = None
        if sent is None or (utcnow() - sent.astimezone(timezone.utc)).total_seconds() > self.max_command_age_s:
            return self._ack(path, cmd_id, False, f"command without a timestamp or older than "
                                                  f"{self.max_command_age_s:g} s; not executed")
        try:
            if cmd.get("unit") and cmd["unit"] != tag.units:
                value = unit_converter(cmd["unit"], tag.units, path)(value)
            rb = await self._hold.write(self.source, path, value)
        except Exception as exc:
            log.warning("write %s = %s failed: %s", path, value, exc)
            return self._ack(path, cmd_id, False, f"{type(exc).__name__}: {exc}")
        self._ack(path, cmd_id, True, "written", rb)


__all__ = ["LineMqttPublisher"]

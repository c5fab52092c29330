"""Publish a line (any backend, e.g. the virtual line) to an MQTT broker and execute its write commands.

Every tag is published, retained, QoS 1, on its ISA-95 path with ``{value, unit, ts, quality}``. Commands
arrive on ``<command_prefix>/<path>`` as ``{id, value, unit, ts}``; the publisher writes the setpoint to the
line (only tags declared writable; commands older than ``max_command_age_s`` are refused, so a command
queued while the station was away is never executed late) and acknowledges on ``<ack_prefix>/<path>`` with
``{id, ok, message, readback}``, the readback being the setpoint as the line applied it (held against
samples the line took before the write, see :mod:`data_adapters.readback`).

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

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from workbench.config import Tag

from data_adapters.base import Backend, Reading, utcnow
from data_adapters.mqtt import encode_reading
from data_adapters.opcua_model import unit_converter
from data_adapters.readback import WriteHold

log = logging.getLogger(__name__)


class LineMqttPublisher:
    """Mirror ``source`` to the broker at ``host:port``; see the module docstring."""

    def __init__(self, tags: Iterable[Tag], source: Backend, *, host: str = "127.0.0.1", port: int = 1883,
                 client_id: str = "line-workbench-station", qos: int = 1, command_prefix: str = "cmd",
                 ack_prefix: str = "ack", retain: bool = True, max_command_age_s: float = 10.0,
                 close_source: bool = False, username: str | None = None, password: str | None = None):
        self.tags = {t.path: t for t in tags}
        self.source = source
        self.host, self.port, self.qos, self.retain = host, port, qos, retain
        self.command_prefix, self.ack_prefix = command_prefix, ack_prefix
        self.max_command_age_s, self.close_source = max_command_age_s, close_source
        self._hold = WriteHold()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if username:
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(0.25, 1.0)
        self._client.max_inflight_messages_set(1000)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sub = None
        self.published = 0
        self.commands = 0

    def topic_of(self, path: str) -> str:
        return path

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe(f"{self.command_prefix}/#", qos=1)

    def _on_message(self, client, userdata, msg):
        loop = self._loop
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._command(msg.topic, msg.payload), loop)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if not self.source.connected:
            await self.source.connect()
        self._client.connect_async(self.host, self.port, keepalive=5)
        self._client.loop_start()
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

"""The MQTT adapter against a real mosquitto broker on 127.0.0.1, with the virtual line published to it."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timezone

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from data_adapters.audit import AuditLog, verify
from data_adapters.base import Adapter, ArmedSession, Quality, WriteRefused
from data_adapters.mqtt import MqttBackend, PayloadError, decode_payload, encode_reading
from workbench.config import Setpoint, Tag

LASER = "plant1/assembly/weld1/welder/laser_power_setpoint"
LASER_PV = "plant1/assembly/weld1/welder/laser_power"
FROST = "plant1/dryroom/room1/hygrometer/frost_point_s1"
AREAL = "plant1/electrode/coat1/gauge/areal_mass_lane05"
PROBE = "plant1/test/bench1/probe/counter"  # published only by the tests, never by the line


def _adapter(mqtt_line, tags, client_id, audit=None):
    tags = list(tags)
    return Adapter(tags, MqttBackend(tags, mqtt_line.settings(client_id)), audit=audit, name="mqtt-test")


async def _collect(queue: asyncio.Queue, until, timeout: float):
    got, deadline = [], time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"condition not met within {timeout} s; last readings: {got[-3:]}")
        try:
            r = await asyncio.wait_for(queue.get(), left)
        except asyncio.TimeoutError:
            continue
        got.append(r)
        if until(r):
            return got


def test_a_missing_broker_binary_fails_the_run_instead_of_skipping(tmp_path):
    from fixtures_servers import Mosquitto

    with pytest.raises(pytest.fail.Exception, match="mosquitto broker not found at /nonexistent/mosquitto-x"):
        Mosquitto(tmp_path, binary="/nonexistent/mosquitto-x")


def test_payload_round_trip_and_clear_errors():
    ts = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)
    d = decode_payload(encode_reading(-61.25, "degC", ts, "uncertain"))
    assert d == {"value": -61.25, "unit": "degC", "ts": ts, "quality": Quality.UNCERTAIN}
    assert math.isnan(decode_payload(encode_reading(float("nan"), "V", ts))["value"])
    with pytest.raises(PayloadError, match="not JSON"):
        decode_payload(b"{value: 3.2")
    with pytest.raises(PayloadError, match="has no 'value'"):
        decode_payload(b"3.2")
    with pytest.raises(PayloadError, match="'value' must be a number"):
        decode_payload(b'{"value": "high"}')
    with pytest.raises(PayloadError, match="'quality' must be one of"):
        decode_payload(b'{"value": 1, "quality": "fine"}')


async def test_read_with_units_from_retained_values(mqtt_line, line_config):
    tags = [line_config.tag(p) for p in (FROST, AREAL, LASER)]
    async with _adapter(mqtt_line, tags, "wb-read") as adapter:
        got = await adapter.read([FROST, AREAL, LASER])
    assert [got[p].units for p in (FROST, AREAL, LASER)] == ["degC", "mg/cm^2", "W"]
    assert all(r.quality is Quality.GOOD for r in got.values()), got
    assert 1800 <= got[LASER].value <= 3200


async def test_payload_units_are_converted_to_the_tags_units(mqtt_line, line_config):
    async with _adapter(mqtt_line, [Tag(path=FROST, units="K")], "wb-kelvin") as kelvin, \
            _adapter(mqtt_line, [line_config.tag(FROST)], "wb-celsius") as celsius:
        k, c = (await kelvin.read([FROST]))[FROST], (await celsius.read([FROST]))[FROST]
    assert k.units == "K" and k.value == pytest.approx(c.value + 273.15, abs=0.5)


async def test_subscribe_delivers_new_values(mqtt_line, line_config):
    queue: asyncio.Queue = asyncio.Queue()
    times: set = set()

    def three_new_values(r):
        times.add(r.source_time)
        return len(times) >= 3
    async with _adapter(mqtt_line, [line_config.tag(LASER_PV)], "wb-sub") as adapter:
        await adapter.subscribe([LASER_PV], queue.put_nowait)
        got = await _collect(queue, three_new_values, 10.0)
    assert all(r.units == "W" and r.quality is Quality.GOOD for r in got)
    assert [r.source_time for r in got] == sorted(r.source_time for r in got)


async def test_guarded_write_with_ack_and_readback(mqtt_line, line_config, tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite")
    session = ArmedSession.for_minutes("ben", "weld power trial", 5)
    async with _adapter(mqtt_line, [line_config.tag(LASER)], "wb-write", audit) as adapter:
        before = (await adapter.read([LASER]))[LASER].value
        res = await adapter.write(LASER, before - 40, session=session)
        with pytest.raises(WriteRefused, match="not armed"):
            await adapter.write(LASER, before - 60, session=None)
    assert res.accepted and res.readback == pytest.approx(before - 40) and res.message == "written; readback matches"
    assert [e["result"] for e in audit.entries()] == ["written", "refused"]
    assert verify(audit.path).ok


async def test_station_refusal_is_a_failed_write_in_the_audit(mqtt_line, line_config, tmp_path):
    """The client config calls the process value writable; the station does not: refused, audited."""
    pv = Tag(path=LASER_PV, units="W", setpoint=Setpoint(writable=True, min=1800, max=3200, max_step=100, max_rate=50))
    audit = AuditLog(tmp_path / "audit.sqlite")
    async with _adapter(mqtt_line, [pv], "wb-refused", audit) as adapter:
        current = (await adapter.read([LASER_PV]))[LASER_PV].value
        with pytest.raises(WriteRefused, match="station refused the write.*not a writable setpoint"):
            await adapter.write(LASER_PV, current + 5, session=ArmedSession.for_minutes("ben", "t", 5))
    [entry] = audit.entries()
    assert entry["result"] == "failed" and "not a writable setpoint of this station" in entry["message"]


def _publish_probe(broker, values):
    """Publish values on the probe topic with QoS 1 from a separate client; wait for every PUBACK."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="probe-publisher")
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        infos = [c.publish(PROBE, encode_reading(v, "dimensionless", datetime.now(timezone.utc)), qos=1)
                 for v in values]
        for info in infos:
            info.wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


async def test_short_disconnect_loses_nothing_the_broker_kept(mqtt_line):
    probe = Tag(path=PROBE, units="dimensionless")
    first = _adapter(mqtt_line, [probe], "wb-persistent")
    await first.connect()
    assert first.connected
    await first.close()  # away for a moment; the broker keeps the session and queues QoS 1 messages
    await asyncio.to_thread(_publish_probe, mqtt_line.broker, [float(i) for i in range(25)])
    queue: asyncio.Queue = asyncio.Queue()
    again = _adapter(mqtt_line, [probe], "wb-persistent")

    async def on_reading(r):
        await queue.put(r)
    # subscribe before connect so nothing delivered during the connect is missed
    await again.subscribe([PROBE], on_reading)
    await again.connect()
    try:
        got = await _collect(queue, lambda r: r.value == 24.0, 10.0)
    finally:
        await again.close()
    values = [r.value for r in got if r.quality is Quality.GOOD]
    assert values[-25:] == [float(i) for i in range(25)]


async def test_queued_messages_survive_a_broker_restart(mqtt_line):
    """Persistence on: what the broker queued for an absent client is still delivered after it restarts."""
    probe = Tag(path=PROBE, units="dimensionless")
    first = _adapter(mqtt_line, [probe], "wb-persist-restart")
    await first.connect()
    await first.close()
    await asyncio.to_thread(_publish_probe, mqtt_line.broker, [100.0 + i for i in range(10)])
    await asyncio.to_thread(mqtt_line.broker.stop)
    await asyncio.to_thread(mqtt_line.broker.start)
    queue: asyncio.Queue = asyncio.Queue()
    again = _adapter(mqtt_line, [probe], "wb-persist-restart")
    await again.subscribe([PROBE], queue.put_nowait)
    await again.connect()
    try:
        got = await _collect(queue, lambda r: r.value == 109.0, 10.0)
    finally:
        await again.close()
    assert [r.value for r in got if r.quality is Quality.GOOD][-10:] == [100.0 + i for i in range(10)]


async def test_broker_restart_mid_subscription_is_flagged_and_recovered(mqtt_line, line_config):
    queue: asyncio.Queue = asyncio.Queue()
    adapter = _adapter(mqtt_line, [line_config.tag(LASER_PV)], "wb-restart")
    await adapter.connect()
    try:
        await adapter.subscribe([LASER_PV], queue.put_nowait)
        await _collect(queue, lambda r: r.quality is Quality.GOOD, 10.0)
        await asyncio.to_thread(mqtt_line.broker.stop)
        gap = await _collect(queue, lambda r: r.quality is Quality.DISCONNECTED, 10.0)
        assert math.isnan(gap[-1].value) and not adapter.connected
        await asyncio.to_thread(mqtt_line.broker.start)
        back_at = time.monotonic()
        t_back = datetime.now(timezone.utc)
        await _collect(queue, lambda r: r.quality is Quality.GOOD and r.source_time > t_back, 10.0)
        took = time.monotonic() - back_at
        assert took < 5.0, f"took {took:.1f} s after the broker came back"
        assert adapter.connected and adapter.backend.reconnects >= 1
    finally:
        await adapter.close()

"""The MQTT adapter against a real mosquitto broker on 127.0.0.1, with the virtual line published to it."""

from __future__ import annotations

import asyncio
import doctest
import logging
import math
import re
import signal
import subprocess
import time
from datetime import datetime, timezone

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import data_adapters.mqtt as mqtt_module
import data_adapters.mqtt_publisher as mqtt_publisher_module
from data_adapters.audit import AuditLog, verify
from data_adapters.base import Adapter, ArmedSession, Quality, WriteRefused
from data_adapters.mqtt import (MqttBackend, MqttRefused, MqttSettingsError, PayloadError, decode_payload,
                                encode_reading)
from data_adapters.mqtt_publisher import LineMqttPublisher
from workbench.config import MqttAdapter, Setpoint, Tag

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


def _publish_probe(broker, values, tls=False):
    """Publish values on the probe topic with QoS 1 from a separate client; wait for every PUBACK.
    ``tls``: to the secured broker's TLS listener, as user 'station'."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="probe-publisher")
    port = broker.port
    if tls:
        c.username_pw_set("station", broker.users["station"])
        c.tls_set(ca_certs=str(broker.pki.ca))
        port = broker.tls_port
    c.connect(broker.host, port)
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


# --- security: login, TLS with a private CA, client certificates ---------------------------------------
def _secure_adapter(line, client_id, audit=None, tags=None, password=None, **kw):
    tags = list(tags or [])
    return Adapter(tags, MqttBackend(tags, line.settings(client_id, **kw), password=password), audit=audit,
                   name="mqtt-secure-test")


def test_contradictory_security_keys_fail_when_the_config_loads():
    with pytest.raises(ValueError, match="ca_file only apply to TLS: set tls: true"):
        MqttAdapter(kind="mqtt", ca_file="site-ca.pem")
    with pytest.raises(ValueError, match="tls_insecure only apply to TLS"):
        MqttAdapter(kind="mqtt", tls_insecure=True)
    with pytest.raises(ValueError, match="keyfile needs certfile"):
        MqttAdapter(kind="mqtt", tls=True, keyfile="client.key")
    with pytest.raises(ValueError, match="password_env needs username"):
        MqttAdapter(kind="mqtt", password_env="MQTT_PW")
    ok = MqttAdapter(kind="mqtt", tls=True, ca_file="site-ca.pem", username="u", password_env="MQTT_PW")
    assert ok.tls_insecure is False  # host names are checked unless a config says otherwise


def test_missing_or_unusable_files_and_unset_password_name_the_key_and_path(tmp_path, monkeypatch,
                                                                              secure_mosquitto):
    pki = secure_mosquitto.pki
    missing = tmp_path / "nowhere" / "ca.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")

    def settings(**kw):
        return MqttAdapter(kind="mqtt", port=8883, tls=True, **kw)
    with pytest.raises(MqttSettingsError, match=f"mqtts://127.0.0.1:8883: ca_file {missing} does not exist"):
        MqttBackend([], settings(ca_file=str(missing)))
    with pytest.raises(MqttSettingsError, match=f"ca_file {tmp_path} does not exist or is not a file"):
        MqttBackend([], settings(ca_file=str(tmp_path)))
    with pytest.raises(MqttSettingsError, match=f"ca_file {garbage} holds no usable PEM CA certificate"):
        MqttBackend([], settings(ca_file=str(garbage)))
    with pytest.raises(MqttSettingsError, match=f"keyfile {tmp_path / 'client.key'} does not exist"):
        MqttBackend([], settings(ca_file=str(pki.ca), certfile=str(pki.client_cert), keyfile=str(tmp_path / "client.key")))
    with pytest.raises(MqttSettingsError, match="certfile .*client.pem / keyfile .*server.key are not a usable"):
        MqttBackend([], settings(ca_file=str(pki.ca), certfile=str(pki.client_cert), keyfile=str(pki.server_key)))
    monkeypatch.delenv("WB_TEST_MQTT_PW_UNSET", raising=False)
    with pytest.raises(MqttSettingsError, match="environment variable WB_TEST_MQTT_PW_UNSET \\(password_env\\) is not "
                                                "set; export it with the password of user 'engineer'"):
        MqttBackend([], settings(username="engineer", password_env="WB_TEST_MQTT_PW_UNSET"))
    with pytest.raises(MqttSettingsError, match="environment variable WB_TEST_MQTT_PW_UNSET"):
        LineMqttPublisher([], None, settings=settings(username="station", password_env="WB_TEST_MQTT_PW_UNSET"))


async def test_read_and_subscribe_over_tls_with_a_login(secure_mqtt_line, line_config, monkeypatch):
    """The line is published over TLS by user 'station'; the workbench reads it as 'engineer' (password from env)."""
    monkeypatch.setenv("WB_TEST_MQTT_PW", secure_mqtt_line.broker.users["engineer"])
    tags = [line_config.tag(p) for p in (FROST, LASER, LASER_PV)]
    queue: asyncio.Queue = asyncio.Queue()
    times: set = set()

    def two_new_values(r):
        if r.quality is Quality.GOOD:
            times.add(r.source_time)
        return len(times) >= 3
    async with _secure_adapter(secure_mqtt_line, "wb-tls-read", tags=tags, password_env="WB_TEST_MQTT_PW") as adapter:
        assert adapter.backend.where == f"mqtts://127.0.0.1:{secure_mqtt_line.broker.tls_port}"
        got = await adapter.read([FROST, LASER])
        await adapter.subscribe([LASER_PV], queue.put_nowait)
        await _collect(queue, two_new_values, 10.0)
    assert [got[p].units for p in (FROST, LASER)] == ["degC", "W"]
    assert all(r.quality is Quality.GOOD for r in got.values()), got
    assert -80 < got[FROST].value < -20 and 1800 <= got[LASER].value <= 3200


async def test_guarded_write_over_tls_with_ack_and_readback(secure_mqtt_line, line_config, tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite")
    session = ArmedSession.for_minutes("ben", "weld power trial over TLS", 5)
    password = secure_mqtt_line.broker.users["engineer"]
    async with _secure_adapter(secure_mqtt_line, "wb-tls-write", audit, [line_config.tag(LASER)], password) as adapter:
        before = (await adapter.read([LASER]))[LASER].value
        res = await adapter.write(LASER, before + 30, session=session)
        after = (await adapter.read([LASER]))[LASER].value
    assert res.accepted and res.readback == pytest.approx(before + 30) and res.message == "written; readback matches"
    assert after == pytest.approx(before + 30)
    assert [e["result"] for e in audit.entries()] == ["written"] and verify(audit.path).ok


@pytest.mark.parametrize("user, password, expected, watch_backoff", [
    ("engineer", "wrong", "refused user 'engineer': not authorised \\(wrong username or password", True),
    ("intruder", "x", "refused user 'intruder': not authorised", False),
    (None, None, "refused an anonymous login: not authorised .*set username and password_env", False),
])
async def test_a_refused_login_is_clear_audited_and_backs_off(secure_mqtt_line, line_config, tmp_path,
                                                               user, password, expected, watch_backoff):
    audit = AuditLog(tmp_path / "audit.sqlite")
    port = secure_mqtt_line.broker.tls_port
    adapter = _secure_adapter(secure_mqtt_line, f"wb-refused-{user}", audit, [line_config.tag(LASER)], password,
                              user=user)
    queue: asyncio.Queue = asyncio.Queue()
    try:
        t0 = time.monotonic()
        with pytest.raises(MqttRefused, match=f"mqtts://127.0.0.1:{port} {expected}"):
            await adapter.connect()
        assert time.monotonic() - t0 < 3.0  # the refusal ends the wait; no waiting out the connect timeout
        await adapter.subscribe([LASER], queue.put_nowait)
        gap = await _collect(queue, lambda r: True, 2.0)
        with pytest.raises(WriteRefused, match="not authorised"):
            await adapter.write(LASER, 2500.0, session=ArmedSession.for_minutes("ben", "t", 5))
        got = await adapter.read([LASER])
        # back-off after a refusal: 2 s, then 4 s... (a tight loop would have retried every 0.25-1 s)
        if watch_backoff:
            await asyncio.sleep(max(0.0, t0 + 3.0 - time.monotonic()))
        refusals = adapter.backend.link.refusals
    finally:
        await adapter.close()
    assert gap[0].quality is Quality.DISCONNECTED and got[LASER].quality is Quality.DISCONNECTED
    assert 1 <= refusals <= 2, f"{refusals} refused attempts in 3 s"
    [entry] = audit.entries()
    assert entry["result"] == "refused" and "not authorised" in entry["message"]


@pytest.mark.parametrize("kw, expected", [
    ({"ca_file": None}, "certificate verify failed: self[- ]signed certificate in certificate chain; set ca_file to "
                        "the PEM of the CA"),
    ({"ca_file": "OTHER"}, "certificate verify failed: .*not signed by the CA in ca_file .*other_ca.pem"),
    ({"host": "localhost"}, "certificate verify failed: Hostname mismatch.*does not list 'localhost'"),
])
async def test_a_broker_certificate_that_fails_verification_is_refused_clearly(secure_mqtt_line, kw, expected):
    broker = secure_mqtt_line.broker
    if kw.get("ca_file") == "OTHER":
        kw = {**kw, "ca_file": str(broker.pki.other_ca)}
    adapter = _secure_adapter(secure_mqtt_line, "wb-bad-cert", password=broker.users["engineer"], **kw)
    try:
        with pytest.raises(MqttRefused, match=f"TLS {expected}"):
            await adapter.connect()
        assert not adapter.connected
    finally:
        await adapter.close()


async def test_tls_insecure_skips_only_the_host_name_check(secure_mqtt_line, line_config):
    """Reached as 'localhost' (not in the certificate): tls_insecure connects, the CA chain is still checked."""
    password = secure_mqtt_line.broker.users["engineer"]
    async with _secure_adapter(secure_mqtt_line, "wb-insecure", tags=[line_config.tag(FROST)], password=password,
                               host="localhost", tls_insecure=True) as adapter:
        assert (await adapter.read([FROST]))[FROST].quality is Quality.GOOD
    wrong_ca = _secure_adapter(secure_mqtt_line, "wb-insecure-ca", password=password, host="localhost",
                               tls_insecure=True, ca_file=str(secure_mqtt_line.broker.pki.other_ca))
    try:
        with pytest.raises(MqttRefused, match="certificate verify failed"):
            await wrong_ca.connect()
    finally:
        await wrong_ca.close()


async def test_client_certificate_listener(secure_mqtt_line, line_config):
    password = secure_mqtt_line.broker.users["engineer"]
    async with _secure_adapter(secure_mqtt_line, "wb-mtls", tags=[line_config.tag(FROST)], password=password,
                               tls="mtls") as adapter:
        assert (await adapter.read([FROST]))[FROST].quality is Quality.GOOD
    no_cert = _secure_adapter(secure_mqtt_line, "wb-mtls-none", password=password, tls="mtls", certfile=None,
                              keyfile=None)
    try:
        with pytest.raises(MqttRefused, match="TLS handshake failed: .*CERTIFICATE_REQUIRED; the broker wants a "
                                              "client certificate: set certfile/keyfile"):
            await no_cert.connect()
    finally:
        await no_cert.close()


async def test_publisher_with_a_wrong_password_fails_to_start_clearly(secure_mosquitto, line_config):
    settings = secure_mosquitto.settings(user="station")
    pub = LineMqttPublisher(list(line_config.tags.values())[:3], None, settings=settings, password="wrong",
                            client_id="station-wrong")
    with pytest.raises(MqttRefused, match=f"mqtts://127.0.0.1:{secure_mosquitto.tls_port} refused user 'station': "
                                          "not authorised"):
        await pub.start()


@pytest.mark.parametrize("module", [mqtt_module, mqtt_publisher_module], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


async def test_a_login_refused_after_a_broker_restart_is_flagged_and_recovers_when_fixed(tmp_path, line_config):
    """The broker comes back with the engineer's password changed: gap flagged, refusal said, retries back
    off; the old password restored (SIGHUP reloads the password file), the session comes back by itself."""
    from fixtures_servers import SecureMosquitto, line_source

    broker = SecureMosquitto(tmp_path / "broker")
    broker.start()
    queue: asyncio.Queue = asyncio.Queue()
    pub = LineMqttPublisher([line_config.tag(LASER_PV)], line_source(line_config, seed=4), close_source=True,
                            settings=broker.settings(user="station"), password=broker.users["station"],
                            client_id="station-revoke")
    tag = [line_config.tag(LASER_PV)]
    adapter = Adapter(tag, MqttBackend(tag, broker.settings("wb-revoke"), password=broker.users["engineer"],
                                       refused_backoff_s=(0.5, 1.0)), name="mqtt-revoke")

    def set_password(pw):
        subprocess.run(["mosquitto_passwd", "-b", str(broker.password_file), "engineer", pw], check=True, timeout=30)
    try:
        await pub.start()
        await adapter.connect()
        await adapter.subscribe([LASER_PV], queue.put_nowait)
        await _collect(queue, lambda r: r.quality is Quality.GOOD, 10.0)
        await asyncio.to_thread(broker.stop)
        set_password("changed by IT")
        await asyncio.to_thread(broker.start)
        await _collect(queue, lambda r: r.quality is Quality.DISCONNECTED, 10.0)
        deadline = time.monotonic() + 10.0
        while adapter.backend.refusal is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert "refused user 'engineer': not authorised" in (adapter.backend.refusal or "")
        assert (await adapter.read([LASER_PV]))[LASER_PV].quality is Quality.DISCONNECTED
        set_password(broker.users["engineer"])
        broker.proc.send_signal(signal.SIGHUP)
        t_fixed = datetime.now(timezone.utc)
        await _collect(queue, lambda r: r.quality is Quality.GOOD and r.source_time > t_fixed, 10.0)
        assert adapter.connected and adapter.backend.refusal is None
    finally:
        await adapter.close()
        await pub.stop()
        await asyncio.to_thread(broker.stop)


@pytest.mark.parametrize("listener, tls, hint", [
    ("tls", False, "is this a TLS listener \\(then set tls: true and ca_file\\)"),
    ("plain", True, "does tls match the listener"),
])
async def test_tls_against_the_wrong_listener_says_so_while_it_keeps_trying(secure_mosquitto, caplog,
                                                                           listener, tls, hint):
    b = secure_mosquitto
    port = b.tls_port if listener == "tls" else b.port
    settings = MqttAdapter(kind="mqtt", port=port, tls=tls, ca_file=str(b.pki.ca) if tls else None,
                           username="engineer", client_id=f"wb-mismatch-{listener}")
    backend = MqttBackend([], settings, password=b.users["engineer"], timeout_s=1.5)
    try:
        with caplog.at_level(logging.WARNING, logger="data_adapters.mqtt"):
            await backend.connect()  # not a refusal: nothing said no, the link was reset
        assert not backend.connected and backend.refusal is None
    finally:
        await backend.close()
    assert any(re.search(f"not reachable yet \\(last error: (ConnectionResetError|SSLEOFError).*{hint}", r.getMessage())
               for r in caplog.records), [r.getMessage() for r in caplog.records]


async def test_a_write_nobody_acknowledges_fails_naming_the_topics_and_the_acl(secure_mqtt_line, tmp_path):
    """No station listens on this command prefix: the write fails after the timeout, audited, with a hint."""
    probe = Tag(path=PROBE, units="dimensionless",
                setpoint=Setpoint(writable=True, min=0, max=10, max_step=5, max_rate=100))
    backend = MqttBackend([probe], secure_mqtt_line.settings("wb-no-ack", command_prefix="cmd-unheard"),
                          password=secure_mqtt_line.broker.users["engineer"], timeout_s=1.0)
    audit = AuditLog(tmp_path / "audit.sqlite")
    async with Adapter([probe], backend, audit=audit, name="mqtt-no-ack") as adapter:
        await asyncio.to_thread(_publish_probe, secure_mqtt_line.broker, [2.0], tls=True)  # a current value
        deadline = time.monotonic() + 5.0
        while (await adapter.read([PROBE]))[PROBE].quality is not Quality.GOOD and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        with pytest.raises(WriteRefused, match=f"no acknowledgement for {PROBE} within 1 s: is the station listening "
                                               f"on cmd-unheard/{PROBE}, and may user 'engineer' publish there and read "
                                               f"ack/{PROBE}"):
            await adapter.write(PROBE, 3.0, session=ArmedSession.for_minutes("ben", "t", 5))
    assert [e["result"] for e in audit.entries()] == ["failed"]

"""open_line: one config, stations on OPC UA, MQTT and replay, routed by tag path; the sim-server CLI."""

from __future__ import annotations

import argparse
import asyncio

import pytest
import yaml

from data_adapters.audit import AuditLog
from data_adapters.base import ArmedSession, Quality
from data_adapters.connect import open_line
from fixtures_servers import LoopThread, Mosquitto, wait_for_port
from apps.cli.sim_server import _check, register, serve

FROST = "plant1/dryroom/room1/hygrometer/frost_point_s1"
FROST_SP = "plant1/dryroom/room1/ahu/frost_point_setpoint"
WELD_R = "plant1/assembly/weld1/welder/weld_resistance"
LASER = "plant1/assembly/weld1/welder/laser_power_setpoint"
CELL_V = "plant1/formation/rack9/ch01/voltage"


def _config(tmp_path, opcua_line, mqtt_line, shared_data):
    from workbench.config import default_config_path

    raw = yaml.safe_load(default_config_path().read_text())
    stations = {s["name"]: s for s in raw["stations"]}
    dry, weld = stations["dryroom"], stations["welding"]
    dry["adapter"] = {"kind": "opcua", "url": opcua_line.url, "security": "Basic256Sha256_SignAndEncrypt",
                      "username": "operator", "password_env": "WB_TEST_OPCUA_PASSWORD",
                      "certificate": str(opcua_line.pki.client_cert), "private_key": str(opcua_line.pki.client_key),
                      "server_certificate": str(opcua_line.pki.server_cert)}
    weld["adapter"] = {"kind": "mqtt", "host": mqtt_line.broker.host, "port": mqtt_line.broker.port,
                       "client_id": "wb-open-line"}
    cycler = {"name": "cycler", "kind": "formation", "adapter": {"kind": "replay", "path": str(
        shared_data / "formation/novonix_formation_ch01_first_charge.csv"), "speed": 100},
        "tags": [{"path": CELL_V, "units": "V"}]}
    raw["stations"] = [dry, weld, cycler]
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


async def test_open_line_routes_each_station_to_its_transport(tmp_path, opcua_line, mqtt_line, shared_data,
                                                               monkeypatch):
    monkeypatch.setenv("WB_TEST_OPCUA_PASSWORD", opcua_line.users["operator"])
    audit = AuditLog(tmp_path / "audit.sqlite")
    async with open_line(_config(tmp_path, opcua_line, mqtt_line, shared_data), audit=audit) as line:
        assert sorted(type(a.backend).__name__ for a in line.adapters) == ["MqttBackend", "OpcUaBackend",
                                                                            "ReplayBackend"]
        for _ in range(120):  # bounded: on a loaded machine a value may be late (stale) for a moment
            got = await line.read([FROST, WELD_R, CELL_V, LASER])
            if {got[p].quality for p in (FROST, CELL_V, LASER)} == {Quality.GOOD}:
                break
            await asyncio.sleep(0.5)
        assert got[FROST].units == "degC" and got[CELL_V].units == "V" and got[LASER].units == "W"
        assert {got[p].quality for p in (FROST, CELL_V, LASER)} == {Quality.GOOD}, got
        session = ArmedSession.for_minutes("eve", "dry room trial", 5)
        sp = (await line.read([FROST_SP]))[FROST_SP].value
        res = await line.write(FROST_SP, sp - 0.5, session=session)  # over OPC UA, logged in
        res2 = await line.write(LASER, got[LASER].value + 5, session=session)  # over MQTT
    assert res.accepted and res.readback == pytest.approx(sp - 0.5)
    assert res2.accepted and res2.readback == pytest.approx(got[LASER].value + 5)
    assert [e["tag"] for e in audit.entries()] == [FROST_SP, LASER]


def _args(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["sim-server", *argv])


def test_sim_server_arguments_are_checked():
    with pytest.raises(ValueError, match="nothing to serve"):
        _check(_args([]))
    with pytest.raises(ValueError, match="--user needs --pki"):
        _check(_args(["--opcua", "4840", "--user", "op"]))
    with pytest.raises(SystemExit):
        _args(["--opcua", "host:notaport"])
    assert _args(["--rest", "0.0.0.0:8081"]).rest == ("0.0.0.0", 8081)


async def test_sim_server_serves_rest_and_publishes_mqtt(tmp_path):
    """The CLI wiring (the OPC UA server class itself is tested against the same line in test_adapter_opcua)."""
    import aiohttp
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from data_adapters.mqtt import decode_payload
    from data_adapters.opcua_server import free_port

    mosquitto = Mosquitto(tmp_path)  # a broker of its own: the session's broker carries another line
    mosquitto.start()
    r = free_port()
    args = _args(["--mqtt", f"{mosquitto.host}:{mosquitto.port}", "--rest", str(r), "--speed", "5", "--seed", "2"])
    loop = LoopThread("sim-server")
    ready, stop = loop.run(_events())  # the events belong to the server's loop: create them there
    done = asyncio.run_coroutine_threadsafe(serve(args, ready=ready, stop=stop), loop.loop)
    got: asyncio.Queue = asyncio.Queue()
    here = asyncio.get_running_loop()
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="cli-test-listener")
    sub.on_message = lambda c, u, m: here.call_soon_threadsafe(got.put_nowait, m.payload)
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe(FROST, qos=1)
    try:
        await asyncio.to_thread(wait_for_port, "127.0.0.1", r, 60)
        sub.connect(mosquitto.host, mosquitto.port)
        sub.loop_start()
        published = decode_payload(await asyncio.wait_for(got.get(), 20))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{r}/api/values", params={"path": FROST}) as resp:
                body = await resp.json()
            async with http.put(f"http://127.0.0.1:{r}/api/values/{LASER}", json={"value": 2400}) as resp:
                refused = resp.status
    finally:
        sub.disconnect()
        sub.loop_stop()
        loop.loop.call_soon_threadsafe(stop.set)
        await asyncio.wrap_future(done)
        loop.close()
        mosquitto.stop()
    assert published["unit"] == "degC" and -80 < published["value"] < 0
    assert body[FROST]["unit"] == "degC" and body[FROST]["value"] == pytest.approx(published["value"], abs=1.0)
    assert refused == 401  # no token configured: REST writes are off


async def _events():
    return asyncio.Event(), asyncio.Event()


def test_relative_tls_files_and_recordings_resolve_beside_the_config_file(tmp_path, monkeypatch):
    """A config's relative ca_file/certfile/keyfile and replay path mean 'beside this file', whatever the
    current directory: the MQTT adapter's error names the path it looked at, under the config's folder."""
    from workbench.config import default_config_path, load_line_config

    raw = yaml.safe_load(default_config_path().read_text())
    weld = next(s for s in raw["stations"] if s["name"] == "welding")
    weld["adapter"] = {"kind": "mqtt", "host": "127.0.0.1", "port": 1883, "tls": True, "ca_file": "pki/site-ca.pem"}
    raw["stations"] = [weld]
    conf = tmp_path / "site" / "line.yaml"
    conf.parent.mkdir()
    conf.write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=str(conf.parent / "pki" / "site-ca.pem")):
        open_line(load_line_config(conf))

"""`workbench config init`: draft a line config from an OPC UA server (and an MQTT broker), validate it, serve it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from apps.cli import main as cli
from fixtures_servers import LoopThread
from workbench.config import load_line_config

PLC_NS = "urn:test:chiller-plc"


@pytest.fixture()
def plain_server():
    """A plain asyncua server: a chiller with Double (degF by UNECE code only, EURange), Boolean, Int32
    (writable, no EURange), writable Double setpoint with EURange, a String, and a variable at a 2-level path."""
    from asyncua import Server, ua

    from data_adapters.opcua_model import unece_unit_id
    from data_adapters.opcua_server import free_port

    loop = LoopThread("plain-opcua")
    port = free_port()

    async def build():
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}")
        ns = await server.register_namespace(PLC_NS)
        node = server.nodes.objects
        for part in ("plant9", "utilities", "cw1", "chiller"):
            node = await node.add_folder(ns, part)
        temp = await node.add_variable(ns, "supply_temp", 44.5, ua.VariantType.Double)
        eu = ua.EUInformation(NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
                              UnitId=unece_unit_id("FAH"), DisplayName=ua.LocalizedText("°F-ish"))
        await temp.add_property(0, "EngineeringUnits", ua.Variant(eu, ua.VariantType.ExtensionObject))
        await temp.add_property(0, "EURange", ua.Variant(ua.Range(Low=30.0, High=80.0), ua.VariantType.ExtensionObject))
        sp = await node.add_variable(ns, "supply_temp_setpoint", 44.0, ua.VariantType.Double)
        await sp.set_writable()
        await sp.add_property(0, "EURange", ua.Variant(ua.Range(Low=38.0, High=55.0), ua.VariantType.ExtensionObject))
        await node.add_variable(ns, "running", True, ua.VariantType.Boolean)
        count = await node.add_variable(ns, "starts_today", 3, ua.VariantType.Int32)
        await count.set_writable()
        await node.add_variable(ns, "recipe", "summer", ua.VariantType.String)
        plc = await server.nodes.objects.add_folder(ns, "PLC")
        await plc.add_variable(ns, "Speed", 1.0, ua.VariantType.Double)
        await server.start()
        return server

    server = loop.run(build(), timeout=60)
    try:
        yield f"opc.tcp://127.0.0.1:{port}"
    finally:
        try:
            loop.run(server.stop())
        finally:
            loop.close()


def _init(tmp_path, *args):
    out = tmp_path / "draft.yaml"
    assert cli(["config", "init", *args, "-o", str(out)]) == 0
    return out


def test_draft_from_the_virtual_line_server_has_every_tag(tmp_path, opcua_line, line_config):
    out = _init(tmp_path, "--opcua", opcua_line.url)
    draft = load_line_config(out)
    assert set(draft.tags) == set(line_config.tags)  # every variable, by its ISA-95 path
    for path, tag in line_config.tags.items():
        assert draft.tags[path].units == tag.units, path
        if tag.writable:  # writable on the server, drafted not writable with limits from EURange
            sp = draft.tags[path].setpoint
            assert sp is not None and not sp.writable
            assert (sp.min, sp.max) == (tag.setpoint.min, tag.setpoint.max)
        else:
            assert draft.tags[path].setpoint is None
    assert not draft.writable_tags()
    text = out.read_text()
    assert "GUESSED" in text and "urn:line-workbench:virtual-line" in text
    readbacks = {p: t.setpoint.readback for p, t in draft.tags.items() if t.setpoint}
    assert readbacks["plant1/electrode/coat1/coater/pump_rate_setpoint"] == "plant1/electrode/coat1/coater/pump_rate"
    assert cli(["config", "check", str(out)]) == 0
    assert cli(["config", "init", "--opcua", opcua_line.url, "-o", str(out)]) == 1  # never overwrites


def test_draft_from_a_plain_server_types_units_and_guesses(tmp_path, plain_server):
    out = _init(tmp_path, "--opcua", plain_server)
    draft = load_line_config(out)
    base = "plant9/utilities/cw1/chiller/"
    assert set(draft.tags) == {base + n for n in ("supply_temp", "supply_temp_setpoint", "running", "starts_today")}
    assert draft.tags[base + "supply_temp"].units == "degF"  # UNECE code FAH: the display name is no pint unit
    assert "(Boolean)" in draft.tags[base + "running"].description
    sp = draft.tags[base + "supply_temp_setpoint"].setpoint
    assert (sp.writable, sp.min, sp.max, sp.readback) == (False, 38.0, 55.0, base + "supply_temp")
    count = draft.tags[base + "starts_today"].setpoint
    assert (count.writable, count.min, count.max) == (False, 3.0, 3.0)  # no EURange: pinned to the value now
    raw = yaml.safe_load(out.read_text())
    assert raw["stations"][0]["adapter"] == {"kind": "opcua", "url": plain_server, "namespace": PLC_NS}
    text = out.read_text()
    degf = [ln for ln in text.splitlines() if 'units: "degF"' in ln]
    assert "GUESSED" in next(ln for ln in text.splitlines() if "units: \"dimensionless\"" in ln)
    assert "from UNECE code" in degf[0]
    # the setpoint has no EngineeringUnits: it takes its readback's unit, marked as a guess
    assert draft.tags[base + "supply_temp_setpoint"].units == "degF"
    assert "GUESSED" in degf[1] and "taken from its readback" in degf[1]
    assert "recipe: String: not a number" in text and "Objects/PLC/Speed: browse path of 2 level(s)" in text
    assert "no EURange" in text


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_draft_serves_a_dashboard_at_once(tmp_path, plain_server):
    out = _init(tmp_path, "--opcua", plain_server)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "apps", "serve", "--config", str(out), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline, body, last = time.monotonic() + 120, None, None
        while time.monotonic() < deadline and body is None:
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
                    body = r.read().decode(errors="replace") if r.status == 200 else None
            except OSError as exc:
                last = exc
                time.sleep(0.5)
        assert body is not None, f"the dashboard did not answer on port {port} in 120 s: {last}"
        assert "Line drafted from" in body or "bokeh" in body.lower()
    finally:
        proc.terminate()  # `workbench serve` stops its panel server on SIGTERM
        try:
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the whole group, whatever happened


def test_draft_from_mqtt_topics(tmp_path, mqtt_line, line_config):
    host, port = mqtt_line.broker.host, mqtt_line.broker.port
    out = _init(tmp_path, "--mqtt", f"{host}:{port}", "--listen", "2")
    draft = load_line_config(out)
    # the line publishes retained values: every tag is heard at once, with its unit in the payload
    assert set(draft.tags) == set(line_config.tags)
    assert all(draft.tags[p].units == t.units for p, t in line_config.tags.items())
    ids = {s.adapter.client_id for s in draft.stations}
    assert len(ids) == len(draft.stations)  # one MQTT session per station


def test_unreachable_server_is_one_line(tmp_path, capsys):
    port = _free_port()
    assert cli(["config", "init", "--opcua", f"opc.tcp://127.0.0.1:{port}", "-o", str(tmp_path / "x.yaml")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot connect to the OPC UA server" in err
    assert not (tmp_path / "x.yaml").exists()


def test_a_server_that_stops_answering_mid_browse_is_one_line(tmp_path, plain_server, capsys, monkeypatch):
    """The server answers the session and the first browses, then hangs (a busy or failing server): config init
    says which server, that nothing was drafted, and how to allow more time; it writes no file."""
    from asyncua.server.internal_session import InternalSession

    answered = []
    real_browse = InternalSession.browse

    async def hanging_browse(self, params):  # server side: the third browse never answers in time
        answered.append(params)
        if len(answered) > 2:
            await asyncio.sleep(5.0)
        return await real_browse(self, params)

    monkeypatch.setattr(InternalSession, "browse", hanging_browse)
    out = tmp_path / "x.yaml"
    assert cli(["config", "init", "--opcua", plain_server, "--timeout", "1", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert plain_server in err and "stopped answering" in err and "--timeout" in err and "nothing was drafted" in err
    assert not out.exists() and not (tmp_path / ".x.yaml.draft").exists()

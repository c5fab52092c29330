"""The OPC UA adapter against a real asyncua server of the virtual line on 127.0.0.1."""

from __future__ import annotations

import asyncio
import math
import re
import time

import numpy as np
import pandas as pd
import pytest
from asyncua import Client, ua

from data_adapters.audit import AuditLog, verify
from data_adapters.base import Adapter, ArmedSession, Quality, Reading, WriteRefused
from data_adapters.opcua import OpcUaBackend, OpcUaNoHistory, OpcUaRefused
from workbench.config import Tag

LASER = "plant1/assembly/weld1/welder/laser_power_setpoint"
LASER_PV = "plant1/assembly/weld1/welder/laser_power"
PUMP = "plant1/electrode/coat1/coater/pump_rate_setpoint"
FROST = "plant1/dryroom/room1/hygrometer/frost_point_s1"
AREAL = "plant1/electrode/coat1/gauge/areal_mass_lane03"
SPEED = "plant1/electrode/coat1/coater/line_speed"  # 1 Hz in the virtual line
DRYROOM_SP = "plant1/dryroom/room1/ahu/frost_point_setpoint"


def _adapter(opcua_line, line_config, audit=None, *, tags=None, secure=False, username=None, password=None, **kw):
    tags = list(tags or line_config.tags.values())
    settings = opcua_line.settings(secure=secure, username=username, **kw)
    backend = OpcUaBackend(tags, settings, password=password, reconnect_s=0.25)
    return Adapter(tags, backend, audit=audit, name="opcua-test")


async def _present(adapter, path: str, timeout: float = 60.0) -> float:
    """The setpoint's present value, once the adapter reads it good (a loaded machine may drop the session for
    a moment: the read then says "disconnected" and its value is NaN). Fails naming the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        r = (await adapter.read([path]))[path]
        if r.is_good and math.isfinite(r.value):
            return r.value
        if time.monotonic() > deadline:
            raise AssertionError(f"no good reading of {path} within {timeout} s; last: {r}")
        await asyncio.sleep(0.1)


async def _collect(queue: asyncio.Queue, until, timeout: float):
    """Readings from ``queue`` until ``until(reading)`` is true; fails after ``timeout`` seconds."""
    got = []
    deadline = time.monotonic() + timeout
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


async def test_read_with_engineering_units(opcua_line, line_config):
    async with _adapter(opcua_line, line_config) as adapter:
        got = await adapter.read([FROST, AREAL, LASER])
    assert got[FROST].units == "degC" and got[AREAL].units == "mg/cm^2" and got[LASER].units == "W"
    assert all(r.quality is Quality.GOOD for r in got.values())
    assert -80 < got[FROST].value < 150
    assert 1800 <= got[LASER].value <= 3200  # the line's setpoint, not a default zero
    assert abs(got[FROST].age()) < line_config.tag(FROST).stale_after_s  # the line's own, current timestamp


async def test_units_are_converted_from_the_servers_engineering_units(opcua_line, line_config):
    """The config may ask for other units than the server's EUInformation: values are converted."""
    in_kelvin = Tag(path=FROST, units="K")
    async with _adapter(opcua_line, line_config, tags=[in_kelvin]) as adapter:
        r = (await adapter.read([FROST]))[FROST]
    async with _adapter(opcua_line, line_config, tags=[line_config.tag(FROST)]) as adapter:
        c = (await adapter.read([FROST]))[FROST]
    assert r.units == "K" and r.value == pytest.approx(c.value + 273.15, abs=0.5)  # two reads, the line moves


async def test_incompatible_units_are_a_clear_error(opcua_line, line_config):
    wrong = Tag(path=FROST, units="V")
    adapter = _adapter(opcua_line, line_config, tags=[wrong])
    with pytest.raises(ValueError, match=r"reports 'degC' but the line config says 'V'"):
        await adapter.connect()
    await adapter.close()


async def test_subscribe_delivers_changes_with_units(opcua_line, line_config):
    queue: asyncio.Queue = asyncio.Queue()
    async with _adapter(opcua_line, line_config, publishing_interval_ms=50) as adapter:
        sub = await adapter.subscribe([LASER_PV, SPEED], queue.put_nowait)
        seen: dict[str, int] = {}

        def enough(r):
            seen[r.path] = seen.get(r.path, 0) + 1
            return min(seen.get(LASER_PV, 0), seen.get(SPEED, 0)) >= 3
        got = await _collect(queue, enough, 10.0)
        await sub.cancel()
    assert {r.units for r in got if r.path == SPEED} == {"m/min"}
    assert all(r.quality is Quality.GOOD for r in got)
    times = [r.source_time for r in got if r.path == LASER_PV]
    assert times == sorted(times) and len(set(times)) == len(times)


async def test_plain_client_browses_from_objects_and_reads_units(opcua_line):
    """A client that knows only the OPC UA standard: browse Objects level by level, read EU and range."""
    async with Client(opcua_line.url) as client:
        node = client.nodes.objects
        for name in FROST.split("/"):
            children = await node.get_children()
            names = {(await c.read_browse_name()).Name: c for c in children}
            assert name in names, f"{name} not under {node}: {sorted(names)[:10]}"
            node = names[name]
        assert await node.read_node_class() == ua.NodeClass.Variable
        type_def = await node.read_type_definition()
        assert type_def == ua.NodeId(ua.ObjectIds.AnalogItemType)
        props = {(await p.read_browse_name()).Name: p for p in await node.get_properties()}
        eu = await props["EngineeringUnits"].read_value()
        rng = await props["EURange"].read_value()
        dv = await node.read_data_value()
    assert isinstance(eu, ua.EUInformation) and eu.DisplayName.Text == "degC"
    assert eu.UnitId == 4408652  # UNECE 'CEL'
    assert isinstance(rng, ua.Range) and rng.Low < dv.Value.Value < rng.High
    assert dv.StatusCode.is_good() and dv.SourceTimestamp is not None


async def test_guarded_write_with_readback(opcua_line, line_config, tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite")
    session = ArmedSession.for_minutes("ana", "laser power step trial", 5)
    async with _adapter(opcua_line, line_config, audit, secure=True, username="operator",
                        password=opcua_line.users["operator"]) as adapter:
        before = await _present(adapter, LASER)
        res = await adapter.write(LASER, before + 50, session=session)
        written_at = time.time()
        for _ in range(100):  # bounded: until the line itself has reported the setpoint after the write
            later = (await adapter.read([LASER]))[LASER]
            if later.source_time.timestamp() > written_at:
                break
            await asyncio.sleep(0.05)
    assert res.accepted and res.result == "written"
    assert res.readback == pytest.approx(before + 50) and res.old_value == pytest.approx(before)
    assert later.source_time.timestamp() > written_at
    assert later.value == pytest.approx(before + 50)  # the line holds it, not only the server's node
    [entry] = audit.entries(tag=LASER)
    assert entry["result"] == "written" and entry["user"] == "ana" and entry["readback"] == pytest.approx(before + 50)
    assert verify(audit.path).ok


@pytest.mark.parametrize("case, value, session, rule_words", [
    ("not armed", +10, None, "not armed"),
    ("not writable", None, "armed", "not declared writable"),
    ("out of range", 3500 - 2500, "armed", "outside [2500, 3400]"),
    ("step too large", +120, "armed", "exceeds max_step 90"),
])
async def test_refused_writes_are_audited(opcua_line, line_config, tmp_path, case, value, session, rule_words):
    audit = AuditLog(tmp_path / "audit.sqlite")
    armed = ArmedSession.for_minutes("ana", "pump trial", 5) if session else None
    async with _adapter(opcua_line, line_config, audit, secure=True, username="operator",
                        password=opcua_line.users["operator"]) as adapter:
        path = "plant1/electrode/coat1/coater/pump_rate" if value is None else PUMP
        current = await _present(adapter, PUMP)
        with pytest.raises(WriteRefused, match=re.escape(rule_words)) as err:
            await adapter.write(path, current + (value or 1), session=armed)
        after = await _present(adapter, PUMP)
    assert after == current  # nothing reached the server
    [entry] = audit.entries()
    assert entry["result"] == "refused" and rule_words in entry["message"] and entry["tag"] == path
    assert err.value.result.audit_seq == entry["seq"]


async def test_too_fast_is_refused(opcua_line, line_config, tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite")
    session = ArmedSession.for_minutes("ana", "dry room setpoint trial", 5)
    async with _adapter(opcua_line, line_config, audit, secure=True, username="operator",
                        password=opcua_line.users["operator"]) as adapter:
        start = await _present(adapter, DRYROOM_SP)
        await adapter.write(DRYROOM_SP, start - 1.0, session=session)
        with pytest.raises(WriteRefused, match=r"exceeds max_rate 0.5 degC/s; wait"):
            await adapter.write(DRYROOM_SP, start - 2.0, session=session)
    assert [e["result"] for e in audit.entries()] == ["written", "refused"]


async def test_anonymous_session_cannot_write_even_when_armed(opcua_line, line_config, tmp_path):
    """The guard says yes, the server says no: security None is read-only. Audited as failed."""
    audit = AuditLog(tmp_path / "audit.sqlite")
    session = ArmedSession.for_minutes("ana", "weld trial", 5)
    async with _adapter(opcua_line, line_config, audit) as adapter:
        current = await _present(adapter, LASER)
        with pytest.raises(WriteRefused, match="BadUserAccessDenied.*Basic256Sha256_SignAndEncrypt"):
            await adapter.write(LASER, current + 10, session=session)
        assert await _present(adapter, LASER) == current
    [entry] = audit.entries()
    assert entry["result"] == "failed" and "may not write setpoints" in entry["message"]


async def test_wrong_credentials_are_refused_clearly_and_audited(opcua_line, line_config, tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite")
    adapter = _adapter(opcua_line, line_config, audit, secure=True, username="operator", password="guess")
    with pytest.raises(OpcUaRefused, match="refused user 'operator': wrong username or password"):
        await adapter.connect()
    with pytest.raises(WriteRefused, match="wrong username or password"):
        await adapter.write(LASER, 2510.0, session=ArmedSession.for_minutes("ana", "weld trial", 5))
    got = await adapter.read([LASER])  # reads never raise: they say disconnected
    await adapter.close()
    assert got[LASER].quality is Quality.DISCONNECTED
    [entry] = audit.entries()
    assert entry["result"] == "refused" and "wrong username or password" in entry["message"]


def test_username_without_encryption_is_a_config_error(opcua_line, line_config):
    with pytest.raises(ValueError, match="username login needs security 'Basic256Sha256_SignAndEncrypt'"):
        _adapter(opcua_line, line_config, username="operator", password="x")


async def test_server_restart_mid_subscription_is_flagged_and_recovered(opcua_line, line_config):
    queue: asyncio.Queue = asyncio.Queue()
    adapter = _adapter(opcua_line, line_config, tags=[line_config.tag(LASER_PV), line_config.tag(LASER)],
                       publishing_interval_ms=50)
    await adapter.connect()
    try:
        await adapter.subscribe([LASER_PV, LASER], queue.put_nowait)
        await _collect(queue, lambda r: r.path == LASER_PV and r.quality is Quality.GOOD, 10.0)
        await asyncio.to_thread(opcua_line.stop)
        gap = await _collect(queue, lambda r: r.quality is Quality.DISCONNECTED, 10.0)
        assert not adapter.connected and math.isnan(gap[-1].value)
        await asyncio.to_thread(opcua_line.start)
        back_at = time.monotonic()
        await _collect(queue, lambda r: r.path == LASER_PV and r.quality is Quality.GOOD, 10.0)
        recovered_in = time.monotonic() - back_at
        assert recovered_in < 5.0, f"took {recovered_in:.1f} s after the server came back"
        assert adapter.connected and adapter.backend.reconnects >= 1
        assert (await adapter.read([LASER]))[LASER].quality is Quality.GOOD
    finally:
        await adapter.close()


async def test_untrusted_client_certificate_is_refused_clearly(opcua_line, line_config, tmp_path):
    from data_adapters.opcua_pki import make_pki

    stranger = make_pki(tmp_path / "stranger")  # a valid certificate the server was never told to trust
    tags = [line_config.tag(LASER)]
    settings = opcua_line.settings(secure=True, username="operator").model_copy(update={
        "certificate": str(stranger.client_cert), "private_key": str(stranger.client_key)})
    adapter = Adapter(tags, OpcUaBackend(tags, settings, password=opcua_line.users["operator"]), name="stranger")
    with pytest.raises(OpcUaRefused, match="does not trust this client's certificate"):
        await adapter.connect()
    await adapter.close()


async def test_writes_use_the_nodes_own_data_type(opcua_line, tmp_path):
    """A PLC may hold a setpoint as Int32: the adapter writes an Int32, and refuses a fraction clearly."""
    path = "plant1/test/bench1/plc/recipe_number"

    added = []

    async def add_int32_node():
        server = opcua_line.server.server
        ns = await server.get_namespace_index("urn:line-workbench:virtual-line")
        parent = await server.nodes.objects.get_child([f"{ns}:plant1"])
        for part in path.split("/")[1:-1]:
            parent = await parent.add_folder(ua.NodeId(f"{path}:{part}", ns), ua.QualifiedName(part, ns))
            added.append(parent)
        node = await parent.add_variable(ua.NodeId(path, ns), ua.QualifiedName("recipe_number", ns),
                                         ua.Variant(3, ua.VariantType.Int32))
        await node.set_writable()

    async def remove_it():  # the server is shared by the session: leave it as the line config describes it
        await opcua_line.server.server.delete_nodes(added[:1], recursive=True)

    await asyncio.to_thread(opcua_line.loop.run, add_int32_node())
    try:
        await _write_int32(opcua_line, path, tmp_path)
    finally:
        await asyncio.to_thread(opcua_line.loop.run, remove_it())


async def _write_int32(opcua_line, path, tmp_path):

    tag = Tag(path=path, units="dimensionless",
              setpoint={"writable": True, "min": 1, "max": 20, "max_step": 10, "max_rate": 1000})
    audit = AuditLog(tmp_path / "audit.sqlite")
    settings = opcua_line.settings(secure=True, username="operator")
    adapter = Adapter([tag], OpcUaBackend([tag], settings, password=opcua_line.users["operator"]), audit=audit)
    session = ArmedSession.for_minutes("ana", "recipe change", 5)
    async with adapter:
        res = await adapter.write(path, 7, session=session)
        with pytest.raises(WriteRefused, match=r"integer \(Int32\) on the server; 7.5 is not whole"):
            await adapter.write(path, 7.5, session=session)
    assert res.readback == 7.0 and [e["result"] for e in audit.entries()] == ["written", "failed"]
    async with Client(opcua_line.url) as client:
        ns = await client.get_namespace_index("urn:line-workbench:virtual-line")
        dv = await client.get_node(ua.NodeId(path, ns)).read_data_value()
    assert dv.Value.VariantType == ua.VariantType.Int32 and dv.Value.Value == 7


# --- history (HistoryRead) -----------------------------------------------------------------------------
WELD = "plant1/assembly/weld1/welder/weld_resistance"


@pytest.fixture(scope="module")
def historizing_server(line_config):
    """A few tags of the virtual line over OPC UA with history, in its own thread; pushes are recorded."""
    from fixtures_servers import LoopThread, line_source

    from data_adapters.opcua_server import LineOpcUaServer

    loop = LoopThread("opcua-history")
    tags = [line_config.tag(p) for p in (SPEED, FROST, LASER_PV, WELD)]
    server = LineOpcUaServer(tags, line_source(line_config), port=0, close_source=True, history_s=120)
    server.pushed = []
    original = server._push

    async def recording_push(srv, r):  # in the server's thread
        server.pushed.append(r)
        await original(srv, r)
    server._push = recording_push
    loop.run(server.start(), timeout=60)
    try:
        yield server, loop
    finally:
        try:
            loop.run(server.stop())
        finally:
            loop.close()


def _changes(pushed, path, t0, t1):
    """(times ns, values) of the pushes of ``path`` in [t0, t1) that changed value or status: what is kept."""
    out, last = [], None
    for r in pushed:
        if r.path != path:
            continue
        key = (r.value, r.quality)
        if key != last:
            ts = pd.Timestamp(r.source_time).value
            if t0 <= ts < t1:
                out.append((ts, r.value))
        last = key
    return out


async def _history_backend(server, tags, **kw):
    from workbench.config import OpcUaAdapter

    backend = OpcUaBackend(tags, OpcUaAdapter(kind="opcua", url=server.url), reconnect_s=0.25, **kw)
    await backend.connect()
    return backend


async def test_history_reads_back_every_change_with_units_batches_and_continuation_points(historizing_server,
                                                                                         line_config):
    server, loop = historizing_server
    server._history.max_history_data_response_size = 2  # the server answers 2 values at a time: follow its points
    in_kelvin = Tag(path=FROST, units="K")
    tags = [line_config.tag(SPEED), in_kelvin, line_config.tag(LASER_PV)]
    backend = await _history_backend(server, tags, history_batch=2)  # 3 tags: two HistoryRead batches
    try:
        t0 = pd.Timestamp(server.pushed[0].source_time).value
        deadline = time.monotonic() + 30  # the line speed wanders by its resolution: wait for 5 changes
        while len(_changes(list(server.pushed), SPEED, t0, 2**62)) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        pushed = list(server.pushed)
        speed_changes = _changes(pushed, SPEED, t0, 2**62)
        assert len(speed_changes) >= 4, "the line did not move enough to judge"
        t1 = speed_changes[-1][0]  # exactly a sample's time: [t0, t1) leaves it out
        got = await backend.history([SPEED, FROST, LASER_PV], pd.Timestamp(t0, tz="UTC"), pd.Timestamp(t1, tz="UTC"))
    finally:
        server._history.max_history_data_response_size = 10000
        await backend.close()
    for path in (SPEED, LASER_PV, FROST):
        want = _changes(pushed, path, t0, t1)
        times, values = got[path]
        assert times.dtype == np.dtype("datetime64[ns]") and values.dtype == np.float64
        assert times.astype(np.int64).tolist() == [ts for ts, _ in want], path
        offset = 273.15 if path == FROST else 0.0  # the server says degC, this config asks for K
        np.testing.assert_allclose(values, [v + offset for _, v in want], rtol=0, atol=1e-9, err_msg=path)
    assert t1 not in got[SPEED][0].astype(np.int64).tolist() and len(got[SPEED][0]) >= 3


async def test_history_maps_bad_quality_to_a_gap(historizing_server, line_config):
    server, loop = historizing_server
    ts = pd.Timestamp.now(tz="UTC").floor("ms") - pd.Timedelta("100ms")
    bad = Reading(WELD, 55.0, "uohm", ts.to_pydatetime(), Quality.BAD)
    good = Reading(WELD, 56.0, "uohm", (ts + pd.Timedelta("10ms")).to_pydatetime(), Quality.GOOD)
    for r in (bad, good):
        await asyncio.to_thread(loop.run, server._push(server.server, r))
    backend = await _history_backend(server, [line_config.tag(WELD)])
    try:
        times, values = (await backend.history([WELD], ts, ts + pd.Timedelta("11ms")))[WELD]
    finally:
        await backend.close()
    assert times.astype(np.int64).tolist() == [ts.value, ts.value + 10_000_000]
    assert math.isnan(values[0]) and values[1] == 56.0


async def test_history_of_a_server_without_history_is_a_clear_error(opcua_line, line_config):
    backend = await _history_backend(opcua_line, [line_config.tag(SPEED)])
    try:
        now = pd.Timestamp.now(tz="UTC")
        with pytest.raises(OpcUaNoHistory, match=r"keeps no history for these 1 tag\(s\) \(Historizing is false\)"):
            await backend.history([SPEED], now - pd.Timedelta("1min"), now)
        with pytest.raises(ValueError, match="start .* must be before end"):
            await backend.history([SPEED], now, now)
        with pytest.raises(KeyError, match="unknown tag"):
            await backend.history(["plant1/nowhere/x/y/z"], now - pd.Timedelta("1min"), now)
    finally:
        await backend.close()
    from workbench.config import OpcUaAdapter
    with pytest.raises(ValueError, match="history_batch must be >= 1"):
        OpcUaBackend([line_config.tag(SPEED)], OpcUaAdapter(kind="opcua", url=opcua_line.url), history_batch=0)


def test_line_adapters_expose_history_only_when_every_backend_has_it(line_config):
    from data_adapters.connect import open_line
    from workbench.config import OpcUaAdapter

    assert getattr(open_line(line_config), "history", None) is None  # the virtual line (sim) keeps none
    stations = [st.model_copy(update={"adapter": OpcUaAdapter(kind="opcua", url="opc.tcp://127.0.0.1:4840/")})
                for st in line_config.stations]
    over_opcua = open_line(line_config.model_copy(update={"stations": stations}))
    assert callable(over_opcua.history)


# --- writes with the node's own DataType, on a plain asyncua server --------------------------------------
async def test_writes_follow_each_nodes_data_type_on_a_plain_asyncua_server(line_config):
    """A third-party server (a PLC) types its setpoints Int32, Int16, UInt16, Boolean, Float: the adapter reads
    each node's DataType and writes exactly that type; values the type cannot hold are refused clearly."""
    from asyncua import Server

    from data_adapters.base import BackendError
    from data_adapters.opcua_model import DEFAULT_NAMESPACE
    from data_adapters.opcua_server import free_port
    from workbench.config import OpcUaAdapter

    kinds = {"recipe": (ua.VariantType.Int32, 3), "speed_step": (ua.VariantType.Int16, 1),
             "batch": (ua.VariantType.UInt16, 10), "pump_on": (ua.VariantType.Boolean, False),
             "gain": (ua.VariantType.Float, 0.5)}
    server = Server()
    await server.init()
    url = f"opc.tcp://127.0.0.1:{free_port()}/plc/"
    server.set_endpoint(url)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace(DEFAULT_NAMESPACE)
    parent = server.nodes.objects
    for part in ("plant1", "test", "bench1", "plc"):
        parent = await parent.add_folder(ns, part)
    nodes = {}
    for name, (vtype, initial) in kinds.items():
        nodes[name] = await parent.add_variable(ns, name, ua.Variant(initial, vtype))
        await nodes[name].set_writable()
    tags = [Tag(path=f"plant1/test/bench1/plc/{name}", units="dimensionless") for name in kinds]
    async with server:
        backend = OpcUaBackend(tags, OpcUaAdapter(kind="opcua", url=url), reconnect_s=0.25)
        await backend.connect()
        try:
            for name, value in [("recipe", 7), ("speed_step", -12), ("batch", 65535), ("pump_on", 1),
                                ("gain", 0.25)]:
                await backend.write(f"plant1/test/bench1/plc/{name}", float(value))
            refusals = [("recipe", 7.5, r"integer \(Int32\) on the server; 7.5 is not whole"),
                        ("speed_step", 40000, r"Int16 on the server \(-32768..32767\); 40000 does not fit"),
                        ("batch", -1, r"UInt16 on the server \(0..65535\); -1 does not fit"),
                        ("pump_on", 2, r"Boolean on the server; write 0 or 1, not 2")]
            for name, value, message in refusals:
                with pytest.raises(BackendError, match=message):
                    await backend.write(f"plant1/test/bench1/plc/{name}", float(value))
            read = await backend.read([t.path for t in tags])
        finally:
            await backend.close()
        dvs = {name: await node.read_data_value() for name, node in nodes.items()}
    want = {"recipe": 7, "speed_step": -12, "batch": 65535, "pump_on": True, "gain": 0.25}
    for name, (vtype, _) in kinds.items():
        assert dvs[name].Value.VariantType == vtype, name
        assert dvs[name].Value.Value == want[name], name
    assert [read[t.path].value for t in tags] == [7.0, -12.0, 65535.0, 1.0, 0.25]


async def test_historizing_nodes_say_so_and_a_plain_client_reads_their_history(historizing_server, opcua_line):
    """Third-party clients (UaExpert, Ignition) see Historizing and HistoryRead access and read raw history."""
    server, _ = historizing_server
    for url, historizes in ((server.url, True), (opcua_line.url, False)):
        async with Client(url) as client:
            ns = await client.get_namespace_index("urn:line-workbench:virtual-line")
            node = await client.nodes.objects.get_child([f"{ns}:{part}" for part in SPEED.split("/")])
            flag = await node.read_attribute(ua.AttributeIds.Historizing)
            access = await node.read_attribute(ua.AttributeIds.AccessLevel)
            assert flag.Value.Value is historizes
            assert bool(access.Value.Value & ua.AccessLevel.HistoryRead.mask) is historizes
            if historizes:
                now = pd.Timestamp.now(tz="UTC").to_pydatetime()
                values = await node.read_raw_history(now - pd.Timedelta("10min"), now)
                assert values and all(dv.SourceTimestamp <= now for dv in values)


def test_history_settings_are_checked(line_config):
    import argparse

    from data_adapters.opcua_server import LineOpcUaServer
    from data_adapters.sim import SimBackend
    from apps.cli.sim_server import _check, register

    for bad in (0, -5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="history_s must be a number of seconds > 0"):
            LineOpcUaServer(line_config.tags.values(), SimBackend(line_config), port=0, history_s=bad)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    assert parser.parse_args(["sim-server", "--opcua", "0"]).history == 3600.0  # on by default: one hour
    _check(parser.parse_args(["sim-server", "--opcua", "0", "--history", "0"]))  # 0 turns it off
    with pytest.raises(ValueError, match=r"--history must be seconds >= 0 \(0 = no OPC UA history\), got -1"):
        _check(parser.parse_args(["sim-server", "--opcua", "0", "--history", "-1"]))

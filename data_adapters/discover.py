"""Find what a line's servers offer and draft a line config from it (``workbench config init``).

- :func:`browse_opcua`: walk an OPC UA server's address space from ``Objects`` (asyncua) and describe every
  variable: browse path, node id, data type, ``EngineeringUnits`` (EUInformation -> pint unit, by display
  name or UNECE code), ``EURange``, whether it is writable (AccessLevel CurrentWrite), its value now.
- :func:`listen_mqtt`: subscribe to ``#`` for a while and describe every topic that carries a number.
- :func:`draft_config`: YAML text of a line config with every variable that can be a tag, a comment on
  every value that was guessed, setpoints found writable drafted as *not* writable with limits a person
  must set, and the variables that cannot be tags listed (commented) with the reason.

The draft validates with ``workbench config check`` and serves with ``workbench serve --config`` as it is.

>>> found = [Variable(path="plant1/area/line1/oven/temp", browse="Objects/plant1/area/line1/oven/temp",
...                   node="ns=2;s=temp", datatype="Double", units="degC", units_from="EngineeringUnits",
...                   description="oven temperature")]
>>> text = draft_config(found, source="opc.tcp://plc:4840", adapter={"kind": "opcua", "url": "opc.tcp://plc:4840"})
>>> print(text[text.index("    adapter"):].rstrip())
    adapter: {kind: "opcua", url: "opc.tcp://plc:4840"}
    tags:
      - path: "plant1/area/line1/oven/temp"
        units: "degC"  # from EngineeringUnits
        description: "oven temperature (Double)"
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass

from asyncua import Client, ua

from data_adapters.opcua_model import unece_unit_id, units_from_eu

NUMERIC = {"Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float", "Double"}
PART = re.compile(r"^[A-Za-z0-9_\-.]+$")
SITE_PART = re.compile(r"^[A-Za-z0-9_\-]+$")
# UNECE Recommendation 20 common codes (OPC 10000-8) beyond the line's own (opcua_model): code -> pint unit.
UNECE_CODES = {
    "CEL": "degC", "KEL": "K", "FAH": "degF", "VLT": "V", "2Z": "mV", "AMP": "A", "4K": "mA", "WTT": "W",
    "KWT": "kW", "JOU": "J", "KJO": "kJ", "MTR": "m", "MMT": "mm", "CMT": "cm", "4H": "um", "SEC": "s",
    "MIN": "min", "HUR": "h", "GRM": "g", "KGM": "kg", "MGM": "mg", "HTZ": "Hz", "OHM": "ohm", "AMH": "A*h",
    "P1": "percent", "PAL": "Pa", "KPA": "kPa", "MPA": "MPa", "BAR": "bar", "MBR": "mbar", "C62": "dimensionless",
    "2X": "m/min", "MTS": "m/s", "RPM": "rpm", "LTR": "L", "MQH": "m^3/h", "KGS": "kg/s", "NEW": "N",
    "NU": "N*m", "59": "ppm", "GM": "g/m^2",
}
_UNIT_BY_ID = {unece_unit_id(c): u for c, u in UNECE_CODES.items()}
_PROPERTY_NAMES = {"EngineeringUnits", "EURange", "InstrumentRange", "ValuePrecision", "Definition",
                   "EnumStrings", "EnumValues", "TrueState", "FalseState", "NodeVersion", "ValueAsText"}


@dataclass
class Variable:
    """One variable (OPC UA node or MQTT topic) as found, and whether it can be a tag of the line config."""

    path: str | None  # the ISA-95 path the adapter will find it by, or None (see problem)
    browse: str  # where it was found: Objects/... browse names, or the MQTT topic
    node: str  # node id (OPC UA) or topic (MQTT)
    datatype: str  # Double, Int32, Boolean, String, ... ("number" for an MQTT payload)
    units: str | None = None
    units_from: str | None = None  # "EngineeringUnits", "UNECE code", "payload"; None: guessed
    units_note: str | None = None  # why the unit was guessed
    eu_range: tuple[float, float] | None = None
    writable: bool = False
    value: object = None
    description: str = ""
    namespace: str | None = None
    problem: str | None = None  # why it is not drafted as a tag


def pint_unit_of_eu(eu) -> tuple[str | None, str | None, str | None]:
    """(pint unit, where it came from, note) of an EUInformation: display name, else the UNECE code."""
    try:
        return units_from_eu(eu), "EngineeringUnits", None
    except ValueError:
        pass
    if eu.UnitId in _UNIT_BY_ID:
        return _UNIT_BY_ID[eu.UnitId], "UNECE code", None
    text = eu.DisplayName.Text if eu.DisplayName else ""
    return None, None, f"the server's unit {text!r} (UnitId {eu.UnitId}) is not a pint unit"


# --- OPC UA --------------------------------------------------------------------------------------------
def _rel(names: list[tuple[int, str]]) -> str:
    """A relative browse path string from Objects (reserved characters escaped with '&', OPC 10000-4 A.2)."""
    return "".join(f"/{ns}:" + re.sub(r"([/.<>:#!&])", r"&\1", n) for ns, n in names)


def _judge(var: Variable, names: list[tuple[int, str]], rank) -> None:
    spaces = {ns for ns, _ in names}
    if var.datatype not in NUMERIC or rank not in (None, -1, ua.ValueRank.Scalar):
        var.problem = f"{var.datatype}{' array' if rank not in (None, -1) else ''}: not a number the workbench records"
    elif len(names) != 5 or len(spaces) != 1 or not all(PART.match(n) for _, n in names) \
            or not SITE_PART.match(names[0][1]):
        var.problem = (f"browse path of {len(names)} level(s) ({'/'.join(n for _, n in names)}): the OPC UA adapter "
                       f"finds a tag by the 5-level path site/area/line/station/tag in one namespace")
    else:
        var.path = "/".join(n for _, n in names)


BROWSES_IN_FLIGHT = 8  # a busy server answers a few requests at a time in time, not a whole level at once


async def _walk(client: Client, url: str, max_nodes: int) -> list[tuple[ua.NodeId, list[tuple[int, str]]]]:
    """(node id, browse names from Objects) of every variable; one Browse per object, a level at a time."""
    level, found, seen = [(client.nodes.objects, [])], [], 0
    gate = asyncio.Semaphore(BROWSES_IN_FLIGHT)

    async def children_of(node):
        async with gate:
            return await node.get_references(refs=ua.ObjectIds.HierarchicalReferences,
                                             direction=ua.BrowseDirection.Forward,
                                             nodeclassmask=ua.NodeClass.Object | ua.NodeClass.Variable)
    while level:
        refs = await asyncio.gather(*(children_of(node) for node, _ in level))
        nxt = []
        for (node, names), children in zip(level, refs):
            for rd in children:
                seen += 1
                if seen > max_nodes:
                    raise ConnectionError(f"{url}: more than {max_nodes} nodes under Objects; draft from a smaller "
                                          f"server or raise max_nodes")
                qn = rd.BrowseName
                if qn.NamespaceIndex == 0 or qn.Name in _PROPERTY_NAMES:
                    continue  # the Server object and standard properties
                here = names + [(qn.NamespaceIndex, qn.Name)]
                if rd.NodeClass == ua.NodeClass.Variable:
                    found.append((rd.NodeId, here))
                else:
                    nxt.append((client.get_node(rd.NodeId), here))
        level = nxt
    return found


async def _read_all(client: Client, nodes, attr) -> list:
    out = []
    for k in range(0, len(nodes), 500):
        out += [dv.Value.Value if dv.Value is not None else None
                for dv in await client.read_attributes(nodes[k:k + 500], attr)]
    return out


async def browse_opcua(url: str, *, timeout: float = 30.0, max_nodes: int = 20000) -> list[Variable]:
    """Every variable under ``Objects`` of the server at ``url`` (anonymous, no security), described.

    ``timeout`` bounds each request (s). A server that stops answering mid-browse raises ConnectionError naming
    the URL and what to do; nothing is drafted from half a browse."""
    client = Client(url, timeout=timeout)
    try:
        await client.connect()
    except (OSError, asyncio.TimeoutError, ua.UaError) as exc:
        raise ConnectionError(f"{url}: cannot connect to the OPC UA server ({exc!r}); check the URL and that the "
                              f"server allows anonymous browsing (security None)") from None
    try:
        ns_uris = await client.get_namespace_array()
        walked = await _walk(client, url, max_nodes)
        nodes = [client.get_node(nid) for nid, _ in walked]
        A = ua.AttributeIds
        dtypes, access, values, descs, ranks = [await _read_all(client, nodes, a) for a in
                                                (A.DataType, A.AccessLevel, A.Value, A.Description, A.ValueRank)]
        type_ids = sorted({d for d in dtypes if d is not None}, key=str)
        type_names = dict(zip(type_ids, [q.Name if q is not None else str(t) for q, t in zip(
            await _read_all(client, [client.get_node(t) for t in type_ids], A.BrowseName), type_ids)]))
        props = {}
        for which in ("EngineeringUnits", "EURange"):
            res = []
            rels = [_rel(names) + f".0:{which}" for _, names in walked]
            for k in range(0, len(rels), 500):
                res += await client.translate_browsepaths(ua.NodeId(ua.ObjectIds.ObjectsFolder), rels[k:k + 500])
            hit = [(i, client.get_node(r.Targets[0].TargetId)) for i, r in enumerate(res) if r.StatusCode.is_good()]
            props[which] = dict(zip([i for i, _ in hit], await _read_all(client, [n for _, n in hit], A.Value)))
    except (OSError, asyncio.TimeoutError, ConnectionError, ua.UaError) as exc:
        if isinstance(exc, ConnectionError) and str(exc).startswith(url):
            raise  # ours, already says what to do
        raise ConnectionError(f"{url}: the OPC UA server stopped answering while it was browsed ({exc!r}); nothing "
                              f"was drafted. A busy server: retry, or allow more time per request with "
                              f"--timeout (now {timeout:g} s)") from None
    finally:
        try:
            await client.disconnect()
        except (OSError, asyncio.TimeoutError, ConnectionError, ua.UaError):
            pass  # the link is gone already; the error above says why
    found = []
    for i, (nid, names) in enumerate(walked):
        desc = descs[i]
        var = Variable(path=None, browse="Objects/" + "/".join(n for _, n in names), node=nid.to_string(),
                       datatype=type_names.get(dtypes[i], "?"), writable=bool((access[i] or 0) & ua.AccessLevel.CurrentWrite.mask),
                       value=values[i], description=desc.Text if desc is not None and desc.Text else names[-1][1],
                       namespace=ns_uris[names[-1][0]] if names[-1][0] < len(ns_uris) else None)
        eu, rng = props["EngineeringUnits"].get(i), props["EURange"].get(i)
        if isinstance(eu, ua.EUInformation):
            var.units, var.units_from, var.units_note = pint_unit_of_eu(eu)
        if isinstance(rng, ua.Range):
            var.eu_range = (float(rng.Low), float(rng.High))
        _judge(var, names, ranks[i])
        found.append(var)
    return sorted(found, key=lambda v: v.browse)


# --- MQTT ----------------------------------------------------------------------------------------------
def listen_mqtt(host: str, port: int, seconds: float, *, skip_prefixes=("cmd", "ack", "$SYS")) -> list[Variable]:
    """Subscribe to ``#`` for ``seconds`` and describe each topic's last payload (number or JSON ``value``)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    last: dict[str, bytes] = {}
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"workbench-config-init-{int(time.time())}")
    client.on_message = lambda c, u, msg: last.__setitem__(msg.topic, msg.payload)
    client.on_connect = lambda c, u, f, rc, p=None: c.subscribe("#", qos=0)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise ConnectionError(f"{host}:{port}: cannot connect to the MQTT broker ({exc}); check host and port") from None
    client.loop_start()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    finally:
        client.loop_stop()
        client.disconnect()
    out = []
    for topic, payload in sorted(last.items()):
        if topic.split("/", 1)[0] in skip_prefixes:
            continue
        out.append(_mqtt_variable(topic, payload))
    return out


def _mqtt_variable(topic: str, payload: bytes) -> Variable:
    var = Variable(path=None, browse=topic, node=topic, datatype="number", description=topic.rsplit("/", 1)[-1])
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict):
        var.value, unit = doc.get("value"), doc.get("unit") or doc.get("units")
        if unit:
            from workbench.units import parse_unit

            try:
                parse_unit(str(unit))
                var.units, var.units_from = str(unit), "payload"
            except ValueError:
                var.units_note = f"the payload's unit {unit!r} is not a pint unit"
    else:
        var.value = doc
    numeric_null = isinstance(doc, dict) and "value" in doc and doc["value"] is None  # a number not there now
    if not numeric_null and (isinstance(var.value, bool) or not isinstance(var.value, (int, float))):
        var.problem = f"payload {payload[:40]!r}: not a number (or JSON with a numeric value)"
    elif not (len(topic.split("/")) == 5 and all(PART.match(p) for p in topic.split("/"))):
        var.problem = "topic is not a 5-level ISA-95 path site/area/line/station/tag (the MQTT adapter's topic = path)"
    else:
        var.path = topic
    return var


# --- the draft -----------------------------------------------------------------------------------------
def _q(text) -> str:
    return json.dumps(str(text), ensure_ascii=False)


def _num(v: float) -> str:
    return repr(float(v)) if math.isfinite(v) else "0.0"


def _setpoint_lines(var: Variable, readback: str | None, indent: str) -> list[str]:
    lo, hi = var.eu_range if var.eu_range and var.eu_range[1] >= var.eu_range[0] else (None, None)
    if lo is None:
        now = float(var.value) if isinstance(var.value, (int, float)) and math.isfinite(float(var.value)) else 0.0
        lo = hi = now
        how = "no EURange on the server: min and max pinned to the value read now"
    else:
        how = "min/max from EURange, max_step a tenth of it, max_rate a hundredth per second"
    span = hi - lo
    step, rate = (span / 10, span / 100) if span > 0 else (1e-9, 1e-9)
    rb = f", readback: {_q(readback)}" if readback else ""
    return [f"{indent}# writable on the server; NOT writable here until a person sets min, max, max_step and "
            f"max_rate and then writable: true",
            f"{indent}setpoint: {{writable: false, min: {_num(lo)}, max: {_num(hi)}, max_step: {_num(step)}, "
            f"max_rate: {_num(rate)}{rb}}}  # GUESSED: {how}" + ("; readback guessed from the name" if rb else "")]


def _readback_of(var: Variable, by_path: dict[str, Variable]) -> str | None:
    """The tag a writable ``var`` is read back by, guessed from the name (``x_setpoint`` -> ``x``)."""
    base = re.sub(r"(_setpoint|_sp|_set|\.sp|_target)$", "", var.path, flags=re.I)
    return base if base != var.path and base in by_path else None


def _station_name(prefix: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", prefix.split("/")[-1].lower())
    base = base if re.match(r"[a-z]", base) else f"s_{base}"
    name, k = base, 2
    while name in used:
        name, k = f"{base}_{k}", k + 1
    used.add(name)
    return name


def draft_config(found: list[Variable], *, source: str, adapter: dict, name: str | None = None,
                 stamp: str | None = None) -> str:
    """The YAML text of a line config drafted from ``found`` (see the module doc); ``adapter``: the stations'
    adapter mapping (``{"kind": "opcua", "url": ..., "namespace": ...}`` or MQTT host/port)."""
    tags = [v for v in found if v.path]
    skipped = [v for v in found if not v.path]
    by_path = {v.path: v for v in tags}
    sites = Counter(v.path.split("/")[0] for v in tags)
    site = sites.most_common(1)[0][0] if sites else "site"
    stamp = stamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = [f"# Line config drafted by `workbench config init` from {source} at {stamp}.",
           "# Review every comment marked GUESSED. Setpoints are drafted not writable: set their limits, then",
           "# writable: true. Check and serve with:",
           "#   workbench config check THIS.yaml && workbench serve --config THIS.yaml",
           "version: 1", f"name: {_q(name or f'Line drafted from {source}')}", f"site: {_q(site)}"]
    if not tags:
        out.append("stations: []  # nothing found that can be a tag: see the list at the end")
    else:
        out.append("stations:")
    groups: dict[str, list[Variable]] = {}
    for v in tags:
        groups.setdefault("/".join(v.path.split("/")[:3]), []).append(v)
    used: set[str] = set()
    flow = ", ".join(f"{k}: {_q(v) if isinstance(v, str) else json.dumps(v)}" for k, v in adapter.items())
    for prefix, members in groups.items():
        station = _station_name(prefix, used)
        client = f", client_id: {_q(f'line-workbench-{station}')}" if adapter.get("kind") == "mqtt" else ""
        out += [f"  - name: {station}",
                "    kind: generic  # GUESSED: set coating, dryroom, welding or formation to get that station's page",
                f"    title: {_q(prefix)}", f"    adapter: {{{flow}{client}}}", "    tags:"]
        for v in members:
            out.append(f"      - path: {_q(v.path)}")
            readback = _readback_of(v, by_path) if v.writable else None
            if v.units:
                out.append(f"        units: {_q(v.units)}  # from {v.units_from}")
            elif readback is not None and by_path[readback].units:
                out.append(f"        units: {_q(by_path[readback].units)}  # GUESSED: the server gives no "
                           f"EngineeringUnits; taken from its readback {readback}")
            else:
                why = v.units_note or ("a Boolean is 0/1" if v.datatype == "Boolean" else
                                       "the server gives no EngineeringUnits")
                out.append(f"        units: \"dimensionless\"  # GUESSED: {why}; set the real unit")
            out.append(f"        description: {_q(f'{v.description} ({v.datatype})')}")
            if v.writable:
                out += _setpoint_lines(v, readback, "        ")
    if skipped:
        out.append("# Not drafted as tags (each needs a 5-level ISA-95 path and a numeric value):")
        for v in skipped:
            out.append(f"#   {v.node}  {v.browse}: {v.problem}")
    return "\n".join(out) + "\n"


def main_namespace(found: list[Variable]) -> str | None:
    """The namespace URI most of the drafted tags live in (the OPC UA adapter's ``namespace``)."""
    spaces = Counter(v.namespace for v in found if v.path and v.namespace)
    return spaces.most_common(1)[0][0] if spaces else None


def restrict_to_namespace(found: list[Variable], namespace: str) -> None:
    """Tags of other namespaces than the adapter's cannot be found by it: mark them so."""
    for v in found:
        if v.path and v.namespace != namespace:
            v.path, v.problem = None, f"in namespace {v.namespace!r}, the station's adapter browses {namespace!r}"


__all__ = ["Variable", "browse_opcua", "listen_mqtt", "draft_config", "pint_unit_of_eu", "main_namespace",
           "restrict_to_namespace", "UNECE_CODES"]

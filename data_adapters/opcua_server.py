"""The virtual line (or any backend) served as a real OPC UA server.

Address space: ``Objects/<site>/<area>/<line>/<station>/<tag>`` folders in the line namespace, each tag an
``AnalogItemType`` variable (Double) with ``EngineeringUnits`` (EUInformation) and ``EURange``; node ids
are ``ns=<line ns>;s=<ISA-95 path>``. Source timestamps and status codes come from the line.

History: with ``history_s`` set, every tag node is historized (``Historizing`` True, ``HistoryRead`` in
its access level): asyncua's in-memory store keeps each change (value or status, like a subscription
reports) for ``history_s`` seconds of source time, and clients read it with HistoryRead (raw, with
continuation points). A recorder restarted after a crash fills its gap from there
(:meth:`data_adapters.opcua.OpcUaBackend.history`). Without it (the default) nodes do not historize.

Security: the ``None`` endpoint serves anonymous, read-only clients. Writes need a user logged in with
username and password, which the server accepts only over ``Basic256Sha256`` ``SignAndEncrypt`` from a
client whose certificate is trusted (``pki.trusted``). Only setpoints declared writable have write
access; an accepted write goes to the line's backend.

Example
-------
>>> import asyncio
>>> from workbench.config import load_line_config, default_config_path
>>> from data_adapters.sim import SimBackend
>>> async def demo():
...     line = load_line_config(default_config_path())
...     async with LineOpcUaServer(line.tags.values(), SimBackend(line), port=0) as srv:
...         return srv.url.startswith("opc.tcp://127.0.0.1:")
>>> asyncio.run(demo())  # doctest: +SKIP
True
"""

from __future__ import annotations

import hmac
import logging
import socket
from datetime import datetime, timedelta, timezone
from typing import Iterable

from asyncua import Server, ua
from asyncua.common.callback import CallbackType
from asyncua.crypto.permission_rules import USER_TYPES, PermissionRuleset, User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.server.history import HistoryDict
from asyncua.server.user_managers import UserManager

from workbench.config import Tag

from data_adapters.base import Backend, Reading
from data_adapters.opcua_model import DEFAULT_NAMESPACE, eu_information, eu_range, status_of
from data_adapters.opcua_pki import Pki
from data_adapters.readback import WriteHold

log = logging.getLogger(__name__)

_WRITE_TYPES = {ua.NodeId(ua.ObjectIds.WriteRequest_Encoding_DefaultBinary),
                ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary)}


class WritesNeedLogin(PermissionRuleset):
    """Anonymous sessions may browse, read and subscribe; only logged-in users may write."""

    def __init__(self):
        user_ids = set(map(ua.NodeId, USER_TYPES))
        self._allowed = {UserRole.Admin: user_ids, UserRole.User: user_ids,
                         UserRole.Anonymous: user_ids - _WRITE_TYPES}

    def check_validity(self, user, action_type, body) -> bool:
        return action_type in self._allowed.get(getattr(user, "role", UserRole.Anonymous), set())


class LineUsers(UserManager):
    """Users with passwords; username login only over an encrypted channel (a client certificate present)."""

    def __init__(self, users: dict[str, str] | None, allow_anonymous: bool = True):
        self.users = dict(users or {})
        self.allow_anonymous = allow_anonymous

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username is None:
            return User(role=UserRole.Anonymous) if self.allow_anonymous else None
        if certificate is None:
            log.warning("refused user %r: username login is accepted only over Basic256Sha256 SignAndEncrypt", username)
            return None
        expected = self.users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), (password or "").encode()):
            log.warning("refused user %r: wrong username or password", username)
            return None
        return User(role=UserRole.User, name=username)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LineOpcUaServer:
    """Serve ``tags`` of ``source`` (any :class:`data_adapters.base.Backend`) over OPC UA on ``host:port``.

    ``port=0`` picks a free port. ``pki`` enables the Basic256Sha256 SignAndEncrypt endpoint (needed for
    writes); ``users`` maps user name -> password. The source is connected on start if needed and closed on
    stop only when ``close_source`` is true (so a test can restart the server over the same line).
    ``history_s`` (seconds, > 0) historizes every tag node for that long (None: no history, the default;
    each push then costs one more data-change callback in the server).
    """

    def __init__(self, tags: Iterable[Tag], source: Backend, *, host: str = "127.0.0.1", port: int = 4840,
                 namespace: str = DEFAULT_NAMESPACE, pki: Pki | None = None, users: dict[str, str] | None = None,
                 allow_anonymous: bool = True, close_source: bool = False, name: str = "Line Workbench virtual line",
                 history_s: float | None = None):
        self.tags = {t.path: t for t in tags}
        if not self.tags:
            raise ValueError("LineOpcUaServer needs at least one tag to serve")
        if history_s is not None and not (isinstance(history_s, (int, float)) and 0 < history_s < float("inf")):
            raise ValueError(f"LineOpcUaServer: history_s must be a number of seconds > 0 (or None for no "
                             f"history), got {history_s!r}")
        self.history_s = None if history_s is None else float(history_s)
        self.source = source
        self.host, self.port = host, (port or free_port(host))
        self.namespace, self.pki, self.name = namespace, pki, name
        self.users, self.allow_anonymous, self.close_source = users or {}, allow_anonymous, close_source
        self._hold = WriteHold()
        self._server: Server | None = None  # set while serving
        self._built: Server | None = None
        self._nodeids: dict[str, ua.NodeId] = {}
        self._paths: dict[ua.NodeId, str] = {}
        self._sub = None
        self.updates = 0  # values pushed into the address space (for benchmarks)
        self._history: HistoryDict | None = None  # set when history_s is
        self._last_saved: dict[ua.NodeId, tuple[float, int]] = {}

    @property
    def server(self) -> Server | None:
        """The asyncua ``Server`` (after the first start), e.g. to add nodes of other types."""
        return self._built

    @property
    def url(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/line-workbench/"

    async def __aenter__(self) -> "LineOpcUaServer":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _configure(self) -> Server:
        server = Server(user_manager=LineUsers(self.users, self.allow_anonymous))
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name(self.name)
        await server.set_application_uri(self.pki.server_uri if self.pki else "urn:line-workbench:server")
        policies = [ua.SecurityPolicyType.NoSecurity] if self.allow_anonymous else []
        tokens = [ua.AnonymousIdentityToken] if self.allow_anonymous else []
        if self.pki is not None:
            await server.load_certificate(str(self.pki.server_cert))
            await server.load_private_key(str(self.pki.server_key))
            policies.append(ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt)
            tokens.append(ua.UserNameIdentityToken)
            store = TrustStore([self.pki.trusted], [])
            await store.load()
            server.set_certificate_validator(CertificateValidator(
                CertificateValidatorOptions.BASIC_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
                | CertificateValidatorOptions.TRUSTED, store))
        if not policies:
            raise ValueError("no endpoint left: give a pki for the encrypted endpoint or allow anonymous read-only")
        server.set_security_policy(policies, permission_ruleset=WritesNeedLogin())
        server.set_identity_tokens(tokens)
        return server

    async def _build_address_space(self, server: Server) -> None:
        ns = await server.register_namespace(self.namespace)
        objects = ua.NodeId(ua.ObjectIds.ObjectsFolder)
        folders: dict[str, ua.NodeId] = {}
        items: list[ua.AddNodesItem] = []
        for path, tag in self.tags.items():
            parts = path.split("/")
            parent = objects
            for depth in range(1, len(parts)):
                prefix = "/".join(parts[:depth])
                if prefix not in folders:
                    folders[prefix] = ua.NodeId(prefix, ns)
                    items.append(_folder_item(folders[prefix], parent, ua.QualifiedName(parts[depth - 1], ns)))
                parent = folders[prefix]
            nodeid = ua.NodeId(path, ns)
            self._nodeids[path], self._paths[nodeid] = nodeid, path
            items.append(_variable_item(nodeid, parent, ua.QualifiedName(parts[-1], ns), tag,
                                        historizing=self.history_s is not None))
            items.append(_property_item(ua.NodeId(f"{path}#EngineeringUnits", ns), nodeid,
                                        "EngineeringUnits", ua.Variant(eu_information(tag.units),
                                                                       ua.VariantType.ExtensionObject),
                                        ua.NodeId(ua.ObjectIds.EUInformation)))
            items.append(_property_item(ua.NodeId(f"{path}#EURange", ns), nodeid, "EURange",
                                        ua.Variant(eu_range(tag), ua.VariantType.ExtensionObject),
                                        ua.NodeId(ua.ObjectIds.Range)))
        results = await server.iserver.isession.add_nodes(items)
        bad = [(i.BrowseName.Name, r.StatusCode) for i, r in zip(items, results) if not r.StatusCode.is_good()]
        if bad:
            raise RuntimeError(f"OPC UA address space could not be built: {bad[:3]}")

    async def start(self) -> None:
        """Build the address space, connect the source, mirror its values, accept writes."""
        if not self.source.connected:  # first: a line whose clock starts at connect keeps to the wall clock
            await self.source.connect()
        server = self._built
        if server is None:  # building the standard address space takes seconds: do it once, restart cheaply
            server = await self._configure()
            await self._build_address_space(server)
            if self.history_s is not None:
                await self._enable_history(server)
            server.subscribe_server_callback(CallbackType.PostWrite, self._on_client_write)
            self._built = server
        # Current values first, so a client reading right after start sees the line, not zeros.
        try:
            for r in (await self.source.read(list(self.tags))).values():
                await self._push(server, r)
        except Exception as exc:  # a source that cannot be read yet is not fatal: values will follow
            log.warning("initial read of the line failed: %s", exc)
        await server.start()
        self._server = server
        self._sub = await self.source.subscribe(list(self.tags), self._on_reading)
        log.info("OPC UA server for %d tags at %s", len(self.tags), self.url)

    async def stop(self) -> None:
        """Stop serving (clients see the connection drop); ``start()`` serves again on the same port.

        The source keeps running unless ``close_source``."""
        if self._sub is not None:
            await self.source.unsubscribe(self._sub)
            self._sub = None
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
        if self.close_source:
            await self.source.close()

    async def _enable_history(self, server: Server) -> None:
        """Register every tag node with asyncua's in-memory history store (``HistoryDict``).

        Why not ``Server.historize_node_data_change``: that feeds the store from an internal subscription
        which ``stop()`` closes and a restart does not reopen; :meth:`_push` saves changes directly instead
        (same StatusValue trigger, no extra publish loop), so history survives a stop/start."""
        storage = HistoryDict()
        server.iserver.history_manager.set_storage(storage)
        await storage.init()
        period = timedelta(seconds=self.history_s)
        for nodeid in self._nodeids.values():
            await storage.new_historized_node(nodeid, period)
        self._history = storage

    async def _push(self, server: Server, r: Reading) -> None:
        nodeid = self._nodeids.get(r.path)
        if nodeid is None:
            return
        value, status = float(r.value), status_of(r.quality)
        dv = ua.DataValue(Value=ua.Variant(value, ua.VariantType.Double), StatusCode=status,
                          SourceTimestamp=r.source_time, ServerTimestamp=datetime.now(timezone.utc))
        await server.write_attribute_value(nodeid, dv)
        self.updates += 1
        if self._history is not None:  # keep what a subscription would report: a change of value or status
            last = self._last_saved.get(nodeid)
            if last is None or last[1] != status.value or not (last[0] == value or (value != value and last[0] != last[0])):
                self._last_saved[nodeid] = (value, status.value)
                await self._history.save_node_value(nodeid, dv)

    async def _on_reading(self, r: Reading) -> None:
        if self._server is not None:
            await self._push(self._server, self._hold.view(r))

    async def _on_client_write(self, event, _dispatcher) -> None:
        """A client wrote: pass accepted setpoint writes to the line (the server checked the user)."""
        for item, status in zip(event.request_params.NodesToWrite, event.response_params or []):
            path = self._paths.get(item.NodeId)
            if path is None or not status.is_good() or item.AttributeId != ua.AttributeIds.Value:
                continue
            value = float(item.Value.Value.Value)
            try:
                # The node now holds the value, like a PLC register; older samples of the line must not
                # overwrite it (the line scans its setpoints at its own rate).
                applied = await self._hold.write(self.source, path, value)
                log.info("user %s wrote %s = %g", getattr(event.user, "name", None), path, applied)
                if applied != value and self._server is not None:  # the line clamped it: show what it took
                    await self._push(self._server, Reading(path, applied, self.tags[path].units, datetime.now(timezone.utc)))
            except Exception:
                log.exception("the line refused %s = %g", path, value)


def _folder_item(nodeid: ua.NodeId, parent: ua.NodeId, name: ua.QualifiedName) -> ua.AddNodesItem:
    item = ua.AddNodesItem()
    item.RequestedNewNodeId, item.BrowseName, item.ParentNodeId = nodeid, name, parent
    item.NodeClass = ua.NodeClass.Object
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.Organizes)
    item.TypeDefinition = ua.NodeId(ua.ObjectIds.FolderType)
    attrs = ua.ObjectAttributes()
    attrs.DisplayName = ua.LocalizedText(name.Name)
    attrs.Description = ua.LocalizedText(name.Name)
    attrs.EventNotifier = 0
    item.NodeAttributes = attrs
    return item


def _variable_item(nodeid: ua.NodeId, parent: ua.NodeId, name: ua.QualifiedName, tag: Tag, *,
                   historizing: bool = False) -> ua.AddNodesItem:
    item = ua.AddNodesItem()
    item.RequestedNewNodeId, item.BrowseName, item.ParentNodeId = nodeid, name, parent
    item.NodeClass = ua.NodeClass.Variable
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.Organizes)
    item.TypeDefinition = ua.NodeId(ua.ObjectIds.AnalogItemType)
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(tag.short_name)
    attrs.Description = ua.LocalizedText(tag.description or tag.short_name)
    attrs.DataType = ua.NodeId(ua.ObjectIds.Double)
    attrs.ValueRank = ua.ValueRank.Scalar
    attrs.Value = ua.Variant(float("nan"), ua.VariantType.Double)
    access = ua.AccessLevel.CurrentRead.mask
    if tag.writable:
        access |= ua.AccessLevel.CurrentWrite.mask
    if historizing:
        access |= ua.AccessLevel.HistoryRead.mask
    attrs.AccessLevel = attrs.UserAccessLevel = access
    attrs.MinimumSamplingInterval = 0.0
    attrs.Historizing = historizing
    item.NodeAttributes = attrs
    return item


def _property_item(nodeid, parent, name: str, value: ua.Variant, datatype: ua.NodeId) -> ua.AddNodesItem:
    item = ua.AddNodesItem()
    item.RequestedNewNodeId, item.BrowseName, item.ParentNodeId = nodeid, ua.QualifiedName(name, 0), parent
    item.NodeClass = ua.NodeClass.Variable
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasProperty)
    item.TypeDefinition = ua.NodeId(ua.ObjectIds.PropertyType)
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(name)
    attrs.Description = ua.LocalizedText(name)
    attrs.DataType = datatype
    attrs.ValueRank = ua.ValueRank.Scalar
    attrs.Value = value
    attrs.AccessLevel = attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    item.NodeAttributes = attrs
    return item


__all__ = ["LineOpcUaServer", "LineUsers", "WritesNeedLogin", "free_port"]

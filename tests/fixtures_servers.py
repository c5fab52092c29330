"""Fixtures that start real peers on 127.0.0.1: an asyncua OPC UA server, a mosquitto broker.

Servers run in their own thread with their own event loop (as a plant server is its own process), so a
test's loop only holds the client under test, and a server can be stopped and restarted mid-test.
Every wait is bounded; nothing sleeps a fixed time. A missing mosquitto binary fails, never skips.

Owned by the adapters engineer."""

from __future__ import annotations

import asyncio
import getpass
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from workbench.config import LineConfig, default_config_path, load_line_config

MOSQUITTO = "/usr/sbin/mosquitto"
OPCUA_USERS = {"operator": "correct horse battery staple"}


class LoopThread:
    """An asyncio loop in a daemon thread; ``run(coro)`` executes there and returns its result."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


# --- the virtual line ----------------------------------------------------------------------------------
def line_source(line: LineConfig, seed: int = 0, tick_s: float = 0.25):
    """A virtual line of its own (writes change the line, so servers do not share one), clock from now,
    serving every sample as a station does, however loaded the machine is (``every_sample``)."""
    import pandas as pd

    from data_adapters.sim import SimBackend

    return SimBackend(line, seed=seed, tick_s=tick_s, start=pd.Timestamp.now(tz="UTC").floor("s"), every_sample=True)


# --- OPC UA ----------------------------------------------------------------------------------------
@dataclass
class OpcUaLine:
    """A running OPC UA server of the line (in its own thread)."""

    server: object
    loop: LoopThread
    pki: object
    users: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.loop.run(self.server.stop())

    def start(self) -> None:
        self.loop.run(self.server.start(), timeout=60)

    def settings(self, *, secure: bool = False, username: str | None = None, **kw):
        from workbench.config import OpcUaAdapter

        if not secure:
            return OpcUaAdapter(kind="opcua", url=self.url, username=username, **kw)
        return OpcUaAdapter(kind="opcua", url=self.url, security="Basic256Sha256_SignAndEncrypt",
                            username=username, certificate=str(self.pki.client_cert),
                            private_key=str(self.pki.client_key), server_certificate=str(self.pki.server_cert), **kw)


@pytest.fixture(scope="session")
def line_config() -> LineConfig:
    return load_line_config(default_config_path())


@pytest.fixture(scope="session")
def opcua_pki(tmp_path_factory):
    from data_adapters.opcua_pki import make_pki

    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def opcua_line(line_config, opcua_pki):
    """The virtual line served over OPC UA (None + Basic256Sha256 endpoints) on a free port."""
    from data_adapters.opcua_server import LineOpcUaServer

    loop = LoopThread("opcua-server")
    server = LineOpcUaServer(line_config.tags.values(), line_source(line_config), port=0, pki=opcua_pki,
                             users=OPCUA_USERS, close_source=True)
    running = OpcUaLine(server, loop, opcua_pki, OPCUA_USERS)
    try:
        running.start()
        yield running
    finally:
        try:
            loop.run(server.stop())
        finally:
            loop.close()


# --- mosquitto ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Poll until ``host:port`` accepts TCP connections; fail with the reason after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"mosquitto exited with code {proc.returncode}: {out[-2000:]}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout} s")


class Mosquitto:
    """A mosquitto broker on 127.0.0.1 with persistence, startable and stoppable (same port, same store)."""

    def __init__(self, workdir: Path, port: int | None = None, binary: str = MOSQUITTO, *,
                 allow_anonymous: bool = True, extra_conf: str = "", extra_ports: tuple[int, ...] = ()):
        found = binary if Path(binary).is_file() else shutil.which(Path(binary).name)
        if not found:
            pytest.fail(f"mosquitto broker not found at {binary}: install the Debian package "
                        "(apt-get install mosquitto, or run scripts/setup.sh); the MQTT tests need a real broker",
                        pytrace=False)
        self.binary = found
        self.workdir = Path(workdir)
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        (self.workdir / "store").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {str(allow_anonymous).lower()}\n"
            "persistence true\n"
            f"persistence_location {self.workdir / 'store'}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 0\n"
            "persistent_client_expiration 1h\n"
            f"log_dest file {self.log}\n"
            # started as root, mosquitto drops to user 'mosquitto', which cannot write our store or log
            f"user {getpass.getuser()}\n"
            + extra_conf
        )
        self.ports = (self.port, *extra_ports)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        for port in self.ports:
            wait_for_port(self.host, port, timeout, self.proc)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: mosquitto saves its persistent store (sessions, queued QoS 1 messages) and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None


def running(server):
    """Start ``server``, yield it, stop it whatever happens (the body of every server fixture)."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    yield from running(Mosquitto(tmp_path_factory.mktemp("mosquitto")))


@dataclass
class MqttLine:
    """The line published to a running mosquitto (publisher in its own thread)."""

    broker: Mosquitto
    publisher: object
    loop: LoopThread

    def settings(self, client_id: str, **kw):
        from workbench.config import MqttAdapter

        return MqttAdapter(kind="mqtt", host=self.broker.host, port=self.broker.port, client_id=client_id, **kw)


@pytest.fixture(scope="session")
def mqtt_line(mosquitto, line_config):
    """The virtual line published on the test broker, executing write commands."""
    from data_adapters.mqtt_publisher import LineMqttPublisher

    loop = LoopThread("mqtt-station")
    pub = LineMqttPublisher(line_config.tags.values(), line_source(line_config), host=mosquitto.host,
                            port=mosquitto.port, client_id=f"station-{mosquitto.port}", close_source=True)
    try:
        loop.run(pub.start())
        yield MqttLine(mosquitto, pub, loop)
    finally:
        try:
            loop.run(pub.stop())
        finally:
            loop.close()


# --- a secured mosquitto: logins, TLS with a private CA, client certificates ------------------------------
MQTT_USERS = {"station": "line publisher pw 7", "engineer": "tamed-kettle-41"}


@dataclass
class BrokerPki:
    """PEM files of a private CA, the broker's certificate (CN/SAN 127.0.0.1) and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: trusting it instead must fail verification


def make_broker_pki(directory: Path) -> BrokerPki:
    """Generate the PKI with ``cryptography`` (EC P-256, valid from 5 min ago for 2 days)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Line Workbench tests"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def builder(subject, issuer, public_key):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=2)))

    def ca(cn):
        key = ec.generate_private_key(ec.SECP256R1())
        usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False)
        cert = (builder(name(cn), name(cn), key.public_key())
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(usage, critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cert, key

    def leaf(cn, issuer, issuer_key, purpose, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        b = (builder(name(cn), issuer.subject, key.public_key())
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
        if san is not None:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(issuer_key, hashes.SHA256()), key

    def write(path, cert=None, key=None):
        if cert is not None:
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        else:
            path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return path

    ca_cert, ca_key = ca("Line Workbench test site CA")
    other, _ = ca("Some other CA")
    server, server_key = leaf("127.0.0.1", ca_cert, ca_key, ExtendedKeyUsageOID.SERVER_AUTH,
                              [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client, client_key = leaf("engineer", ca_cert, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH)
    d = directory
    return BrokerPki(write(d / "ca.pem", ca_cert), write(d / "server.pem", server), write(d / "server.key", key=server_key),
                     write(d / "client.pem", client), write(d / "client.key", key=client_key),
                     write(d / "other_ca.pem", other))


class SecureMosquitto(Mosquitto):
    """mosquitto with ``allow_anonymous false`` and a ``password_file`` (made by ``mosquitto_passwd -b``) on
    three listeners: plain ``port``, TLS ``tls_port`` and TLS with a required client certificate ``mtls_port``."""

    def __init__(self, workdir: Path, users: dict[str, str] = MQTT_USERS):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.pki = make_broker_pki(workdir / "pki")
        self.users = dict(users)
        self.password_file = workdir / "passwd"
        passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        for i, (user, password) in enumerate(self.users.items()):
            subprocess.run([passwd, *(["-c"] if i == 0 else []), "-b", str(self.password_file), user, password],
                           check=True, capture_output=True, timeout=30)
        with socket.socket() as a, socket.socket() as b, socket.socket() as c:  # held together: three distinct ports
            for sock in (a, b, c):
                sock.bind(("127.0.0.1", 0))
            port, self.tls_port, self.mtls_port = (sock.getsockname()[1] for sock in (a, b, c))
        tls = f"cafile {self.pki.ca}\ncertfile {self.pki.server_cert}\nkeyfile {self.pki.server_key}\n"
        super().__init__(workdir, port, allow_anonymous=False, extra_ports=(self.tls_port, self.mtls_port), extra_conf=(
            f"password_file {self.password_file}\n"
            f"listener {self.tls_port} 127.0.0.1\n{tls}"
            f"listener {self.mtls_port} 127.0.0.1\n{tls}require_certificate true\n"))

    def settings(self, client_id: str = "line-workbench", *, user: str | None = "engineer", tls: str = "tls", **kw):
        """Adapter settings for one of the listeners (``tls``: 'plain', 'tls' or 'mtls'), logging in as ``user``."""
        from workbench.config import MqttAdapter

        port = {"plain": self.port, "tls": self.tls_port, "mtls": self.mtls_port}[tls]
        if tls != "plain":
            kw.setdefault("ca_file", str(self.pki.ca))
        if tls == "mtls":
            kw.setdefault("certfile", str(self.pki.client_cert))
            kw.setdefault("keyfile", str(self.pki.client_key))
        return MqttAdapter(kind="mqtt", host=kw.pop("host", self.host), port=port, client_id=client_id,
                           username=user, tls=tls != "plain", **kw)


@pytest.fixture(scope="session")
def secure_mosquitto(tmp_path_factory):
    yield from running(SecureMosquitto(tmp_path_factory.mktemp("mosquitto-secure")))


@dataclass
class SecureMqttLine:
    """The line published over TLS with a login (user 'station') to the secured broker."""

    broker: SecureMosquitto
    publisher: object
    loop: LoopThread

    def settings(self, client_id: str, **kw):
        return self.broker.settings(client_id, **kw)


@pytest.fixture(scope="session")
def secure_mqtt_line(secure_mosquitto, line_config):
    """The virtual line on the secured broker, published with the same login/TLS keys a workbench uses."""
    from data_adapters.mqtt_publisher import LineMqttPublisher

    broker = secure_mosquitto
    loop = LoopThread("mqtt-secure-station")
    pub = LineMqttPublisher(line_config.tags.values(), line_source(line_config, seed=1),
                            settings=broker.settings(user="station"), password=broker.users["station"],
                            client_id=f"station-{broker.tls_port}", close_source=True)
    try:
        loop.run(pub.start())
        yield SecureMqttLine(broker, pub, loop)
    finally:
        try:
            loop.run(pub.stop())
        finally:
            loop.close()

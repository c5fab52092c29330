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
    """A virtual line of its own (writes change the line, so servers do not share one), clock from now."""
    import pandas as pd

    from data_adapters.sim import SimBackend

    return SimBackend(line, seed=seed, tick_s=tick_s, start=pd.Timestamp.now(tz="UTC").floor("s"))


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

    def __init__(self, workdir: Path, port: int | None = None, binary: str = MOSQUITTO):
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
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir / 'store'}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 0\n"
            "persistent_client_expiration 1h\n"
            f"log_dest file {self.log}\n"
            # started as root, mosquitto drops to user 'mosquitto', which cannot write our store or log
            f"user {getpass.getuser()}\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        wait_for_port(self.host, self.port, timeout, self.proc)

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


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


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

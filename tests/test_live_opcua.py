"""The acquisition over a real OPC UA server (asyncua, 127.0.0.1): killing the server shows the station
disconnected within 5 s; restarting it brings fresh values back without touching the dashboard side."""

import asyncio
import time
from datetime import datetime, timezone

from data_adapters.base import Quality, Reading
from data_adapters.acquisition import Acquisition
from data_adapters.opcua_server import LineOpcUaServer, free_port
from workbench.config import load_line_config

LINE = """version: 1
name: OPC UA test line
site: t
stations:
  - name: oven
    kind: generic
    title: Test station
    adapter: {{kind: opcua, url: "{url}", publishing_interval_ms: 50}}
    tags:
      - path: t/area/line1/oven/temp{{i}}
        each: {{i: [1, 3]}}
        units: degC
"""


class Ramp:
    """Source behind the server: each tag counts up every 0.1 s."""

    def __init__(self, paths):
        self.paths, self.k, self._task, self._connected = paths, 0, None, False

    @property
    def connected(self):
        return self._connected

    async def connect(self):
        self._connected = True

    async def close(self):
        self._connected = False

    async def read(self, paths):
        now = datetime.now(timezone.utc)
        return {p: Reading(p, float(self.k), "degC", now, Quality.GOOD, now) for p in paths}

    async def subscribe(self, paths, cb):
        async def run():
            while True:
                await asyncio.sleep(0.1)
                self.k += 1
                now = datetime.now(timezone.utc)
                for p in paths:
                    await cb(Reading(p, float(self.k), "degC", now, Quality.GOOD, now))
        self._task = asyncio.get_running_loop().create_task(run())
        return 1

    async def unsubscribe(self, handle):
        if self._task:
            self._task.cancel()

    async def write(self, path, value):
        raise PermissionError("read-only")


async def until(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.05)
    return cond()


async def test_server_killed_and_restarted_is_shown_disconnected_then_live_again(tmp_path):
    port = free_port()
    cfg = tmp_path / "line.yaml"
    cfg.write_text(LINE.format(url=f"opc.tcp://127.0.0.1:{port}/line-workbench/"))
    line = load_line_config(cfg)
    tags = list(line.tags.values())
    source = Ramp([t.path for t in tags])
    server = LineOpcUaServer(tags, source, port=port)
    await server.start()
    acq = Acquisition(line, capacity=500, watch_s=0.2, spc=False)
    try:
        await acq.start()
        path = tags[0].path
        assert await until(lambda: acq.store.latest(path).quality is Quality.GOOD, 15)
        assert acq.store.station_status("oven").state == "running"
        await server.stop()
        t0 = time.monotonic()
        assert await until(lambda: acq.store.station_status("oven").state == "disconnected", 8)
        assert time.monotonic() - t0 <= 5.0, "disconnected state shown later than 5 s"
        assert acq.store.latest(path).quality is Quality.DISCONNECTED
        n = acq.store.buffers[path].total
        await server.start()
        assert await until(lambda: acq.store.station_status("oven").state == "running"
                           and acq.store.buffers[path].total > n + 3, 20), "no recovery after restart"
        assert acq.store.latest(path).quality is Quality.GOOD
    finally:
        await acq.stop()
        await server.stop()

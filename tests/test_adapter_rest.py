"""The REST polling adapter against the line served by the aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from data_adapters.audit import AuditLog
from data_adapters.base import Adapter, ArmedSession, Quality, WriteRefused
from data_adapters.rest import LineRestServer, RestBackend
from fixtures_servers import LoopThread, line_source
from workbench.config import RestAdapter

PUMP = "plant1/electrode/coat1/coater/pump_rate_setpoint"
FROST = "plant1/dryroom/room1/hygrometer/frost_point_s2"
SPEED = "plant1/electrode/coat1/coater/line_speed"  # 1 Hz in the virtual line
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def rest_line(line_config):
    loop = LoopThread("rest-station")
    server = LineRestServer(line_config.tags.values(), line_source(line_config), port=0, token=TOKEN,
                            close_source=True)
    loop.run(server.start())
    try:
        yield server, loop
    finally:
        loop.run(server.stop())
        loop.close()


def _adapter(rest_line, line_config, token=None, audit=None):
    server, _ = rest_line
    tags = [line_config.tag(p) for p in (PUMP, FROST, SPEED)]
    settings = RestAdapter(kind="rest", url=server.url, poll_interval_s=0.1)
    return Adapter(tags, RestBackend(tags, settings, token=token), audit=audit, name="rest-test")


async def test_read_with_units(rest_line, line_config):
    async with _adapter(rest_line, line_config) as adapter:
        got = await adapter.read([PUMP, FROST])
    assert got[PUMP].units == "g/min" and 2500 <= got[PUMP].value <= 3400
    assert got[FROST].units == "degC" and got[FROST].quality is Quality.GOOD


async def test_write_needs_the_token(rest_line, line_config, tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite")
    session = ArmedSession.for_minutes("cy", "pump trial", 5)
    async with _adapter(rest_line, line_config, token="wrong", audit=audit) as adapter:
        with pytest.raises(WriteRefused, match="HTTP 401.*bearer token"):
            await adapter.write(PUMP, 2960.0, session=session)
    async with _adapter(rest_line, line_config, token=TOKEN, audit=audit) as adapter:
        target = (await adapter.read([PUMP]))[PUMP].value + 10
        res = await adapter.write(PUMP, target, session=session)
    assert res.accepted and res.readback == pytest.approx(target)
    assert [e["result"] for e in audit.entries()] == ["failed", "written"]


async def test_polling_flags_a_gap_and_recovers(rest_line, line_config):
    server, loop = rest_line
    queue: asyncio.Queue = asyncio.Queue()
    async with _adapter(rest_line, line_config) as adapter:
        await adapter.subscribe([SPEED], queue.put_nowait)
        r = await asyncio.wait_for(queue.get(), 5)
        assert r.quality is Quality.GOOD
        await asyncio.to_thread(loop.run, server.stop())
        while (r := await asyncio.wait_for(queue.get(), 5)).quality is not Quality.DISCONNECTED:
            pass
        assert math.isnan(r.value)
        await asyncio.to_thread(loop.run, server.start())
        back = time.monotonic()
        while (r := await asyncio.wait_for(queue.get(), 5)).quality is not Quality.GOOD:
            pass
        assert time.monotonic() - back < 5.0 and adapter.connected

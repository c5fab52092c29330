"""The sim adapter: the line's own clock for staleness and rate; a written setpoint reads back at once."""

import asyncio
from datetime import timedelta

import pytest

from data_adapters.audit import AuditLog
from data_adapters.base import ArmedSession, Quality, WriteRefused
from data_adapters.sim import sim_adapter

LASER = "plant1/assembly/weld1/welder/laser_power_setpoint"
LASER_PV = "plant1/assembly/weld1/welder/laser_power"
FROST = "plant1/dryroom/room1/hygrometer/frost_point_s1"


async def _write_and_read(tmp_path):
    adapter = sim_adapter(seed=0, speed=0.0, audit=AuditLog(tmp_path / "audit.sqlite"), tick_s=3600)
    async with adapter:
        backend = adapter.backend
        backend.live.advance(30)
        before = (await adapter.read([LASER, FROST]))
        session = ArmedSession(user="ana", reason="laser step", expires=adapter.clock() + timedelta(hours=1))
        result = await adapter.write(LASER, before[LASER].value + 50, session=session)
        after = (await adapter.read([LASER]))[LASER]
        with pytest.raises(WriteRefused, match="max_rate"):  # same line instant: no time has passed
            await adapter.write(LASER, before[LASER].value + 100, session=session)
        backend.live.advance(120)
        later = (await adapter.read([LASER, FROST]))
        stale = backend.live.now()
        backend.live.advance(600)  # the line moves on, but nobody delivers: the old reading is stale
        return before, result, after, later, adapter.qualify(later[FROST]), stale


def test_written_setpoint_reads_back_and_staleness_uses_line_time(tmp_path):
    before, result, after, later, requalified, _ = asyncio.run(_write_and_read(tmp_path))
    assert before[FROST].quality is Quality.GOOD  # sim time is 2026-01-05: not stale against the line clock
    assert result.accepted and result.readback == pytest.approx(before[LASER].value + 50)
    assert "readback matches" in result.message
    assert after.value == pytest.approx(before[LASER].value + 50)
    assert later[LASER].value == pytest.approx(before[LASER].value + 50)  # the line's own report agrees
    assert requalified.quality is Quality.STALE


async def _late_wake_up(every_sample: bool) -> list:
    """The ticker stopped, then one wake-up 3.5 line seconds late (a loaded machine): the laser's samples."""
    from data_adapters.sim import SimBackend
    from workbench.config import default_config_path, load_line_config

    backend = SimBackend(load_line_config(default_config_path()), seed=0, speed=1.0, tick_s=0.25,
                         every_sample=every_sample)
    await backend.connect()
    await backend.close()  # no ticker: the test plays its wake-up, so nothing depends on timing
    got = []

    async def keep(r):
        got.append(r.source_time)

    await backend.subscribe([LASER_PV], keep)
    backend.live.advance(10.5)
    await backend._tick(0.0)  # the present sample
    await backend._tick(3.5)
    return got


def test_a_station_delivers_every_sample_after_a_late_tick():
    """A server of the line samples on its own clock: after the sample of second 10, a 3.5 s stall still
    delivers seconds 11, 12, 13 and 14, each with its own source time. A dashboard's backend (the default)
    delivers the newest only."""
    station = asyncio.run(_late_wake_up(every_sample=True))
    gaps = [(b - a).total_seconds() for a, b in zip(station, station[1:])]
    assert len(station) == 5 and gaps == [1.0] * 4, station
    dashboard = asyncio.run(_late_wake_up(every_sample=False))
    assert [(b - a).total_seconds() for a, b in zip(dashboard, dashboard[1:])] == [4.0]

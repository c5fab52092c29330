"""The acquisition task: adapters -> shared store; one per process for any number of sessions;
a lost transport is marked disconnected within the watchdog period and recovers by itself."""

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

from data_adapters.base import Adapter, BackendError, Quality, Reading
from data_adapters import acquisition as live
from data_adapters.acquisition import Acquisition, load_events, shared_acquisition, sim_options_from_env
from workbench.live import LiveError
from workbench.config import default_config_path, load_line_config

FROST1 = "plant1/dryroom/room1/hygrometer/frost_point_s1"


class ScriptedBackend:
    """A transport the test drives by hand: push readings, drop and restore the connection."""

    def __init__(self):
        self._connected = False
        self.callbacks = []
        self.connects = 0

    @property
    def connected(self):
        return self._connected

    async def connect(self):
        self.connects += 1
        self._connected = True

    async def close(self):
        self._connected = False

    async def read(self, paths):
        if not self._connected:
            raise BackendError("down")
        return {}

    async def subscribe(self, paths, on_reading):
        self.callbacks.append(on_reading)
        return len(self.callbacks)

    async def unsubscribe(self, handle):
        pass

    async def write(self, path, value):
        raise BackendError("read-only")

    async def push(self, path, value):
        now = datetime.now(timezone.utc)
        for cb in self.callbacks:
            await cb(Reading(path, value, "degC", now, Quality.GOOD, now))


async def until(cond, timeout=10.0, step=0.05):
    """Poll ``cond`` until true or ``timeout`` seconds (bounded; no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(step)
    return cond()


@pytest.fixture(scope="module")
def line():
    return load_line_config(default_config_path())


async def test_acquisition_fills_store_and_marks_a_dropped_transport_disconnected(line):
    backend = ScriptedBackend()
    dry = line.station("dryroom")
    adapter = Adapter(dry.tags, backend, name="dryroom")
    acq = Acquisition(line, adapters=[(["dryroom"], adapter)], capacity=100, watch_s=0.1, spc=False)
    await acq.start()
    try:
        await backend.push(FROST1, -50.0)
        assert acq.store.latest(FROST1).value == -50.0
        assert acq.store.station_status("dryroom").state == "running"
        backend._connected = False  # the server went away
        t0 = time.monotonic()
        assert await until(lambda: acq.store.station_status("dryroom").state == "disconnected", timeout=5)
        assert time.monotonic() - t0 < 5.0  # the bound: disconnected shown within 5 s
        assert acq.store.latest(FROST1).quality is Quality.DISCONNECTED
        backend._connected = True
        await backend.push(FROST1, -49.0)
        assert acq.store.station_status("dryroom").state == "running"
        assert not [a for a in acq.store.alarms.active() if a.kind == "disconnected" and a.active]
    finally:
        await acq.stop()


async def test_station_down_at_start_is_disconnected_not_an_exception(line):
    class Refusing(ScriptedBackend):
        async def connect(self):
            raise BackendError("connection refused")

    adapter = Adapter(line.station("welding").tags, Refusing(), name="welding")
    acq = Acquisition(line, adapters=[(["welding"], adapter)], capacity=10, watch_s=0.1, spc=False)
    await acq.start()
    try:
        st = acq.store.station_status("welding")
        assert st.state == "disconnected" and st.alarms == 1
        assert "connection refused" in acq.store.alarms.active()[0].message
    finally:
        await acq.stop()


async def test_one_acquisition_serves_many_sessions(line, tmp_path, monkeypatch):
    live.reset_shared()
    made = []

    def factory(cfg):
        backend = ScriptedBackend()
        made.append(backend)
        return Acquisition(cfg, adapters=[(["dryroom"], Adapter(cfg.station("dryroom").tags, backend))],
                           capacity=10, watch_s=0.1, spc=False)

    try:
        sessions = [shared_acquisition(default_config_path(), factory=factory) for _ in range(10)]
        assert all(s is sessions[0] for s in sessions) and len(made) == 1
        assert await until(lambda: made[0].connects == 1 and len(made[0].callbacks) == 1)
        await made[0].push(FROST1, -51.0)
        assert {s.store.latest(FROST1).value for s in sessions} == {-51.0}
        other = tmp_path / "line2.yaml"
        other.write_text(default_config_path().read_text().replace("Virtual cell line 1", "Line 2"))
        second = shared_acquisition(other, factory=factory)
        assert second is not sessions[0] and second.line.name == "Line 2"  # one per line config
    finally:
        for acq in list(live._SHARED.values()):
            await acq.stop()
        live.reset_shared()


async def test_virtual_line_feeds_every_station_through_the_sim_adapter(line, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SIM_SPEED", "30")
    acq = Acquisition(line, capacity=200, watch_s=0.2, spc=False)
    await acq.start()
    try:
        names = [s.name for s in line.stations]
        ok = await until(lambda: all(acq.store.station_status(n).state == "running" for n in names), timeout=20)
        assert ok, {n: acq.store.station_status(n).state for n in names}
        lane = "plant1/electrode/coat1/gauge/areal_mass_lane12"
        got = acq.store.latest(lane)
        assert got.units == "mg/cm^2" and 15.0 < got.value < 20.0 and got.quality is Quality.GOOD
        # source timestamps are wall-clock time (the live line starts now): freshness means what it says
        assert abs((got.source_time - datetime.now(timezone.utc)).total_seconds()) < 600
        n0 = acq.store.buffers[lane].total
        assert await until(lambda: acq.store.buffers[lane].total > n0, timeout=10)  # values keep coming
    finally:
        await acq.stop()


def test_sim_options_from_env(tmp_path):
    ev = tmp_path / "events.yaml"
    ev.write_text("- {kind: dewpoint_excursion, start: 30s, end: 10min, magnitude: 9}\n")
    opts = sim_options_from_env({"WORKBENCH_SIM_SPEED": "20", "WORKBENCH_SIM_SEED": "3",
                                 "WORKBENCH_SIM_EVENTS": str(ev)})
    assert opts["speed"] == 20.0 and opts["seed"] == 3
    start = opts["live_start"]
    assert start.microsecond == 0 and start.tzinfo is None
    assert abs((start - datetime.now(timezone.utc).replace(tzinfo=None)).total_seconds()) < 5
    assert opts["epoch"] == start - timedelta(hours=live.WARM_START_H)
    assert opts["events"] == [{"kind": "dewpoint_excursion", "start": (start + timedelta(seconds=30)).isoformat(),
                               "end": (start + timedelta(minutes=10)).isoformat(), "magnitude": 9}]
    assert sim_options_from_env({"WORKBENCH_SIM_EVENTS": "none"})["events"] is None
    with pytest.raises(LiveError, match="WORKBENCH_SIM_SPEED"):
        sim_options_from_env({"WORKBENCH_SIM_SPEED": "fast"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: x\n")
    with pytest.raises(LiveError, match="YAML list"):
        load_events(bad)


def test_the_genealogy_source_is_chosen_when_the_acquisition_is_built_not_when_it_is_read(line, tmp_path,
                                                                                         monkeypatch):
    """Reading ``acq.adapters`` or ``acq.store`` changes nothing: the adapters and the store's genealogy source
    (WORKBENCH_GENEALOGY, else the virtual line behind a sim adapter, else none) are set up by the constructor."""
    from workbench.genealogy import CatalogGenealogy, VirtualLineGenealogy

    monkeypatch.delenv("WORKBENCH_GENEALOGY", raising=False)
    opc_only = Acquisition(line, adapters=[(["dryroom"], Adapter(line.station("dryroom").tags, ScriptedBackend()))])
    assert opc_only.store.genealogy is None
    before = (list(opc_only.adapters), opc_only.store.genealogy)
    assert (list(opc_only.adapters), opc_only.store.genealogy) == before  # a read is a read
    sim = Acquisition(line)  # the virtual line of the shipped config: it knows its genealogy
    assert isinstance(sim.store.genealogy, VirtualLineGenealogy) and len(sim.adapters) == 1
    monkeypatch.setenv("WORKBENCH_GENEALOGY", str(tmp_path))
    assert isinstance(Acquisition(line).store.genealogy, CatalogGenealogy)

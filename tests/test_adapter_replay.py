"""Replay of recorded files as a live station: the real Novonix and BDF exports in ../shared/data."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd
import pytest

from data_adapters.audit import AuditLog
from data_adapters.base import Adapter, ArmedSession, Quality, WriteRefused
from data_adapters.replay import RecordingError, ReplayBackend, load_recording
from workbench.config import ReplayAdapter, Setpoint, Tag

NOVONIX = "formation/novonix_formation_ch01_first_charge.csv"
BDF = "cycling/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"
CH = "plant1/formation/rack1/ch01"


def _adapter(path, tags, speed, audit=None, **kw):
    settings = ReplayAdapter(kind="replay", path=str(path), speed=speed, **kw)
    return Adapter(tags, ReplayBackend(tags, settings, tick_s=0.05), audit=audit, name="replay-test")


def test_novonix_export_is_read_with_bdf_names(shared_data):
    rec = load_recording(shared_data / NOVONIX)
    assert rec.units["voltage_volt"] == "V" and rec.units["current_ampere"] == "A"
    assert rec.units["cell_temperature_celsius"] == "degC"
    assert len(rec.t_s) == 3942  # every row of the [Data] block (NOTICE.md says 3,958; the file has 3,942)
    assert rec.duration_s == pytest.approx(17.4 * 3600, rel=0.01)
    assert rec.columns["voltage_volt"][0] == pytest.approx(0.13736417)
    assert rec.start == pd.Timestamp("2022-04-11 10:58:07", tz="UTC")
    assert np.all(np.diff(rec.t_s) >= 0)


async def test_novonix_plays_as_a_formation_channel_in_order(shared_data):
    tags = [Tag(path=f"{CH}/voltage", units="V"), Tag(path=f"{CH}/current", units="mA"),
            Tag(path=f"{CH}/temperature", units="degC")]
    queue: asyncio.Queue = asyncio.Queue()
    async with _adapter(shared_data / NOVONIX, tags, speed=20000) as adapter:  # 5.6 recorded hours / s
        await adapter.subscribe([t.path for t in tags], queue.put_nowait)
        got = []
        deadline = time.monotonic() + 10
        while len([r for r in got if r.path == f"{CH}/voltage"]) < 200 and time.monotonic() < deadline:
            got.append(await asyncio.wait_for(queue.get(), 5))
    volts = [r for r in got if r.path == f"{CH}/voltage"]
    assert len(volts) >= 200 and volts[0].value == pytest.approx(0.13736417) and volts[0].units == "V"
    times = [r.source_time for r in volts]
    assert times == sorted(times) and len(set(times)) == len(times)  # every recorded sample, in order
    rec = load_recording(shared_data / NOVONIX)
    expect_ma = rec.columns["current_ampere"][:50] * 1000
    got_ma = [r.value for r in got if r.path == f"{CH}/current"][:50]
    assert got_ma == pytest.approx(list(expect_ma))  # A in the file, mA on the tag
    assert all(r.quality is Quality.GOOD for r in got)


async def test_bdf_replay_runs_at_the_requested_speed(shared_data):
    tags = [Tag(path=f"{CH}/voltage", units="V")]
    async with _adapter(shared_data / BDF, tags, speed=1000) as adapter:
        t0 = time.monotonic()
        await asyncio.sleep(0.3)
        pos = adapter.backend.position_s()
        elapsed = time.monotonic() - t0
        r = (await adapter.read([f"{CH}/voltage"]))[f"{CH}/voltage"]
    assert pos == pytest.approx(1000 * elapsed, abs=150)  # ×1000 of wall time
    rec = load_recording(shared_data / BDF)
    i = np.searchsorted(rec.t_s, (r.source_time - adapter.backend._anchor).total_seconds() + 1e-6, "right") - 1
    assert r.value == pytest.approx(rec.columns["voltage_volt"][i]) and 2.0 < r.value < 4.5


async def test_replay_is_read_only_and_says_so_in_the_audit(shared_data, tmp_path):
    sp = Tag(path=f"{CH}/voltage", units="V", setpoint=Setpoint(writable=True, min=0, max=5, max_step=5, max_rate=10))
    audit = AuditLog(tmp_path / "audit.sqlite")
    async with _adapter(shared_data / BDF, [sp], speed=1, audit=audit) as adapter:
        current = (await adapter.read([sp.path]))[sp.path].value
        with pytest.raises(WriteRefused, match="read-only"):
            await adapter.write(sp.path, current + 0.01, session=ArmedSession.for_minutes("dee", "t", 1))
    [entry] = audit.entries()
    assert entry["result"] == "failed" and "recorded station takes no setpoints" in entry["message"]


async def test_wide_and_long_history_files(tmp_path):
    path = "plant1/dryroom/room1/hygrometer/frost_point_s1"
    times = pd.date_range("2026-01-05 06:00", periods=50, freq="1s", tz="UTC")
    wide = pd.DataFrame({"time": times, path: np.linspace(-60, -55, 50)})
    wide.to_parquet(tmp_path / "h.parquet")
    long = pd.DataFrame({"time": times, "path": path, "value": np.linspace(213.15, 218.15, 50), "units": "K"})
    long.to_csv(tmp_path / "h.csv", index=False)
    tag = Tag(path=path, units="degC")
    for f in ("h.parquet", "h.csv"):
        async with _adapter(tmp_path / f, [tag], speed=1, anchor="recorded") as adapter:
            r = (await adapter.read([path]))[path]
        assert r.value == pytest.approx(-60.0) and r.source_time == times[0]
        assert r.quality is Quality.STALE  # recorded times are old: the shared staleness rule applies


async def test_missing_column_and_wrong_units_are_clear_errors(shared_data):
    with pytest.raises(RecordingError, match=r"no column for tag plant1/formation/rack1/ch01/pressure.*columns are"):
        async with _adapter(shared_data / BDF, [Tag(path=f"{CH}/pressure", units="Pa")], speed=1):
            pass
    with pytest.raises(RecordingError, match=r"holds 'V' but the tag says 'A'"):
        async with _adapter(shared_data / BDF, [Tag(path=f"{CH}/voltage", units="A")], speed=1):
            pass
    with pytest.raises(RecordingError, match="no such recording"):
        load_recording(shared_data / "nope.csv")

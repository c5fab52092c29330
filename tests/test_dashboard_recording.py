"""The dashboard server records what it shows into its history store (apps.dashboard.recording)."""

from __future__ import annotations

import asyncio
import time

import pandas as pd

from apps.dashboard.recording import HistoryAcquisition
from workbench.config import default_config_path, load_line_config


async def test_a_sped_up_virtual_line_is_recorded_on_its_own_clock(tmp_path, monkeypatch):
    """`workbench demo --speed 30` runs the virtual line ahead of this computer's clock. Its samples are judged
    against the line's own clock: before, every sample stamped more than 300 s ahead of the wall clock was
    refused ("source clock wrong?") and the demo's store stopped growing after 10 s."""
    monkeypatch.setenv("WORKBENCH_SIM_SPEED", "120")
    monkeypatch.setenv("WORKBENCH_SIM_EVENTS", "none")
    acq = HistoryAcquisition(load_line_config(default_config_path()), str(tmp_path / "store"), seed_hours=0)
    await acq.start()
    try:
        line_time = acq.adapters[0][1].backend.line_time
        ahead = lambda: (pd.Timestamp(line_time()) - pd.Timestamp.now(tz="UTC")).total_seconds()  # noqa: E731
        deadline = time.monotonic() + 120
        while ahead() < 600 or acq.recorder.stats.stored == 0:  # bounded: 120 s of wall time
            assert time.monotonic() < deadline, (ahead(), acq.recorder.stats)
            await asyncio.sleep(0.2)
        assert acq.recorder.stats.ahead == 0, acq.recorder.stats
    finally:
        await acq.stop()

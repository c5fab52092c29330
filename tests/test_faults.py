"""What a plant will do to the recorder and the history store, and what the user gets back.

Each case states what is KEPT (in the store, readable), what is MARKED (a gap record readers see, an event),
and what the user is TOLD (a log line, an error that names the file and the fix):

- OPC UA server killed and restarted (it historizes, but kept nothing while it was down);
- MQTT broker killed and restarted (no history to fill from);
- disk full (a real 4 MB tmpfs; the recorder runs in a subprocess so a SIGBUS would show as its exit status);
- read-only store (a read-only bind mount over the store folder);
- corrupt chunk (a flipped byte inside a data page; a truncated file);
- source clock jumps (ahead, then back), driven by a virtual clock.

Disk full and read-only use a real file system (tmpfs, ``mount`` needs root; CI runs as root): the errors
(ENOSPC, EROFS) come from the kernel, not from a mock. Without root these two tests fail and say why.
Every wait polls a condition with a deadline; no fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures_servers import LoopThread, Mosquitto, line_source
from test_history_record_opcua import serve_historizing

from data_adapters.base import Reading
from data_adapters.recorder import Recorder
from workbench import history
from workbench.config import default_config_path, load_line_config
from workbench.history import HistoryError

LINE = load_line_config(default_config_path())
SPEED = "plant1/electrode/coat1/coater/line_speed"             # 1 Hz
SETPOINT = "plant1/electrode/coat1/coater/line_speed_setpoint"  # change-only
REPO = Path(__file__).resolve().parents[1]


async def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


def stored_times(root, station: str, path: str) -> np.ndarray:
    name = history.variable_names(list(history.station_tags(root, station)))[path]
    da = history.open(root, station, tags=[path])[name].dropna("time")
    return da.time.values.astype("datetime64[ns]")


def assert_no_silent_hole(root, station: str, path: str, longest_s: float) -> int:
    """Every stretch longer than ``longest_s`` between two stored samples of ``path`` is covered by a stored
    gap of that tag (to within ``longest_s`` at either end). Returns the number of such holes."""
    t = stored_times(root, station, path)
    gaps = history.load_gaps(root, station)
    gaps = gaps[gaps["tag"] == path]
    g0 = gaps["start"].dt.tz_localize(None).values
    g1 = gaps["end"].dt.tz_localize(None).values
    slack = np.timedelta64(int(longest_s * 1e9), "ns")
    holes = [(a, b) for a, b in zip(t[:-1], t[1:]) if b - a > slack]
    for a, b in holes:
        assert ((g0 < b) & (g1 > a) & (g0 - a <= slack) & (b - g1 <= slack)).any(), \
            f"{path}: nothing stored from {a} to {b} and no gap marks it; gaps: {list(zip(g0, g1))}"
    return len(holes)


def connect_line(url_settings) -> object:
    return LINE.model_copy(update={"stations": [st.model_copy(update={"adapter": url_settings})
                                                for st in LINE.stations]})


# --- OPC UA server killed and restarted ------------------------------------------------------------------------
@pytest.fixture
def historizing_server():
    yield from serve_historizing(LINE)


async def test_opcua_server_killed_and_restarted(tmp_path, historizing_server, caplog):
    """KEPT: every sample before the kill and after the restart. MARKED: the time the server was down (its
    history kept nothing then, so the backfill after the reconnect cannot cover it) is a gap of every coating
    tag, an event, and `hold_last` does not carry the setpoint across it. TOLD: a log line names the gap."""
    from data_adapters.connect import open_line

    srv = historizing_server
    line = connect_line(srv.settings())
    root = tmp_path / "store"
    caplog.set_level(logging.INFO, logger="data_adapters.recorder")
    async with open_line(line) as source:
        rec = Recorder(line, source, root, flush_interval_s=0.5, grace_s=0.5, backfill=source.history)
        await rec.start()
        await until(lambda: rec._last.get(SPEED, 0) > rec._started_ns + 6e9, 30, "6 s recorded before the kill")
        before = dict(rec._last)
        await asyncio.to_thread(srv.stop)                          # the server process dies
        killed = pd.Timestamp.now(tz="UTC")
        await until(lambda: SPEED in rec._gap, 30, "the recorder hearing the link drop")
        await until(lambda: pd.Timestamp.now(tz="UTC") - killed > pd.Timedelta(seconds=5), 10,
                    "5 s of the line's time without a server")        # the outage itself is the fault
        await asyncio.to_thread(srv.start)                         # restarted; its in-memory history has a hole
        await until(lambda: rec._last.get(SPEED, 0) > killed.value + 5e9, 30, "samples after the restart")
        await until(lambda: rec.stats.gaps >= 1 and not rec._refill and
                    (rec._refill_task is None or rec._refill_task.done()), 30, "the backfill after the reconnect")
        stats = await rec.stop()
    # kept
    t = stored_times(root, "coating", SPEED)
    assert (t <= np.datetime64(pd.Timestamp(before[SPEED]).tz_localize(None))).sum() >= 5
    assert (t > np.datetime64(killed.tz_localize(None) + pd.Timedelta(seconds=5))).any()
    # marked
    gaps = history.load_gaps(root, "coating")
    assert set(history.station_tags(root, "coating")) <= set(gaps["tag"]), "every coating tag has the gap"
    g = gaps[gaps["tag"] == SPEED].iloc[0]
    assert g["end"] - g["start"] >= pd.Timedelta(seconds=4)             # (the line's clock, not the wall's)
    assert "link to the source lost; the source's history has no samples then" in g["cause"]
    assert assert_no_silent_hole(root, "coating", SPEED, 3.0) >= 1
    assert len(history.load_events(root, kind="data_gap")) >= 1
    raw = history.open(root, "coating", tags=[SPEED, SETPOINT])["line_speed_setpoint"].load()
    assert f"{g['start']:%Y-%m-%dT%H:%M:%S}" in raw.attrs["gaps"][0]
    held = history.hold_last(raw)                      # rows of the 1 Hz tag after the gap, before the setpoint's
    own = raw.time[raw.notnull()].values               # own next sample, hold nothing from before the gap
    start = np.datetime64(g["start"].tz_localize(None))
    after = own[own > start]
    rows = (raw.time > start) & raw.isnull() & ((raw.time < after[0]) if len(after) else True)
    assert bool(held.where(rows).isnull().all()), "a held setpoint crossed the gap"
    assert bool(held.isel(time=-1).notnull()), "the setpoint's own samples after the gap are held as usual"
    # told
    assert "gap marked in station coating" in caplog.text and stats.gaps >= 1


# --- MQTT broker killed and restarted -----------------------------------------------------------------------------
async def test_mqtt_broker_killed_and_restarted(tmp_path, caplog):
    """KEPT: what arrived before and after. MARKED: what never arrived while the broker was down (MQTT keeps no
    history to backfill from): no stretch without samples is unmarked. TOLD: a log line per gap."""
    from data_adapters.connect import open_line
    from data_adapters.mqtt_publisher import LineMqttPublisher
    from workbench.config import MqttAdapter

    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    station = LoopThread("faults-mqtt-station")
    pub = LineMqttPublisher(LINE.tags.values(), line_source(LINE), host=broker.host, port=broker.port,
                            client_id="faults-station", close_source=True)
    root = tmp_path / "store"
    caplog.set_level(logging.WARNING, logger="data_adapters.recorder")
    try:
        station.run(pub.start())
        line = connect_line(MqttAdapter(kind="mqtt", host=broker.host, port=broker.port, client_id="faults-rec"))
        async with open_line(line) as source:
            rec = Recorder(line, source, root, flush_interval_s=0.5, grace_s=0.5,
                           backfill=getattr(source, "history", None))
            assert rec.backfill is None                             # nothing to fill a hole from
            await rec.start()
            await until(lambda: rec._last.get(SPEED, 0) > rec._started_ns + 6e9, 30, "6 s recorded before the broker dies")
            await asyncio.to_thread(broker.stop)
            down = pd.Timestamp.now(tz="UTC")
            await until(lambda: SPEED in rec._gap, 30, "the recorder hearing the broker go")
            await until(lambda: pd.Timestamp.now(tz="UTC") - down > pd.Timedelta(seconds=4), 10,
                        "4 s of the line's time without a broker")
            await asyncio.to_thread(broker.start)
            await until(lambda: rec._last.get(SPEED, 0) > down.value + 4e9, 30, "samples after the restart")
            await until(lambda: rec.stats.gaps >= 1 and (rec._refill_task is None or rec._refill_task.done()), 30,
                        "the gap being marked")
            stats = await rec.stop()
    finally:
        station.run(pub.stop())
        station.close()
        broker.stop()
    assert (stored_times(root, "coating", SPEED) < np.datetime64(down.tz_localize(None))).sum() >= 5
    assert assert_no_silent_hole(root, "coating", SPEED, 3.0) >= 0
    gaps = history.load_gaps(root, "coating")
    assert (gaps["tag"] == SPEED).any() and "no backfill from the source" in " ".join(gaps["cause"])
    assert "gap marked in station coating" in caplog.text and stats.gaps >= 1


# --- disk full --------------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MB file system (tmpfs) at tmp_path/disk; unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.fail("the disk-full and read-only-store tests mount a 4 MB tmpfs and need root (CI runs as root)",
                    pytrace=False)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True, timeout=30)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, timeout=30)


DISK_FULL_SCRIPT = r'''
import asyncio, json, logging, sys
import pandas as pd
from data_adapters.base import Reading
from data_adapters.recorder import Recorder
from workbench.config import default_config_path, load_line_config

root, filler = sys.argv[1], sys.argv[2]
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
LINE = load_line_config(default_config_path())
SPEED = "plant1/electrode/coat1/coater/line_speed"
t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
now = [t0]

async def main():
    rec = Recorder(LINE, None, root, flush_interval_s=3600, grace_s=0.0, max_buffer=400, clock=lambda: now[0])
    rec.wal.SEGMENT_RECORDS = 4096                         # 96 kB segments: the 4 MB disk holds a few
    k = 0
    def feed(n):
        nonlocal k
        for _ in range(n):
            now[0] = t0 + pd.Timedelta(seconds=k)
            rec.on_reading(Reading(SPEED, 20.0 + k * 1e-3, "m/min", now[0].to_pydatetime()))
            k += 1
    feed(300); await rec.flush(force=True)                # stored
    with open(filler, "wb") as fh:                        # the disk fills up (another program's file)
        try:
            while True:
                fh.write(b"\0" * 65536); fh.flush()
        except OSError:
            pass
    for _ in range(3):                                    # the recorder goes on: fills its WAL segment, then
        feed(200); await rec.flush(force=True)            # new segments and chunks fail with ENOSPC
    full = dict(stats=rec.stats.__dict__.copy(), buffered=len(rec._buffer))
    import os; os.unlink(filler)                          # space comes back
    await rec.flush(force=True)                           # the held samples are stored
    feed(100); await rec.flush(force=True)
    stats = await rec.stop()
    print("RESULT " + json.dumps(dict(full=full, end=stats.__dict__, fed=k)))

asyncio.run(main())
'''


def test_disk_full(tmp_path, small_disk):
    """KEPT: everything before the disk filled; while full, up to max_buffer samples in memory, stored once
    space returns. MARKED: the samples refused once the buffer was full are a gap. TOLD: one error when chunks
    fail, one when the write-ahead log fails, one when samples are refused, and a line when it resumes.
    The process survives: a memory-mapped log on a full disk used to end in SIGBUS."""
    root, filler = small_disk / "store", small_disk / "filler"
    proc = subprocess.run([sys.executable, "-c", DISK_FULL_SCRIPT, str(root), str(filler)], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, f"recorder died with {proc.returncode} (-7 is SIGBUS):\n{proc.stdout}\n{proc.stderr}"
    out = proc.stdout
    result = json.loads(out.split("RESULT ", 1)[1])
    full, end = result["full"], result["end"]
    assert full["stats"]["store_errors"] >= 1 and full["buffered"] == 400        # kept in memory, bounded
    assert end["dropped"] == 600 - 400 and end["gaps"] == 1
    # told
    assert "cannot write history chunks" in out and "No space left on device" in out
    assert "cannot write the write-ahead log" in out
    assert "refusing samples of station coating" in out and "the store takes chunks again" in out
    # kept: all but the refused samples, each once; marked: the refused stretch
    t = stored_times(root, "coating", SPEED)
    assert len(np.unique(t)) == len(t) == result["fed"] - end["dropped"]
    gaps = history.load_gaps(root, "coating")
    assert len(gaps) == 1 and "refused" in gaps["cause"].iloc[0] and "No space left" in gaps["cause"].iloc[0]
    assert assert_no_silent_hole(root, "coating", SPEED, 1.5) == 1


# --- read-only store --------------------------------------------------------------------------------------------
async def test_read_only_store(tmp_path, small_disk, caplog):
    """KEPT: the store reads as before. TOLD: a recorder refuses to start on it with the path and the fix; a
    running recorder whose store turns read-only keeps samples in memory, says so, and stores them once the
    store is writable again. MARKED: nothing was lost, so no gap."""
    root = small_disk / "store"
    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
    rec = Recorder(LINE, None, root, flush_interval_s=3600, grace_s=0.0, clock=lambda: t0)
    for k in range(10):
        rec.accept(SPEED, (t0 + pd.Timedelta(seconds=k)).value, 20.0 + k)
    await rec.flush(force=True)
    caplog.set_level(logging.WARNING, logger="data_adapters.recorder")
    # The store folder becomes read-only (a read-only bind mount over it: what the recorder opens from now
    # on is refused with EROFS by the kernel; a file system the kernel remounted read-only after errors acts alike)
    subprocess.run(["mount", "--bind", str(root), str(root)], check=True, timeout=30)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(root)], check=True, timeout=30)
    try:
        for k in range(10, 20):
            rec.accept(SPEED, (t0 + pd.Timedelta(seconds=k)).value, 20.0 + k)
        await rec.flush(force=True)
        assert len(rec._buffer) == 10 and "Read-only file system" in caplog.text
        with pytest.raises(HistoryError, match=f"history store {root} cannot be written .*Read-only.*writable folder"):
            Recorder(LINE, None, root)
        ds = history.open(root, "coating", tags=[SPEED]).compute()
        assert int(ds["line_speed"].notnull().sum()) == 10
    finally:
        subprocess.run(["umount", str(root)], check=True, timeout=30)
    await rec.flush(force=True)
    await rec.stop()
    assert len(stored_times(root, "coating", SPEED)) == 20 and history.load_gaps(root).empty
    assert "the store takes chunks again" in caplog.text


# --- corrupt chunk ------------------------------------------------------------------------------------------------
def test_corrupt_chunk(tmp_path):
    """KEPT: every intact chunk, and the intact tags of a chunk with one damaged page. MARKED: the damaged
    values read as NaN (never as wrong numbers). TOLD: the error names the file and on_corrupt='skip'; with
    skip, a warning names the file (and the tag)."""
    import pyarrow.parquet as pq

    store = history.HistoryStore(tmp_path / "store")
    from workbench.history.fill import declare_line
    declare_line(store, LINE)
    t = pd.date_range("2026-01-05T06:00", periods=300, freq="1s", tz="UTC")
    speed = np.round(20 + np.sin(np.arange(300) / 10.0), 2)         # at the tag's resolution
    files = [store.append("coating", t[i:i + 100], {SPEED: speed[i:i + 100], SETPOINT: np.full(100, 20.0)}).file
             for i in (0, 100, 200)]
    rg = pq.ParquetFile(files[1]).metadata.row_group(0)
    col = next(rg.column(j) for j in range(rg.num_columns) if rg.column(j).path_in_schema == SPEED)
    data = bytearray(Path(files[1]).read_bytes())
    data[col.data_page_offset + col.total_compressed_size // 2] ^= 0x01   # one bit inside the data page
    Path(files[1]).write_bytes(bytes(data))
    with open(files[2], "r+b") as fh:                                    # and a file cut short
        fh.truncate(60)
    with pytest.raises(HistoryError, match=Path(files[2]).name + ".*on_corrupt='skip'"):
        history.open(store.root, "coating", tags=[SPEED])
    with pytest.warns(UserWarning) as warned:
        ds = history.open(store.root, "coating", tags=[SPEED, SETPOINT], on_corrupt="skip").compute()
    said = " ".join(str(w.message) for w in warned)
    assert Path(files[2]).name in said and f"{Path(files[1]).name}: skipped tag {SPEED}" in said
    assert ds.sizes["time"] == 200                                       # the truncated chunk's rows are gone
    np.testing.assert_allclose(ds["line_speed"].values[:100], speed[:100], atol=1e-9)
    assert np.isnan(ds["line_speed"].values[100:]).all()                 # the damaged page: NaN, not garbage
    np.testing.assert_array_equal(ds["line_speed_setpoint"].values, 20.0)


# --- source clock jumps -------------------------------------------------------------------------------------------
def test_source_clock_jumps(tmp_path, caplog):
    """A source clock that jumps an hour ahead, then back, then an hour behind the stored history.
    KEPT: every sample with a believable time. MARKED: the stretches whose samples were refused (ahead) or
    not storable (behind) are gaps. TOLD: one line for the refused, one for the late samples, one per gap."""
    t0 = pd.Timestamp("2026-01-05T06:00:00", tz="UTC")
    s = pd.Timedelta(seconds=1)
    now = [t0]
    root = tmp_path / "store"

    async def go():
        rec = Recorder(LINE, None, root, flush_interval_s=5.0, grace_s=1.0, clock=lambda: now[0])
        await rec.flush()

        async def tick(k, skew):
            now[0] = t0 + k * s                                          # the recorder's (true) clock
            rec.on_reading(Reading(SPEED, 20.0 + k, "m/min", (now[0] + skew).to_pydatetime()))
            if k % 5 == 0:
                await rec.flush()
        for k in range(0, 20):
            await tick(k, pd.Timedelta(0))
        for k in range(20, 30):                                         # the source clock is an hour ahead
            await tick(k, pd.Timedelta(hours=1))
        for k in range(30, 40):                                         # fixed
            await tick(k, pd.Timedelta(0))
        for k in range(40, 60):                                         # an hour behind
            await tick(k, -pd.Timedelta(hours=1))
        for k in range(60, 70):                                         # fixed again
            await tick(k, pd.Timedelta(0))
        return await rec.stop()

    caplog.set_level(logging.WARNING, logger="data_adapters.recorder")
    stats = asyncio.run(go())
    t = stored_times(root, "coating", SPEED)
    want = [k for k in range(70) if not 20 <= k < 30 and not 40 <= k < 60]
    np.testing.assert_array_equal(t, [np.datetime64((t0 + k * s).tz_localize(None)) for k in want])   # kept
    assert stats.ahead == 10 and stats.late == 20
    gaps = history.load_gaps(root, "coating")
    spans = sorted({(g.start, g.end, g.cause.split(":")[0]) for g in gaps.itertuples()})
    assert spans[0][:2] == (t0 + 19 * s, t0 + 30 * s) and "refused" in spans[0][2]
    assert spans[1][:2] == (t0 + 39 * s, t0 + 60 * s) and "source clock behind" in spans[1][2]
    assert "more than 300 s after this computer's clock" in caplog.text and "source clock went back" in caplog.text
    assert assert_no_silent_hole(root, "coating", SPEED, 1.5) == 2

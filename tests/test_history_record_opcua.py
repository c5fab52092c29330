"""`workbench record` over the OPC UA adapter, for real: SIGKILL it, restart it, compare with what the server sent.

The recorder runs as its own process (``python -m apps record``) against the adapters engineer's OPC UA
server fixture (the virtual line served over OPC UA, clock anchored at now). The test records every value
the server pushes into its address space (path, source time, value, wall time) and compares the store with it:

- no (tag, source timestamp) is stored twice;
- every stored value is the value the server sent for that tag and source timestamp;
- every sample the killed process had accepted (its chunks and its write-ahead log) is in the store after restart;
- no gap while a recorder runs: every value the subscription had to deliver in the two running windows is stored.

What "had to deliver" means: an OPC UA monitored item without a filter uses the DataChangeTrigger
``StatusValue`` (OPC UA Part 4, 7.17.2): the server notifies a client only when a value or status *changes*.
A setpoint the line reports every second at the same value is one notification (and one stored sample) until
it changes; a reader forward-fills. The samples expected here are therefore the pushes whose value or status
differs from the tag's previous push. While no recorder runs, nothing is delivered; a server that historizes
(``LineOpcUaServer(history_s=...)``, what ``workbench sim-server`` runs) keeps those changes and the restarted
recorder reads them back with HistoryRead, so the whole run has no gap: the store holds every change the server
pushed, once. A server without history leaves the downtime a gap, which the recorder states in one log line.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fixtures_servers import LoopThread, OpcUaLine, line_source

from data_adapters.base import Quality
from data_adapters.opcua_server import LineOpcUaServer
from data_adapters.recorder import WriteAheadLog
from workbench import history
from workbench.config import default_config_path

REPO = Path(__file__).resolve().parents[1]
SLACK_S = 1.0  # a notification published just before a window edge may be in flight: margin on wall time
HISTORY_S = 600.0  # how long the historizing server keeps changes (the test runs well under a minute)


def serve_historizing(line_config):
    """The virtual line over OPC UA with history (HistoryRead), in its own thread (a fixture's body). The
    server can be stopped and started again mid-test; its line (source) runs on until the end."""
    loop = LoopThread("opcua-history-server")
    source = line_source(line_config)
    server = LineOpcUaServer(line_config.tags.values(), source, port=0, history_s=HISTORY_S)
    running = OpcUaLine(server, loop, None)
    try:
        running.start()
        yield running
    finally:
        try:
            loop.run(server.stop())
            loop.run(source.close())
        finally:
            loop.close()


@pytest.fixture(scope="module")
def historizing_line(line_config):
    yield from serve_historizing(line_config)


def _ns(ts) -> int:
    t = pd.Timestamp(ts)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).value


def _line_yaml(tmp_path: Path, url: str) -> Path:
    raw = yaml.safe_load(default_config_path().read_text())
    for st in raw["stations"]:
        st["adapter"] = {"kind": "opcua", "url": url}
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


class RecorderProcess:
    """``python -m apps record`` in a subprocess, output in a file (never a full pipe)."""

    def __init__(self, config: Path, store: Path, log: Path):
        self.log = log
        self.out = open(log, "ab")
        self.mark = log.stat().st_size if log.exists() else 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "apps", "record", "--config", str(config), "--store", str(store),
             "--flush-interval", "1"], cwd=REPO, stdout=self.out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def text(self) -> str:
        return self.log.read_bytes()[self.mark:].decode(errors="replace")

    def wait_for(self, what: str, timeout: float) -> float:
        """Poll the output until ``what`` appears; returns the wall time (monotonic) it was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what in self.text():
                return time.monotonic()
            assert self.proc.poll() is None, f"recorder exited ({self.proc.returncode}):\n{self.text()[-3000:]}"
            time.sleep(0.1)
        raise AssertionError(f"recorder did not print {what!r} within {timeout} s:\n{self.text()[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.out.close()


def _chunks(store: Path) -> list[Path]:
    return sorted((store / "ts").glob("*/*/*.parquet"))


def _wait_chunks(store: Path, more_than: int, timeout: float, rec: RecorderProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_chunks(store)) > more_than:
            return
        assert rec.proc.poll() is None, f"recorder exited:\n{rec.text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no new history chunk within {timeout} s:\n{rec.text()[-3000:]}")


def _stored(store: Path) -> dict[str, dict[int, float]]:
    """{path: {source time ns: value}} of everything in the store's chunks; asserts no timestamp twice."""
    out = {}
    for st_file in sorted((store / "stations").glob("*.json")):
        station = st_file.stem
        ds = history.open_station(store, station).compute()
        t = ds.time.values.astype("datetime64[ns]").astype(np.int64)
        assert len(np.unique(t)) == len(t), f"{station}: a row timestamp stored twice"
        for name, var in ds.data_vars.items():
            ok = np.isfinite(var.values)
            out[var.attrs["path"]] = dict(zip(t[ok].tolist(), var.values[ok].tolist()))
    return out


def _expected(pushes, windows) -> dict[str, list[tuple[int, float]]]:
    """Per tag, the pushes a StatusValue-triggered subscription delivers (value or status changed) whose
    push time falls inside one of ``windows`` (wall-time intervals), and which are storable samples."""
    prev: dict[str, tuple[float, bool]] = {}
    out: dict[str, list[tuple[int, float]]] = {}
    for wall, path, ts, value, good in pushes:
        last = prev.get(path)  # the first push after the hook: what the server held before it is unknown
        prev[path] = (value, good)
        if last is None:
            continue
        changed = last[1] != good or not (last[0] == value or (math.isnan(value) and math.isnan(last[0])))
        if changed and good and math.isfinite(value) and any(a <= wall <= b for a, b in windows):
            out.setdefault(path, []).append((ts, value))
    return out


class Run:
    """One recording with a SIGKILL in the middle: what the server pushed, what the store holds, when."""

    def __init__(self, running, tmp_path: Path, *, first_flushes: int, down_changes: int, second_flushes: int):
        server = running.server
        self.pushes: list[tuple[float, str, int, float, bool]] = []
        original_push = server._push

        async def recording_push(srv, r):        # runs in the server's thread; list.append is atomic
            self.pushes.append((time.monotonic(), r.path, _ns(r.source_time), float(r.value),
                                r.quality is Quality.GOOD))
            await original_push(srv, r)

        server._push = recording_push
        config, store, log = _line_yaml(tmp_path, running.url), tmp_path / "store", tmp_path / "record.log"
        rec = rec2 = None
        try:
            rec = RecorderProcess(config, store, log)
            self.w1_start = rec.wait_for("recording", 90)
            _wait_chunks(store, 2, 30, rec)
            _wait_chunks(store, len(_chunks(store)) + first_flushes, 30, rec)
            rec.proc.send_signal(signal.SIGKILL)
            rec.proc.wait(10)
            self.killed_at = time.monotonic()
            # what the killed process had accepted: its chunks and the samples only its write-ahead log holds
            self.before_kill = {p: dict(v) for p, v in _stored(store).items()}
            self.wal = WriteAheadLog(store / "wal", []).replay()
            for path, ts, v in self.wal:
                self.before_kill.setdefault(path, {})[ts] = v
            # The recorder is down: the line goes on, nobody listens. Wait for a count of changes the server
            # pushed in the window the check uses (never for a time): the restart comes after them.
            deadline = time.monotonic() + 60
            while self.changes_since_kill() < down_changes:
                assert time.monotonic() < deadline, f"only {self.changes_since_kill()} changes in 60 s of downtime"
                time.sleep(0.1)

            rec2 = RecorderProcess(config, store, log)
            self.w2_start = rec2.wait_for("recording", 90)
            n = len(_chunks(store))
            _wait_chunks(store, n + 2 + second_flushes, 30, rec2)  # (the replayed log is one chunk at once)
            self.stop_at = time.monotonic()
            rec2.proc.send_signal(signal.SIGTERM)
            assert rec2.proc.wait(20) == 0, rec2.text()[-3000:]
            self.second_output = rec2.text()
            assert "stopped:" in self.second_output and "replayed=" in self.second_output
        finally:
            del server._push                     # the fixture's server pushes as before
            for r in (rec, rec2):
                if r is not None:
                    r.close()
        self.sent = list(self.pushes)
        self.stored = _stored(store)
        assert sum(map(len, self.stored.values())) > 300, "too little was recorded to judge"
        assert len(self.wal) > 0, "the SIGKILL left nothing in the write-ahead log: the test did not test replay"

    def changes_since_kill(self) -> int:
        """Changes pushed from SLACK_S after the kill to SLACK_S before now: inside any later downtime window."""
        return sum(map(len, _expected(list(self.pushes), [(self.killed_at + SLACK_S, time.monotonic() - SLACK_S)]).values()))

    def check_values_and_replay(self) -> None:
        # 1. every stored value is what the server sent at that timestamp. A subscription's first notification
        #    is the node's current value, which for slow tags (a weld every 20 s) may predate the hook: those only.
        by_key = {(p, ts): v for _, p, ts, v, good in self.sent if good}
        hooked_from = min(ts for _, _, ts, _, _ in self.sent)
        unhooked = 0
        for path, samples in self.stored.items():
            for ts, v in samples.items():
                if (path, ts) in by_key:
                    sent_v = by_key[(path, ts)]
                    assert abs(sent_v - v) <= 1e-9, f"{path} at {pd.Timestamp(ts)}: stored {v}, server sent {sent_v}"
                else:
                    assert ts <= hooked_from, f"{path}: stored a sample at {pd.Timestamp(ts)} the server never sent"
                    unhooked += 1
        assert unhooked <= len(self.stored)
        # 2. nothing the killed process had accepted is lost (chunks written before the kill, WAL replayed)
        lost = [(p, ts) for p, s in self.before_kill.items() for ts in s if ts not in self.stored.get(p, {})]
        assert not lost, f"{len(lost)} sample(s) accepted before SIGKILL are missing, e.g. {lost[:3]}"

    def missing(self, windows) -> tuple[int, list]:
        """(changes the server pushed inside ``windows``, those of them not in the store)."""
        expected = _expected(self.sent, windows)
        missing = [(p, pd.Timestamp(ts)) for p, s in expected.items() for ts, _ in s if ts not in self.stored.get(p, {})]
        return sum(map(len, expected.values())), missing

    @property
    def downtime(self) -> tuple[float, float]:
        return self.killed_at + SLACK_S, self.w2_start - SLACK_S


def test_record_over_opcua_sigkill_and_restart_lose_nothing_the_server_kept(tmp_path, historizing_line):
    run = Run(historizing_line, tmp_path, first_flushes=3, down_changes=30, second_flushes=3)
    run.check_values_and_replay()
    stats = run.second_output.rsplit("stopped:", 1)[1]
    assert int(stats.split("backfilled=")[1].split()[0].rstrip(",")) > 0, stats
    # 3+4. no gap at all: every change the server pushed from the first start to the stop is stored once,
    #      the downtime included (read back with HistoryRead by the restarted recorder)
    n_down, missing_down = run.missing([run.downtime])
    assert n_down >= 10, f"only {n_down} changes while the recorder was down: too short to judge"
    assert not missing_down, f"{len(missing_down)} of {n_down} changes pushed while the recorder was down are " \
                             f"not stored, e.g. {missing_down[:5]}"
    whole = (run.w1_start + SLACK_S, run.stop_at - SLACK_S)
    n_all, missing = run.missing([whole])
    print(f"checked {sum(map(len, run.stored.values()))} stored samples, {len(run.wal)} replayed from the WAL, "
          f"{n_all} changes pushed over {whole[1] - whole[0]:.1f} s, {n_down} of them while the recorder was down")
    assert not missing, f"{len(missing)} of {n_all} changes the server pushed are not stored, e.g. {missing[:5]}"
    assert "gap not filled" not in run.second_output


async def _poll(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.05)


async def _die_and_restart(line, root, caplog, speed_changes) -> dict:
    """A recorder runs, dies without stopping, nobody records while the server changes a 1 Hz tag 3 times, a
    second one starts on the same store. ``speed_changes()``: the server's changes of that tag so far."""
    from data_adapters.connect import open_line
    from data_adapters.recorder import Recorder

    out = {}
    async with open_line(line) as source:
        backfill = getattr(source, "history", None)
        assert backfill is not None
        first = out["first"] = Recorder(line, source, root, flush_interval_s=0.5, grace_s=0.5, backfill=backfill)
        await first.start()
        speed = "plant1/electrode/coat1/coater/line_speed"
        await _poll(lambda: first.stats.stored > 0 and speed in first._last, 90, "the first recorder storing")
        first._task.cancel()                     # it dies: no more flushes, no final stop()
        for sub in first._sub:
            await sub.cancel()
        first.wal.close()
        out["died"] = pd.Timestamp.now(tz="UTC")
        died_at = speed_changes()
        await _poll(lambda: speed_changes() >= died_at + 3, 90, "3 changes while nobody records")  # kept nowhere
        out["back"] = pd.Timestamp.now(tz="UTC")
        with caplog.at_level(logging.WARNING, logger="data_adapters.recorder"):
            second = Recorder(line, source, root, flush_interval_s=0.5, grace_s=0.5, backfill=backfill)
            await second.start()
            after = second.stats.stored
            await _poll(lambda: second._last.get(speed, 0) > first._last[speed] and second.stats.stored > after
                        and second.stats.flushes >= 2, 30, "the second recorder storing")
            out["stats"] = await second.stop()
    return out


async def test_record_over_opcua_without_server_history_states_the_gap(tmp_path, opcua_line, line_config, caplog):
    """In process (cheaper than a second subprocess run): a recorder dies without stopping, a new one starts on
    the same store against a server that keeps no history. One log line names the gap; the gap stays."""
    line = line_config.model_copy(update={"stations": [
        st.model_copy(update={"adapter": opcua_line.settings()}) for st in line_config.stations]})
    speed = "plant1/electrode/coat1/coater/line_speed"  # 1 Hz, changes nearly every second
    root = tmp_path / "store"
    server, pushed = opcua_line.server, []
    original_push = server._push

    async def recording_push(srv, r):            # in the server's thread
        pushed.append(r)
        await original_push(srv, r)
    server._push = recording_push
    def speed_changes() -> int:
        vals = [r.value for r in list(pushed) if r.path == speed and r.quality is Quality.GOOD]
        return sum(1 for a, b in zip(vals, vals[1:]) if a != b)
    try:
        run = await _die_and_restart(line, root, caplog, speed_changes)
    finally:
        del server._push
    lines = [r.getMessage() for r in caplog.records if "gap not filled" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "keeps no history" in lines[0] and opcua_line.url in lines[0] and " tag(s) from " in lines[0]
    assert run["stats"].backfilled == 0 and run["stats"].replayed > 0
    # the gap, in the line's own time: from the dead recorder's last sample of a 1 Hz tag to the next one stored
    name = history.variable_names(list(history.station_tags(root, "coating")))[speed]
    da = history.open(root, "coating", tags=[speed]).compute()[name].dropna("time")
    t = da.time.values.astype("datetime64[ns]").astype(np.int64)
    assert len(np.unique(t)) == len(t)
    last_before = run["first"]._last[speed]
    after = t[t > last_before]
    assert (t <= last_before).any() and len(after) >= 1, "too little recorded around the restart to judge"
    changed, last = [], None                     # what the server had to offer in the hole: its changes
    for r in pushed:
        if r.path == speed and r.quality is Quality.GOOD:
            ts = _ns(r.source_time)
            if last is not None and r.value != last and last_before < ts < after[0]:
                changed.append(ts)
            last = r.value
    # The server changed the tag between the last sample stored before the death and the first one after it,
    # and none of those changes is stored (else it would be the first after): that is the gap. Had anything
    # filled it, no change would lie in between.
    down_s = (run["back"] - run["died"]).total_seconds()
    assert len(changed) >= 1, f"no unstored change of {speed} in {down_s:.1f} s of downtime: was the gap filled?"
    # and the gap is marked in the store, not only said: readers see it
    gaps = history.load_gaps(root, "coating")
    g = gaps[gaps["tag"] == speed]
    assert len(g) == 1 and "the recorder was not running; no backfill from the source" in g["cause"].iloc[0]
    assert g["start"].iloc[0].value < changed[0] and g["end"].iloc[0].value > changed[-1]  # it covers what was lost

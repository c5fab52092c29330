"""Dashboard latency: from a value change on the OPC UA server to the new value in the page's DOM.

Setup (all on 127.0.0.1): an asyncua OPC UA server (data_adapters.opcua_server.LineOpcUaServer) serving
200 tags that all change once per second; `workbench serve --config <that line>` (panel serve, the
one acquisition task subscribing over OPC UA); 1 and then 10 Chromium sessions on the live-trends page.
In each page a probe records when the first tag's tile shows each new value (Date.now(), same clock as
the server's time.time()). Peer measured in the same run: an asyncua subscription in this process (the
transport alone), so the printout gives the dashboard's cost as a ratio to the transport's.
Also reports the dashboard server's CPU share and memory (RSS) during each run.

Targets (issue 8): p95 <= 250 ms with 1 session, <= 500 ms with 10.

    python benchmarks/dashboard_latency.py [--seconds 30] [--sessions 1 10] [--rate 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_adapters.base import Quality, Reading  # noqa: E402
from workbench.config import load_line_config  # noqa: E402

N_TAGS = 200
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PROBE = """() => {
  // find the shadow root holding the first station tile's value, then poll it each animation frame
  window.__lat = [];
  let root = null, last = null;
  const find = (node) => {
    if (node.querySelector && node.querySelector('[data-role=value]')) return node;
    const all = node.querySelectorAll ? node.querySelectorAll('*') : [];
    for (const el of all) { if (el.shadowRoot) { const r = find(el.shadowRoot); if (r) return r; } }
    return null;
  };
  const poll = () => {
    if (!root || !root.isConnected && !(root.host && root.host.isConnected)) root = find(document);
    const el = root && root.querySelector('[data-role=value]');
    const text = el ? el.textContent : null;
    if (text !== null && text !== last) { last = text; window.__lat.push([text, Date.now()]); }
    requestAnimationFrame(poll);
  };
  poll();
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CountingSource:
    """A station behind the OPC UA server: every tag takes the value k at second k (k = 1, 2, ...)."""

    def __init__(self, paths: list[str], rate_hz: float):
        self.paths, self.period = paths, 1.0 / rate_hz
        self.changed: dict[int, float] = {}  # k -> time.time() when the server got value k
        self._cb, self._task, self._connected, self.k = None, None, False, 0

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        self._connected = True

    async def close(self) -> None:
        self._connected = False
        if self._task:
            self._task.cancel()

    async def read(self, paths):
        now = datetime.now(timezone.utc)
        return {p: Reading(p, float(self.k), "dimensionless", now, Quality.GOOD, now) for p in paths}

    async def subscribe(self, paths, on_reading):
        self._cb = on_reading
        self._task = asyncio.get_running_loop().create_task(self._run())
        return 1

    async def unsubscribe(self, handle) -> None:
        if self._task:
            self._task.cancel()

    async def write(self, path, value) -> None:
        raise PermissionError("read-only benchmark source")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.k += 1
            now = datetime.now(timezone.utc)
            self.changed[self.k] = time.time()
            for p in self.paths:
                await self._cb(Reading(p, float(self.k), "dimensionless", now, Quality.GOOD, now))


def line_yaml(url: str) -> str:
    return f"""version: 1
name: Latency benchmark line
site: bench
stations:
  - name: bench
    kind: generic
    title: Benchmark station
    adapter: {{kind: opcua, url: "{url}", publishing_interval_ms: 20}}
    tags:
      - path: bench/area/line1/st1/tag{{i:03d}}
        each: {{i: [0, {N_TAGS - 1}]}}
        units: dimensionless
"""


class OpcUaThread:
    """The OPC UA server (and the asyncua peer client) on their own event loop thread."""

    def __init__(self, rate_hz: float):
        self.rate = rate_hz
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.peer: dict[int, float] = {}
        self.port = free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/line-workbench/"
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        from data_adapters.connect import open_line
        from data_adapters.opcua_server import LineOpcUaServer

        self.config_path = Path(tempfile.mkdtemp()) / "bench_line.yaml"
        self.config_path.write_text(line_yaml(self.url))
        line = load_line_config(self.config_path)
        tags = list(line.tags.values())
        self.source = CountingSource([t.path for t in tags], self.rate)
        self.server = LineOpcUaServer(tags, self.source, port=self.port)
        await self.server.start()
        self.client = open_line(line)  # the peer: the transport alone, no dashboard
        await self.client.connect()
        first = tags[0].path

        def on(r: Reading) -> None:
            if r.path == first and math.isfinite(r.value):
                self.peer.setdefault(int(r.value), time.time())

        await self.client.subscribe([first], on)

    async def _stop(self) -> None:
        await self.client.close()
        await self.source.close()
        await self.server.stop()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def start(self) -> "OpcUaThread":
        self.thread.start()
        if not self.ready.wait(60):
            raise RuntimeError("OPC UA server did not start in 60 s")
        return self


def latencies(changed: dict[int, float], seen: list[tuple[str, float]], t0: float) -> list[float]:
    """ms from the server's change of value k to the page showing k, for changes after ``t0``."""
    out = []
    for text, t_ms in seen:
        try:
            k = int(float(text))
        except ValueError:
            continue
        if k in changed and changed[k] >= t0:
            out.append(t_ms - 1000.0 * changed[k])
    return out


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else math.nan


def dashboard_process(parent: subprocess.Popen) -> psutil.Process:
    """The `panel serve` child of `workbench serve` (the process that does the work)."""
    proc = psutil.Process(parent.pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for child in proc.children(recursive=True):
            if "panel" in " ".join(child.cmdline()):
                return child
        time.sleep(0.2)
    return proc


def run_sessions(browser, url: str, n: int, seconds: float, opc: OpcUaThread, server: psutil.Process) -> dict:
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(n)]
    pages = []
    for ctx in contexts:
        pg = ctx.new_page()
        pg.goto(f"{url}/?page=trends")
        pg.wait_for_selector("[data-role=value][data-station=bench]", state="attached", timeout=60_000)
        pg.evaluate(PROBE)
        pages.append(pg)
    t0 = time.time() + 3.0  # let the pages settle first
    server.cpu_percent(None)
    rss0 = server.memory_info().rss
    cpu, end = [], time.monotonic() + seconds + 3.0
    while time.monotonic() < end:
        pages[0].wait_for_timeout(1000)  # keeps Playwright's event loop serving the pages
        cpu.append(server.cpu_percent(None))
    lat, peer = [], latencies({k: v for k, v in opc.source.changed.items()},
                              [(str(k), 1000.0 * t) for k, t in opc.peer.items()], t0)
    for pg in pages:
        lat += latencies(opc.source.changed, [tuple(x) for x in pg.evaluate("window.__lat")], t0)
    for ctx in contexts:
        ctx.close()
    return {"sessions": n, "samples": len(lat), "p50": pct(lat, 50), "p95": pct(lat, 95), "max": max(lat, default=math.nan),
            "peer_p50": pct(peer, 50), "peer_p95": pct(peer, 95), "cpu": float(np.mean(cpu[1:] or cpu)),
            "rss0": rss0 / 2**20, "rss1": server.memory_info().rss / 2**20}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="measured seconds per session count")
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--rate", type=float, default=1.0, help="value changes per second of every tag")
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    opc = OpcUaThread(args.rate).start()
    port = free_port()
    env = dict(os.environ, BOKEH_LOG_LEVEL="warn")
    dash = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--config", str(opc.config_path),
                             "--port", str(port)], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        for line in dash.stdout:  # wait for the URL (the command prints it once the server answers)
            if "open http" in line:
                break
        server = dashboard_process(dash)
        threading.Thread(target=lambda: [None for _ in dash.stdout], daemon=True).start()
        url = f"http://127.0.0.1:{port}"
        print(f"{N_TAGS} tags at {args.rate:g} Hz over OPC UA ({opc.url}); dashboard {url}; "
              f"machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            print(f"{'sessions':>8} {'samples':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'peer p95':>8} "
                  f"{'p95/peer':>8} {'CPU %':>6} {'RSS MB':>13}  target")
            for n in args.sessions:
                r = run_sessions(browser, url, n, args.seconds, opc, server)
                target = 250.0 if n == 1 else 500.0
                ratio = r["p95"] / r["peer_p95"] if r["peer_p95"] > 0 else math.nan
                print(f"{n:>8} {r['samples']:>7} {r['p50']:>7.0f} {r['p95']:>7.0f} {r['max']:>7.0f} "
                      f"{r['peer_p95']:>8.1f} {ratio:>8.1f} {r['cpu']:>6.0f} {r['rss0']:>6.0f}->{r['rss1']:<6.0f} "
                      f" p95<={target:.0f} ms: {'OK' if r['p95'] <= target else 'MISSED'}", flush=True)
            browser.close()
    finally:
        dash.send_signal(signal.SIGINT)  # workbench serve stops its panel server on the way out
        try:
            dash.wait(15)
        except subprocess.TimeoutExpired:
            dash.kill()
        opc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

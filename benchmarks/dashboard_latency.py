"""Dashboard latency: from a value change on the OPC UA server to the new value in the page's DOM.

Setup (all on 127.0.0.1): an asyncua OPC UA server (data_adapters.opcua_server.LineOpcUaServer) serving
200 tags that all change once per second; `workbench serve --config <that line>` (panel serve, the
one acquisition task subscribing over OPC UA); 1 and then 10 Chromium sessions on the live-trends page.
In each page a probe records when the first tag's tile shows each new value (Date.now(), same clock as
the server's time.time()). Peer measured in the same run: an asyncua subscription in this process (the
transport alone), so the printout gives the dashboard's cost as a ratio to the transport's.
Also reports the dashboard server's CPU share and memory (RSS) during each run.

Also prints where the browser's time goes, per page: Chromium's main-thread counters (CDP Performance
metrics) and the renderer processes' CPU. On a 2-core box the 10 renderers share the cores with both
servers; a shop floor has one screen per PC.

Targets (issue 8): p95 <= 250 ms with 1 session, <= 500 ms with 10; memory flat (±10 %) over a 10-minute
run at 10x simulated speed:

    python benchmarks/dashboard_latency.py [--seconds 30] [--sessions 1 10] [--rate 1.0]
    python benchmarks/dashboard_latency.py --soak 600 [--warmup 150] [--speed 10] [--soak-sessions 3]
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
  // find the shadow root holding the first station tile's value; record each new value when the DOM changes
  // (a MutationObserver costs nothing between changes; polling each animation frame would make every page
  // produce frames continuously and load the very browser being measured)
  window.__lat = [];
  let last = null;
  const find = (node) => {
    if (node.querySelector && node.querySelector('[data-role=value]')) return node;
    const all = node.querySelectorAll ? node.querySelectorAll('*') : [];
    for (const el of all) { if (el.shadowRoot) { const r = find(el.shadowRoot); if (r) return r; } }
    return null;
  };
  const root = find(document);
  const check = () => {
    const el = root.querySelector('[data-role=value]');
    const text = el ? el.textContent : null;
    if (text !== null && text !== last) { last = text; window.__lat.push([text, Date.now()]); }
  };
  new MutationObserver(check).observe(root, {subtree: true, childList: true, characterData: true});
  check();
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


CDP_METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "RecalcStyleCount",
               "LayoutCount")


class BrowserCost:
    """Where the browser's time goes, per page: Chromium's own main-thread counters (CDP Performance
    metrics: seconds of task/script/layout/style work per wall second, style recalcs and layouts per
    second, DOM nodes) and the CPU of the renderer processes (and of the GPU process, which composites
    and rasterises in software here) from the OS. The counters do not depend on how loaded the machine
    is (apart from task durations stretching when a core is shared), so they compare runs on a busy box."""

    def __init__(self, pages):
        self.pages = pages
        self.cdps = []
        for pg in pages:
            c = pg.context.new_cdp_session(pg)
            c.send("Performance.enable")
            self.cdps.append(c)
        self.procs = chromium_processes()

    def _metrics(self) -> list[dict]:
        return [{m["name"]: m["value"] for m in c.send("Performance.getMetrics")["metrics"]} for c in self.cdps]

    def _cpu(self) -> dict[str, float]:
        out = {"renderer": 0.0, "gpu": 0.0, "browser": 0.0}
        for kind, proc in self.procs:
            try:
                t = proc.cpu_times()
                out[kind] += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return out

    def start(self) -> None:
        self.t0, self.m0, self.c0 = time.monotonic(), self._metrics(), self._cpu()

    def stop(self) -> dict:
        dt = time.monotonic() - self.t0
        m1, c1 = self._metrics(), self._cpu()
        n = len(self.pages)
        out = {k: sum(b[k] - a[k] for a, b in zip(self.m0, m1)) / n / dt for k in CDP_METRICS}
        out["Nodes"] = sum(b["Nodes"] for b in m1) / n
        out.update({f"cpu_{k}": 100.0 * (c1[k] - self.c0[k]) / dt for k in c1})
        out["renderers"] = sum(kind == "renderer" for kind, _ in self.procs)
        return out


def chromium_processes() -> list[tuple[str, psutil.Process]]:
    """This run's Chromium processes (descendants of this Python process), by kind."""
    out = []
    for proc in psutil.Process(os.getpid()).children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "chrom" not in cmd:
            continue
        kind = ("renderer" if "--type=renderer" in cmd else "gpu" if "--type=gpu-process" in cmd
                else "browser" if "--type=" not in cmd else "other")
        if kind != "other":
            out.append((kind, proc))
    return out


def run_sessions(browser, url: str, n: int, seconds: float, opc: OpcUaThread, server: psutil.Process) -> dict:
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(n)]
    pages = []
    for ctx in contexts:
        pg = ctx.new_page()
        pg.goto(f"{url}/?page=trends")
        pg.wait_for_selector("[data-role=value][data-station=bench]", state="attached", timeout=60_000)
        pg.evaluate(PROBE)
        pages.append(pg)
    pages[0].wait_for_timeout(3000)  # let the pages settle first
    t0 = time.time()
    cost = BrowserCost(pages)
    cost.start()
    server.cpu_percent(None)
    rss0 = server.memory_info().rss
    cpu, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        pages[0].wait_for_timeout(1000)  # keeps Playwright's event loop serving the pages
        cpu.append(server.cpu_percent(None))
    browser_cost = cost.stop()
    pages[0].wait_for_timeout(1500)  # the last changes of the window reach the pages (or count as missing)
    # the changes made during the measured window; every page should show each of them
    changed = {k: t for k, t in opc.source.changed.items() if t0 <= t <= t0 + seconds}
    lat, peer = [], latencies(changed, [(str(k), 1000.0 * t) for k, t in opc.peer.items()], t0)
    for pg in pages:
        lat += latencies(changed, [tuple(x) for x in pg.evaluate("window.__lat")], t0)
    expected = n * len(changed)
    for ctx in contexts:
        ctx.close()
    return {"sessions": n, "samples": len(lat), "expected": expected, "p50": pct(lat, 50), "p95": pct(lat, 95),
            "max": max(lat, default=math.nan), "peer_p50": pct(peer, 50), "peer_p95": pct(peer, 95),
            "cpu": float(np.mean(cpu[1:] or cpu)), "rss0": rss0 / 2**20, "rss1": server.memory_info().rss / 2**20,
            "browser": browser_cost}


def start_server(cmd: list[str]) -> tuple[subprocess.Popen, psutil.Process]:
    """Start `workbench serve|demo ...`; returns it and its `panel serve` child once the URL is printed."""
    env = dict(os.environ, BOKEH_LOG_LEVEL="warn")
    dash = subprocess.Popen([sys.executable, "-m", "apps", *cmd], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in dash.stdout:  # wait for the URL (the command prints it once the server answers)
        seen.append(line)
        if "open http" in line:
            break
    else:
        raise RuntimeError("the dashboard did not start:\n" + "".join(seen[-30:]))
    server = dashboard_process(dash)
    threading.Thread(target=lambda: [None for _ in dash.stdout], daemon=True).start()
    return dash, server


def stop_server(dash: subprocess.Popen) -> None:
    dash.send_signal(signal.SIGINT)  # workbench serve stops its panel server on the way out
    try:
        dash.wait(15)
    except subprocess.TimeoutExpired:
        dash.kill()


MACHINE_NOTE = ("note: on this machine the {n} Chromium renderers, the dashboard server and the OPC UA server "
                "share {cores} cores (load {load:.1f}); a shop floor has one screen per PC")


def latency_main(args) -> int:
    from playwright.sync_api import sync_playwright

    opc = OpcUaThread(args.rate).start()
    port = free_port()
    dash, server = start_server(["serve", "--config", str(opc.config_path), "--port", str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        print(f"{N_TAGS} tags at {args.rate:g} Hz over OPC UA ({opc.url}); dashboard {url}; "
              f"machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        rows = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            print(f"{'sessions':>8} {'samples':>11} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'peer p95':>8} "
                  f"{'p95/peer':>8} {'CPU %':>6} {'RSS MB':>13}  target")
            for n in args.sessions:
                r = run_sessions(browser, url, n, args.seconds, opc, server)
                rows.append(r)
                target = 250.0 if n == 1 else 500.0
                ratio = r["p95"] / r["peer_p95"] if r["peer_p95"] > 0 else math.nan
                print(f"{n:>8} {r['samples']:>5}/{r['expected']:<5} {r['p50']:>7.0f} {r['p95']:>7.0f} {r['max']:>7.0f} "
                      f"{r['peer_p95']:>8.1f} {ratio:>8.1f} {r['cpu']:>6.0f} {r['rss0']:>6.0f}->{r['rss1']:<6.0f} "
                      f" p95<={target:.0f} ms: {'OK' if r['p95'] <= target else 'MISSED'}", flush=True)
            browser.close()
        print("\nbrowser cost per page (Chromium main thread, CDP Performance metrics, per wall second) and the OS's "
              "CPU of the Chromium processes (all pages together):")
        print(f"{'sessions':>8} {'task ms/s':>9} {'script':>7} {'layout':>7} {'style':>7} {'recalc/s':>8} "
              f"{'layouts/s':>9} {'nodes':>6} {'renderers CPU %':>15} {'gpu %':>6} {'browser %':>9}")
        for r in rows:
            b = r["browser"]
            print(f"{r['sessions']:>8} {1e3 * b['TaskDuration']:>9.1f} {1e3 * b['ScriptDuration']:>7.1f} "
                  f"{1e3 * b['LayoutDuration']:>7.1f} {1e3 * b['RecalcStyleDuration']:>7.1f} "
                  f"{b['RecalcStyleCount']:>8.1f} {b['LayoutCount']:>9.1f} {b['Nodes']:>6.0f} "
                  f"{b['cpu_renderer']:>9.0f} ({b['renderers']:.0f}) {b['cpu_gpu']:>6.0f} {b['cpu_browser']:>9.0f}")
        print(MACHINE_NOTE.format(n=max(args.sessions), cores=os.cpu_count(), load=os.getloadavg()[0]))
    finally:
        stop_server(dash)
        opc.stop()
    return 0


def soak_main(args) -> int:
    """The dashboard on the virtual line at ``args.speed``x, ``args.soak_sessions`` kiosk sessions cycling every
    page; the server's RSS every ``args.every`` s; the verdict on memory after the warm-up (flat within ±10 %)."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    dash, server = start_server(["demo", "--speed", f"{args.speed:g}", "--port", str(port)])
    url = f"http://127.0.0.1:{port}/?kiosk={args.kiosk:g}"
    print(f"soak: virtual line at {args.speed:g}x, {args.soak_sessions} Chromium sessions on {url} (kiosk: every "
          f"page in turn), server RSS every {args.every:g} s; warm-up {args.warmup:g} s, then {args.soak:g} s measured")
    samples: list[tuple[float, float]] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            errors: list[str] = []
            pages = []
            for _ in range(args.soak_sessions):
                pg = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                pg.on("pageerror", lambda e: errors.append(str(e)))
                pg.goto(url)
                pages.append(pg)
                pages[0].wait_for_timeout(1000 * args.kiosk / args.soak_sessions)  # sessions out of step
            t_start = time.monotonic()
            end = t_start + args.warmup + args.soak
            while time.monotonic() < end:
                t = time.monotonic() - t_start
                rss = server.memory_info().rss / 2**20
                samples.append((t, rss))
                print(f"  {t:6.0f} s  RSS {rss:7.1f} MB{'  (warm-up)' if t < args.warmup else ''}", flush=True)
                pages[0].wait_for_timeout(1000 * args.every)
            shown = [pg.locator("[data-page]").count() > 0 for pg in pages]  # locators pierce shadow DOM
            browser.close()
    finally:
        stop_server(dash)
    after = [rss for t, rss in samples if t >= args.warmup]
    if len(after) < 2:
        print("soak: too short to judge (no samples after the warm-up)")
        return 1
    start, last, peak = after[0], after[-1], max(after)
    growth = (last - start) / start
    flat = abs(growth) <= 0.10 and (peak - start) / start <= 0.10
    print(f"soak: RSS after warm-up {start:.1f} MB, at the end {last:.1f} MB ({100 * growth:+.1f} %), max {peak:.1f} MB "
          f"({100 * (peak - start) / start:+.1f} %); pages still showing: {sum(shown)}/{len(shown)}; "
          f"page errors: {len(errors)}")
    print(f"soak verdict: memory flat within ±10 %: {'OK' if flat else 'MISSED'}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="measured seconds per session count")
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--rate", type=float, default=1.0, help="value changes per second of every tag")
    ap.add_argument("--soak", type=float, default=None, metavar="SECONDS",
                    help="instead: memory soak on the virtual line for SECONDS after the warm-up (issue: 600)")
    ap.add_argument("--warmup", type=float, default=150.0, help="soak warm-up, s (every page built in every session)")
    ap.add_argument("--speed", type=float, default=10.0, help="soak: simulated seconds per wall-clock second")
    ap.add_argument("--soak-sessions", type=int, default=3, help="soak: browser sessions")
    ap.add_argument("--kiosk", type=float, default=20.0, help="soak: seconds per page in the sessions' kiosk mode")
    ap.add_argument("--every", type=float, default=10.0, help="soak: RSS sampling period, s")
    args = ap.parse_args(argv)
    return soak_main(args) if args.soak is not None else latency_main(args)


if __name__ == "__main__":
    sys.exit(main())

"""Chromium's CPU with a dashboard page open, this checkout against another one (``--base``).

What a kiosk PC pays to keep a page live: for each checkout in turn (alternating, ``--rounds`` times), the
tests' demo server (``tests/browser_support.DemoServer``: the virtual line at 30x with the browser tests'
injected events) and Debian's Chromium via Playwright; each page (``--pages``) is opened, left 3 s to draw,
then Chromium's processes' CPU (user + system, all of them: browser, renderer, GPU/compositor) and the demo
server's are read over ``--seconds``. Printed per page and checkout: cores used (CPU s per wall s), and the
ratio this / base. The load average is printed too: both checkouts see the same machine, alternated.

    git worktree add /tmp/main-checkout main
    python benchmarks/dashboard_browser_cpu.py --base /tmp/main-checkout [--pages trends,coating,overview]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ONE = """
import os, sys, tempfile, time, json
from pathlib import Path
repo = Path(sys.argv[1]); sys.path.insert(0, str(repo / "tests")); os.chdir(repo)
import psutil
from browser_support import CHROMIUM, CHROMIUM_ARGS, DemoServer
from playwright.sync_api import sync_playwright

def cpu(procs):
    total = 0.0
    for p in procs:
        try:
            c = p.cpu_times()
            total += c.user + c.system
        except psutil.Error:
            pass
    return total

pages, seconds = sys.argv[2].split(","), float(sys.argv[3])
srv = DemoServer(Path(tempfile.mkdtemp()))
srv.start()
out = {}
try:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        me = psutil.Process()
        pg = b.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        for page in pages:
            pg.goto(f"{srv.url}/?page={page}")
            pg.wait_for_selector(f"[data-page={page}]", timeout=120000)
            pg.wait_for_timeout(3000)
            chrome = [c for c in me.children(recursive=True) if "chrom" in c.name()]
            demo = [psutil.Process(srv.proc.pid), *psutil.Process(srv.proc.pid).children(recursive=True)]
            c0, d0, t0 = cpu(chrome), cpu(demo), time.monotonic()
            pg.wait_for_timeout(seconds * 1000)
            chrome = [c for c in me.children(recursive=True) if "chrom" in c.name()]
            c1, d1, t1 = cpu(chrome), cpu(demo), time.monotonic()
            out[page] = [(c1 - c0) / (t1 - t0), (d1 - d0) / (t1 - t0)]
        b.close()
finally:
    srv.stop()
print("RESULT " + json.dumps(out))
"""


def measure(checkout: Path, pages: list[str], seconds: float) -> dict[str, list[float]]:
    """{page: [chromium cores, demo cores]} for one checkout (its own demo server, a fresh Chromium)."""
    import json

    res = subprocess.run([sys.executable, "-c", ONE, str(checkout), ",".join(pages), str(seconds)],
                         capture_output=True, text=True, timeout=600)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{checkout}: the measurement failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="the other checkout (e.g. a worktree of main)")
    ap.add_argument("--pages", default="trends,coating,overview", help="dashboard pages, comma-separated")
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds per page (default 15)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per checkout (default 2)")
    args = ap.parse_args(argv)
    pages = args.pages.split(",")
    runs: dict[str, list[dict]] = {"base": [], "this": []}
    for r in range(args.rounds):
        order = [("base", args.base), ("this", REPO)] if r % 2 == 0 else [("this", REPO), ("base", args.base)]
        for name, checkout in order:
            runs[name].append(measure(checkout, pages, args.seconds))
            print(f"round {r + 1} {name}: " + ", ".join(f"{p} {v[0]:.2f}" for p, v in runs[name][-1].items())
                  + f" Chromium cores; load average {os.getloadavg()[0]:.2f}", flush=True)
    for page in pages:
        med = {n: [statistics.median(run[page][k] for run in runs[n]) for k in (0, 1)] for n in runs}
        ratio = med["this"][0] / med["base"][0] if med["base"][0] > 0 else float("nan")
        print(f"{page:10s} Chromium {med['base'][0]:.2f} -> {med['this'][0]:.2f} cores ({ratio:.2f}x); "
              f"demo server {med['base'][1]:.2f} -> {med['this'][1]:.2f} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

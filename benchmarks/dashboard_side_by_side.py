"""First full paint of the coating page, this checkout against another one (``--base``), served side by side.

On a shared machine the load moves by more than a change to the page saves, so runs one after the other
compare loads as much as code. Here both demos run at once, each on its own copy of the same history store
(``--store``, as filled by ``benchmarks/dashboard_history.py``), and the opens alternate between them (which
goes first swaps every round), so both see the same load. Each open is measured as in
``benchmarks/dashboard_history.py`` (fresh Chromium context, all 4 plots drawn with data); printed per window:
the median, min and max first paint, when the page's HTML arrived and its scripts had run, server CPU and
the page's main-thread CPU per open, and the load average.

    git worktree add /tmp/main-checkout main
    python benchmarks/dashboard_side_by_side.py --base /tmp/main-checkout --store STORE [--opens 6]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboard_history as bench  # noqa: E402


def start(checkout: Path, store: Path) -> tuple[subprocess.Popen, str]:
    """A demo served from ``checkout``'s code on ``store``; (process, url)."""
    port = bench.free_port()
    saved = bench.REPO, os.environ.get("PYTHONPATH")
    bench.REPO, os.environ["PYTHONPATH"] = checkout, str(checkout)
    try:
        return bench.start_demo(store, 7, port), f"http://127.0.0.1:{port}"
    finally:
        bench.REPO = saved[0]
        if saved[1] is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="the other checkout (e.g. a worktree of main)")
    ap.add_argument("--store", type=Path, required=True, help="a filled history store (copied twice, not changed)")
    ap.add_argument("--opens", type=int, default=6, help="opens per server and window")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="lw-side-by-side-"))
    servers = {}
    try:
        for name, checkout in (("base", args.base.resolve()), ("this", bench.REPO)):
            shutil.copytree(args.store, work / name)
            servers[name] = start(checkout, work / name)
        for proc, _ in servers.values():
            bench.wait_started(proc.pid)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=bench.CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            for proc, url in servers.values():
                bench.paint(browser, url, 1, proc.pid)  # each server's first session pays the modules' warm-up
            for hours in (8, 168):
                load = os.getloadavg()[0]
                runs: dict[str, list] = {name: [] for name in servers}
                for i in range(args.opens):
                    for name in (list(servers) if i % 2 == 0 else list(servers)[::-1]):
                        proc, url = servers[name]
                        runs[name].append(bench.paint(browser, url, hours, proc.pid))
                for name, rs in runs.items():
                    med = lambda k, rs=rs: statistics.median(r[k] for r in rs)  # noqa: E731
                    print(f"{name} ({args.base if name == 'base' else bench.REPO}), {hours} h: first full paint "
                          f"median {med(0):.2f} s (min {min(r[0] for r in rs):.2f}, max {max(r[0] for r in rs):.2f}, "
                          f"{len(rs)} opens); HTML at {med(4):.2f} s, scripts run by {med(5):.2f} s; CPU per open: "
                          f"server {med(2):.2f} s, page main thread {med(3):.2f} s; load average {load:.2f} -> "
                          f"{os.getloadavg()[0]:.2f}", flush=True)
            browser.close()
    finally:
        for proc, _ in servers.values():
            os.killpg(proc.pid, signal.SIGINT)
        for proc, _ in servers.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""An installed wheel (not editable, outside the checkout) runs `workbench demo` and `workbench serve`:
the apps are package data of the wheel, found without any path relative to a source checkout."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the wheel from this checkout and install it (no deps: the venv has them) into a folder of its own."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"  # a copy, so the build leaves nothing (build/, *.egg-info) in the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "artifacts", "build", "var", "dist",
                                                             "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(work / "dist"), str(src)], check=True, timeout=300, capture_output=True)
    wheels = list((work / "dist").glob("line_workbench-*.whl"))
    assert len(wheels) == 1, wheels
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheels[0])], check=True, timeout=300, capture_output=True)
    run_dir = work / "elsewhere"  # cwd outside the checkout: nothing may be found relative to it
    run_dir.mkdir()
    # the demo's default store goes under XDG_DATA_HOME: a folder of this test's, never the user's home
    env = dict(os.environ, PYTHONPATH=str(target), PYTHONSAFEPATH="1", XDG_DATA_HOME=str(run_dir / "data"))
    return target, run_dir, env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_wheel_holds_the_apps_and_the_installed_copy_is_the_one_imported(installed):
    target, run_dir, env = installed
    for rel in ("apps/line.py", "apps/setup.py", "apps/trial_console.py", "apps/assets/dashboard.css",
                "apps/cli/__init__.py", "workbench/configs/virtual_line.yaml"):
        assert (target / rel).is_file(), f"{rel} is not in the wheel"
    out = subprocess.run([sys.executable, "-c", "import apps, workbench, data_adapters; "
                          "print(apps.__file__); print(workbench.__file__); print(data_adapters.__file__)"],
                         cwd=run_dir, env=env, capture_output=True, text=True, check=True, timeout=240).stdout
    for line in out.split():
        assert line.startswith(str(target)), out


@pytest.mark.slow
@pytest.mark.parametrize("command", ["demo", "serve"])
def test_installed_wheel_serves_the_dashboard(installed, command):
    target, run_dir, env = installed
    port = _free_port()
    args = [str(target / "bin" / "workbench"), command, "--port", str(port)]
    if command == "serve":
        args += ["--config", str(target / "workbench" / "configs" / "virtual_line.yaml")]
    log = run_dir / f"{command}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=run_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline, page = time.monotonic() + 120, ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/line", timeout=10) as r:
                    page = r.read().decode("utf-8", "replace")
                    break
            except OSError:
                try:  # the poll interval doubles as a check that the server has not died
                    proc.wait(0.5)
                except subprocess.TimeoutExpired:
                    pass
        assert page, f"workbench {command} from the wheel never answered: {log.read_text()[-2000:]}"
        assert "Line Workbench" in page and "bokeh" in page.lower()
        assert "cdn.bokeh.org" not in page and "cdn.holoviz.org" not in page
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)

"""`workbench serve --config LINE`: the live shop-floor dashboard for any line config (``panel serve``).

The dashboard's Panel app scripts live in the ``apps`` package (a checkout or an installed wheel alike);
this command finds them beside ``apps/__init__.py``, starts ``panel serve`` with the line config in the environment
(``WORKBENCH_LINE_CONFIG``) and prints the URL when the server answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

APP = "line.py"


def apps_dir() -> Path:
    """The ``apps`` package's folder, where the app scripts are; a clear error when the install lacks them."""
    from apps import APPS_DIR

    if not (APPS_DIR / APP).is_file():
        raise FileNotFoundError(
            f"the dashboard app script is missing at {APPS_DIR / APP}: the install is incomplete; "
            "reinstall with `pip install --force-reinstall line-workbench`")
    return APPS_DIR


def panel_command(*, port: int, address: str, allow_origins: list[str] | None = None,
                  extra: list[str] | None = None) -> list[str]:
    """The ``panel serve`` command line for the dashboard (resources served locally, no CDN)."""
    origins = {f"localhost:{port}", f"127.0.0.1:{port}"}
    if address not in ("127.0.0.1", "localhost", "::1"):
        origins.add(f"{socket.gethostname()}:{port}")
        if address not in ("0.0.0.0", "::"):
            origins.add(f"{address}:{port}")
    origins.update(allow_origins or [])
    cmd = [sys.executable, "-m", "panel", "serve", str(apps_dir() / APP), "--setup", str(apps_dir() / "setup.py"),
           "--port", str(port),
           "--address", address, "--index", "line", "--check-unused-sessions", "5000",
           "--unused-session-lifetime", "15000",
           "--liveness"]  # /liveness: a page that lost its session polls it, then reloads (Heartbeat)
    for o in sorted(origins):
        cmd += ["--allow-websocket-origin", o]
    return cmd + list(extra or [])


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    """Poll until something accepts connections on host:port (bounded by ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    host = "127.0.0.1" if host in ("0.0.0.0", "", "localhost") else host
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def run_dashboard(*, config: str | None, port: int, address: str, env_extra: dict[str, str] | None = None,
                  allow_origins: list[str] | None = None, what: str = "dashboard") -> int:
    """Run ``panel serve`` on the dashboard until interrupted; prints the URL once it answers."""
    from apps.dashboard.page_html import serve_locally
    from workbench.config import default_config_path, load_line_config

    line = load_line_config(config or default_config_path())  # fail here, with the config's own error
    env = dict(os.environ, WORKBENCH_LINE_CONFIG=str(Path(line.source).resolve()), **(env_extra or {}))
    serve_locally(env)  # BokehJS and Panel's CSS from this server, never a CDN (whatever the caller's env)
    cmd = panel_command(port=port, address=address, allow_origins=allow_origins)
    proc = subprocess.Popen(cmd, env=env)

    def _stop(signum, frame):  # SIGTERM (service managers, kill): stop the server too, like Ctrl+C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        if not wait_for_port(address, port, timeout=60, proc=proc):
            proc.terminate()
            code = proc.wait(10)
            print(f"workbench: the {what} did not start on {address}:{port} (panel serve exited {code}); "
                  "is the port in use? try --port", file=sys.stderr)
            return 1
        host = "localhost" if address in ("127.0.0.1", "0.0.0.0", "::", "::1") else address
        print(f"Line Workbench {what}: {line.name} ({len(line.stations)} stations, {len(line.tags)} tags)")
        print(f"  open http://{host}:{port}/   (kiosk: ?kiosk=20, dark: ?theme=dark; Ctrl+C stops)",
              flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def add_server_args(p) -> None:
    p.add_argument("--port", type=int, default=5006, help="HTTP port (default 5006)")
    p.add_argument("--address", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 to serve shop-floor screens)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="HOST:PORT",
                   help="extra websocket origin allowed (e.g. a kiosk's DNS name:port); repeatable")


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve the live dashboard for a line config (panel serve)")
    p.add_argument("--config", required=True, help="line config YAML (see `workbench config check`)")
    p.add_argument("--store", default=None,
                   help="history store: the pages open on its last hours and the live line is recorded into it")
    add_server_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    env = {"WORKBENCH_HISTORY": str(Path(args.store).expanduser().resolve())} if args.store else None
    return run_dashboard(config=args.config, port=args.port, address=args.address, env_extra=env,
                         allow_origins=args.allow_origin)

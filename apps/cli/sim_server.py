"""``workbench sim-server``: serve the virtual line over OPC UA, MQTT and/or REST on this machine.

Examples::

    workbench sim-server --opcua 4840                      # read-only OPC UA on 127.0.0.1:4840
    WORKBENCH_SIM_PASSWORD=... workbench sim-server --opcua 4840 --pki ~/.line-workbench/pki --user operator
    workbench sim-server --mqtt 127.0.0.1:1883 --rest 8081 --speed 10 --seed 3
    WORKBENCH_MQTT_PASSWORD=... workbench sim-server --mqtt broker:8883 --mqtt-user station --mqtt-ca site-ca.pem
    workbench sim-server --opcua 4840 --history 0           # no OPC UA history (HistoryRead finds nothing)

Writes over OPC UA need ``--pki`` (Basic256Sha256 SignAndEncrypt certificates, generated there if
missing; the client certificate to use is ``client_cert.der``/``client_key.pem`` in that directory) and a
user whose password is in the environment variable named by ``--password-env``. REST writes need the
bearer token in ``--token-env``. The OPC UA server keeps the last ``--history`` seconds (default 3600) of every
tag's changes in memory for HistoryRead, so a recorder that was down fills its gap. This module imports only the standard library at import time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys


def _endpoint(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """'PORT' or 'HOST:PORT' -> (host, port)."""
    host, _, port = text.rpartition(":")
    try:
        p = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PORT or HOST:PORT, got {text!r}") from None
    if not 0 <= p < 65536:
        raise argparse.ArgumentTypeError(f"port {p} is out of range 0..65535")
    return host or default_host, p


def register(subparsers) -> None:
    p = subparsers.add_parser("sim-server", help="serve the virtual line over OPC UA / MQTT / REST",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="line config YAML (default: the shipped virtual line)")
    p.add_argument("--opcua", type=_endpoint, metavar="[HOST:]PORT", help="serve OPC UA here")
    p.add_argument("--mqtt", type=_endpoint, metavar="[HOST:]PORT", help="publish to the MQTT broker here")
    p.add_argument("--rest", type=_endpoint, metavar="[HOST:]PORT", help="serve the HTTP JSON API here")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second (default 1)")
    p.add_argument("--seed", type=int, default=0, help="virtual line seed (default 0)")
    p.add_argument("--pki", metavar="DIR", help="certificates for Basic256Sha256 (created if missing); enables writes")
    p.add_argument("--user", action="append", default=[], metavar="NAME",
                   help="OPC UA user allowed to write (repeatable; needs --pki)")
    p.add_argument("--password-env", default="WORKBENCH_SIM_PASSWORD",
                   help="environment variable holding the users' password (default WORKBENCH_SIM_PASSWORD)")
    p.add_argument("--token-env", default="WORKBENCH_SIM_TOKEN",
                   help="environment variable holding the REST bearer token for writes")
    p.add_argument("--history", type=float, default=3600.0, metavar="SECONDS",
                   help="OPC UA: keep this many seconds of each tag's changes for HistoryRead (default 3600; 0 = none)")
    p.add_argument("--mqtt-user", metavar="NAME", help="MQTT login (password in --mqtt-password-env)")
    p.add_argument("--mqtt-password-env", default="WORKBENCH_MQTT_PASSWORD",
                   help="environment variable holding the MQTT password (default WORKBENCH_MQTT_PASSWORD)")
    p.add_argument("--mqtt-tls", action="store_true", help="MQTT over TLS, broker verified against the system CAs")
    p.add_argument("--mqtt-ca", metavar="PEM", help="MQTT over TLS, broker verified against this CA (implies --mqtt-tls)")
    p.add_argument("--mqtt-cert", metavar="PEM", help="MQTT client certificate (implies --mqtt-tls)")
    p.add_argument("--mqtt-key", metavar="PEM", help="private key of --mqtt-cert")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run until Ctrl-C)")
    p.set_defaults(func=run)


def _check(args) -> None:
    if not (args.opcua or args.mqtt or args.rest):
        raise ValueError("nothing to serve: give at least one of --opcua, --mqtt, --rest")
    if args.speed <= 0:
        raise ValueError(f"--speed must be > 0 simulated seconds per second, got {args.speed}")
    if args.user and not args.pki:
        raise ValueError("--user needs --pki: passwords are accepted only over Basic256Sha256 SignAndEncrypt")
    history = getattr(args, "history", 3600.0)
    if not (history >= 0 and history != float("inf")):
        raise ValueError(f"--history must be seconds >= 0 (0 = no OPC UA history), got {history}")
    if args.user and not os.environ.get(args.password_env):
        raise ValueError(f"--user given but environment variable {args.password_env} (--password-env) is empty")


async def serve(args, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    """Run the servers until ``args.duration`` passes or ``stop`` is set (or forever); ``ready`` is set when up."""
    import pandas as pd

    from data_adapters.sim import SimBackend
    from workbench.config import default_config_path, load_line_config

    line = load_line_config(args.config or default_config_path())
    tags = list(line.tags.values())
    source = SimBackend(line, seed=args.seed, speed=args.speed, start=pd.Timestamp.now(tz="UTC").floor("s"),
                        every_sample=True)  # a station: every sample, however loaded this machine is
    await source.connect()
    servers = []
    try:
        if args.opcua:
            from data_adapters.opcua_pki import make_pki
            from data_adapters.opcua_server import LineOpcUaServer

            pki = make_pki(args.pki) if args.pki else None
            users = {u: os.environ[args.password_env] for u in args.user}
            srv = LineOpcUaServer(tags, source, host=args.opcua[0], port=args.opcua[1], pki=pki, users=users,
                                  history_s=getattr(args, "history", 3600.0) or None)
            await srv.start()
            servers.append(srv)
            mode = f"writes: users {', '.join(users)} over Basic256Sha256" if users else "read-only"
            mode += f"; history {srv.history_s:g} s" if srv.history_s else "; no history"
            print(f"OPC UA  {srv.url}  ({mode}; namespace {srv.namespace})", flush=True)
            if pki:
                print(f"        server certificate {pki.server_cert}; client certificate {pki.client_cert}", flush=True)
        if args.mqtt:
            from data_adapters.mqtt_publisher import LineMqttPublisher

            from workbench.config import MqttAdapter

            tls = bool(getattr(args, "mqtt_tls", False) or getattr(args, "mqtt_ca", None) or getattr(args, "mqtt_cert", None))
            user = getattr(args, "mqtt_user", None)
            settings = MqttAdapter(kind="mqtt", host=args.mqtt[0], port=args.mqtt[1], username=user,
                                   password_env=getattr(args, "mqtt_password_env", None) if user else None, tls=tls,
                                   ca_file=getattr(args, "mqtt_ca", None), certfile=getattr(args, "mqtt_cert", None),
                                   keyfile=getattr(args, "mqtt_key", None))
            pub = LineMqttPublisher(tags, source, settings=settings)
            await pub.start()
            servers.append(pub)
            print(f"MQTT    publishing to {args.mqtt[0]}:{args.mqtt[1]} (topics = tag paths; commands on cmd/<path>)",
                  flush=True)
        if args.rest:
            from data_adapters.rest import LineRestServer

            rest = LineRestServer(tags, source, host=args.rest[0], port=args.rest[1],
                                  token=os.environ.get(args.token_env))
            await rest.start()
            servers.append(rest)
            print(f"REST    {rest.url}  (writes {'need the bearer token' if rest.token else 'disabled: no token set'})",
                  flush=True)
        print(f"serving {len(tags)} tags of {line.name!r}, seed {args.seed}, speed x{args.speed:g}", flush=True)
        if ready is not None:
            ready.set()
        stop = stop or asyncio.Event()
        try:
            await asyncio.wait_for(stop.wait(), args.duration)
        except asyncio.TimeoutError:
            pass
    finally:
        for srv in reversed(servers):
            await srv.stop()
        await source.close()


def run(args) -> int:
    _check(args)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0

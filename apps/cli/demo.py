"""`workbench demo`: the virtual line plus the live dashboard, served at http://localhost:5006/.

The virtual line runs inside the dashboard server (one acquisition task for all browser sessions);
``--speed`` makes simulated time run faster, so the injected events of the day (dew-point excursion
about 1 h in, laser-window contamination, die-lip streak...) show up sooner.
"""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    from apps.cli.serve import add_server_args

    p = sub.add_parser("demo", help="run the virtual line with the live dashboard (prints the URL)")
    p.add_argument("--config", default=None, help="line config YAML (default: the shipped virtual line)")
    p.add_argument("--speed", type=float, default=None,
                   help="simulated seconds per wall-clock second (default: the config's, 1.0)")
    p.add_argument("--seed", type=int, default=None, help="seed of the virtual line (default: the config's)")
    p.add_argument("--events", default=None,
                   help="YAML list of injected events instead of the default day, e.g. "
                        "[{kind: dewpoint_excursion, start: 2min, end: 10min, magnitude: 9}]; 'none' for none")
    add_server_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from apps.cli.serve import run_dashboard

    if args.speed is not None and not args.speed > 0:
        raise ValueError(f"--speed must be > 0 simulated seconds per second, got {args.speed}")
    env = {}
    if args.speed is not None:
        env["WORKBENCH_SIM_SPEED"] = repr(float(args.speed))
    if args.seed is not None:
        env["WORKBENCH_SIM_SEED"] = str(args.seed)
    if args.events:
        if args.events.lower() != "none" and not Path(args.events).is_file():
            raise FileNotFoundError(f"--events {args.events}: no such file (a YAML list of events, or 'none')")
        env["WORKBENCH_SIM_EVENTS"] = args.events if args.events.lower() == "none" else str(Path(args.events).resolve())
    return run_dashboard(config=args.config, port=args.port, address=args.address, env_extra=env,
                         allow_origins=args.allow_origin, what="demo (virtual line + live dashboard)")

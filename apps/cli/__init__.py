"""The ``workbench`` command: one subcommand per module in this package.

Each module exposes ``register(subparsers)``, which adds its subparser and sets ``func`` to a callable
taking the parsed arguments and returning an exit code. Subcommands import their heavy dependencies
lazily so ``workbench --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# The order here is the order in `workbench --help`.
SUBCOMMANDS = [
    "demo",
    "serve",
    "sim_server",
    "record",
    "fill_history",
    "import_history",
    "limits",
    "detect",
    "formation",
    "trial",
    "audit",
    "config",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Line Workbench: drift investigation, live dashboards and controlled trials "
        "for lithium-ion cell production lines.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"apps.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"apps.cli.{name}":
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, KeyError, FileNotFoundError, PermissionError, ConnectionError) as exc:
        # Errors we raise carry the what/where/how (a refused login or certificate included): print them
        # plainly, no traceback.
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"workbench {args.command}: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

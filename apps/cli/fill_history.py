"""`workbench fill-history`: fill a history store with days of the virtual line (for the demo and notebooks)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("fill-history", help="fill a history store with the virtual line's history")
    p.add_argument("--store", required=True, help="history store folder (created if missing)")
    p.add_argument("--days", type=float, default=7.0, help="how much history (default 7 days)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", help="line config YAML (default: the virtual line)")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.history.fill import fill_from_virtual_line

    counts = fill_from_virtual_line(args.store, days=args.days, seed=args.seed, config=args.config, progress=True)
    print(f"{args.store}: stored {counts['samples']:,} samples in {counts['rows']:,} rows, "
          f"{counts['cells']:,} cells of genealogy, {counts['events']} truth events "
          f"({counts['hours']:g} h from {counts['start']})")
    return 0

"""`workbench limits fit|approve|list`: control limits fitted on history, versioned and approved in the store.

The library side is :mod:`workbench.spc.limitsets`; the dashboard loads ``in_force(store, tag)``.
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("limits", help="fit, approve and list control-limit sets stored in a history store")
    act = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = act.add_parser("fit", help="Phase I limits of a tag from a history window (saved, not yet in force)")
    f.add_argument("--store", required=True, help="history store folder")
    f.add_argument("--tag", required=True, action="append", help="ISA-95 tag path (repeat for several tags)")
    f.add_argument("--start", required=True, help="window start (ISO 8601; UTC unless it carries an offset)")
    f.add_argument("--end", required=True, help="window end (inclusive)")
    f.add_argument("--by", required=True, help="who fits the limits")
    f.add_argument("--why", required=True, help="why (e.g. 'baseline after nozzle change')")
    f.add_argument("--chart", default="imr", choices=["imr", "xbar_r", "xbar_s"])
    f.add_argument("--subgroup-size", type=int, default=1, help="consecutive values per subgroup (xbar charts)")
    a = act.add_parser("approve", help="approve a saved limit set: it is in force from now on")
    a.add_argument("id", help="limit set id (from `workbench limits list`)")
    a.add_argument("--store", required=True)
    a.add_argument("--by", required=True, help="who approves")
    ls = act.add_parser("list", help="saved limit sets, and which is in force per tag")
    ls.add_argument("--store", required=True)
    ls.add_argument("--tag", help="only this tag")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.spc import limitsets

    if args.action == "fit":
        for tag in args.tag:
            fitted = limitsets.fit_limit_set(args.store, tag, start=args.start, end=args.end, by=args.by,
                                             why=args.why, chart=args.chart, subgroup_size=args.subgroup_size)
            saved = limitsets.save(args.store, fitted)
            print(saved.describe())
        print(f"approve with: workbench limits approve ID --store {args.store} --by USER")
        return 0
    if args.action == "approve":
        print(limitsets.approve(args.store, args.id, by=args.by).describe())
        return 0
    sets = limitsets.list_limit_sets(args.store, tag=args.tag)
    if not sets:
        print(f"{args.store}: no limit sets; fit one with `workbench limits fit`")
        return 0
    for s in sets:
        force = limitsets.in_force(args.store, s.tag)
        mark = "*" if force is not None and force.id == s.id else " "
        print(f"{mark} {s.describe()}")
    print("* = in force")
    return 0

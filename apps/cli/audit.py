"""`workbench audit verify PATH` (walk the hash chain) and `workbench audit show PATH` (list entries)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("audit", help="verify or show the setpoint-write audit log")
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = asub.add_parser("verify", help="check the hash chain; exit 1 naming the first bad entry")
    v.add_argument("path")
    v.set_defaults(func=verify_cmd)
    s = asub.add_parser("show", help="print the entries (oldest first)")
    s.add_argument("path")
    s.add_argument("--trial", help="only this trial id")
    s.add_argument("--tag", help="only this tag")
    s.add_argument("--last", type=int, help="only the last N entries")
    s.set_defaults(func=show_cmd)


def verify_cmd(args) -> int:
    from data_adapters.audit import verify

    res = verify(args.path)
    print(f"{args.path}: {'OK' if res.ok else 'FAILED'}: {res.message}")
    return 0 if res.ok else 1


def show_cmd(args) -> int:
    from pathlib import Path

    from data_adapters.audit import AuditLog

    if not Path(args.path).exists():
        print(f"{args.path}: no audit log at this path")
        return 1
    for e in AuditLog(args.path).entries(tag=args.tag, trial_id=args.trial, limit=args.last):
        print(f"{e['seq']:>5} {e['time']} {e['user'] or '-':<10} {e['result']:<8} {e['tag']} "
              f"{e['old_value']} -> {e['requested']} (readback {e['readback']}) trial={e['trial_id']} :: {e['message']}")
    return 0

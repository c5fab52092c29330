"""`workbench trial dry-run|run|recover|status`: controlled setpoint trials from a YAML plan.

    workbench trial dry-run PLAN --config LINE            # exit 1 naming the first offending step
    workbench trial run PLAN --config LINE --user U --reason R --journal J --audit A
    workbench trial recover --config LINE --journal J --audit A --user U [--yes]
    workbench trial status --journal J
"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("trial", help="dry-run, run and recover controlled setpoint trials")
    tsub = p.add_subparsers(dest="trial_command", metavar="ACTION", required=True)

    d = tsub.add_parser("dry-run", help="walk every write of PLAN through the guard; print the timeline")
    d.add_argument("plan")
    d.add_argument("--config", help="line config YAML (default: the virtual line)")
    d.add_argument("--baseline", action="append", default=[], metavar="TAG=VALUE",
                   help="baseline value of a setpoint (overrides the plan's baseline.expected)")
    d.set_defaults(func=dry_run_cmd)

    r = tsub.add_parser("run", help="arm and run PLAN; always returns to baseline")
    r.add_argument("plan")
    _common(r)
    r.add_argument("--minutes", type=float, help="arming expiry (default: the plan's)")
    r.add_argument("--speed", type=float, help="virtual line speed (sim stations only)")
    r.set_defaults(func=run_cmd)

    c = tsub.add_parser("recover", help="restore the baseline of unfinished trials found in the journal")
    _common(c)
    c.add_argument("--yes", action="store_true", help="restore without asking")
    c.set_defaults(func=recover_cmd)

    s = tsub.add_parser("status", help="list the trials in a journal")
    s.add_argument("--journal", required=True)
    s.set_defaults(func=status_cmd)


def _common(p) -> None:
    p.add_argument("--config", help="line config YAML (default: the virtual line)")
    p.add_argument("--journal", required=True, help="trial journal (SQLite), e.g. var/trials.sqlite")
    p.add_argument("--audit", required=True, help="audit log (SQLite), e.g. var/audit.sqlite")
    p.add_argument("--user", required=True)
    p.add_argument("--reason", default="")
    p.add_argument("--recovery", choices=["auto", "confirm"], default="confirm")


def _line(path):
    from workbench.config import default_config_path, load_line_config

    return load_line_config(path or default_config_path())


def dry_run_cmd(args) -> int:
    from data_adapters.trials import PlanError, dry_run, load_plan

    try:
        baseline = {}
        for item in args.baseline:
            tag, _, value = item.partition("=")
            baseline[tag] = float(value)
        report = dry_run(load_plan(args.plan), _line(args.config), baseline)
    except (PlanError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.format())
    return 0 if report.ok else 1


def _controller(args, plan=None):
    from data_adapters.audit import AuditLog
    from data_adapters.trials import TrialController, load_plan
    from data_adapters.trials.stations import trial_adapter

    line = _line(args.config)
    plan = plan or (load_plan(args.plan) if getattr(args, "plan", None) else None)
    if plan is None:  # recover: build from the unfinished trial's own plan
        from data_adapters.trials import Journal, parse_plan
        import json

        recs = Journal(args.journal).unfinished()
        if not recs:
            return None, line
        plan = parse_plan(json.loads(recs[0].plan_json))
    adapter, scale = trial_adapter(line, plan, audit=AuditLog(args.audit), speed=getattr(args, "speed", None))
    return TrialController(adapter, line, journal=args.journal, time_scale=scale, recovery=args.recovery,
                           recovery_user=args.user), plan


def run_cmd(args) -> int:
    import signal
    import threading

    from data_adapters.trials import PlanError, TrialError

    try:
        ctl, plan = _controller(args)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for msg in ctl.connect():
        print(msg)
    if ctl.unfinished:
        print("refusing to start: recover the unfinished trial first (workbench trial recover)", file=sys.stderr)
        ctl.close()
        return 3
    ctl.listeners.append(lambda state, reason: print(f"[{ctl.trial_id}] {state}: {reason}", flush=True))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(
        target=ctl.abort, args=("SIGTERM received", "signal"), daemon=True).start())
    try:
        ctl.load(plan)
        ctl.arm(args.user, args.reason or plan.arming.reason or "trial", args.minutes)
        ctl.start()
        state = ctl.wait()
    except (PlanError, TrialError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        ctl.close()
        return 2
    ctl.close()
    print(f"trial {ctl.trial_id}: {state} ({ctl.reason}); baseline {'restored' if ctl.restored else 'NOT restored'}")
    return 0 if state == "completed" else 1


def recover_cmd(args) -> int:
    ctl, _ = _controller(args)
    if ctl is None:
        print("no unfinished trials")
        return 0
    msgs = ctl.connect()
    for m in msgs:
        print(m)
    if ctl.unfinished:
        if not args.yes:
            answer = input("restore the baseline now? [y/N] ") if sys.stdin.isatty() else ""
            if answer.strip().lower() not in ("y", "yes"):
                print("not restored (use --yes, or answer y)")
                ctl.close()
                return 1
        for m in ctl.recover(user=args.user, reason=args.reason or "return to baseline after an unfinished trial"):
            print(m)
    ok = not ctl.unfinished
    ctl.close()
    return 0 if ok else 1


def status_cmd(args) -> int:
    from data_adapters.trials import Journal

    j = Journal(args.journal)
    for t in j.trials():
        flag = "restored" if t.restored else ("UNFINISHED" if t.baseline else "no writes")
        print(f"{t.trial_id}  {t.plan_name:<24} {t.state:<10} {flag:<10} {t.user}: {t.exit_reason or ''}")
    return 1 if j.unfinished() else 0

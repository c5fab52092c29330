"""`workbench formation FILE... | DIR`: per-cycle capacity and CE (plus DCIR / K-value when the record has
them) from cycler files of any supported format (see workbench.cyclers), with the repairs made while
reading; a folder is read in parallel, summarised per cell, optionally written to a history store."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("formation", help="summarise cycler files or folders: capacity, CE, DCIR, K-value per cell")
    p.add_argument("files", nargs="+", help="cycler files (BDF, Novonix, Maccor, Neware, BioLogic, Arbin, PEC) or one "
                                            "folder of them")
    p.add_argument("--first", choices=["auto", "charge", "discharge"], default="auto",
                   help="direction that opens a cycle (discharge for graphite-vs-Li half cells; default: auto)")
    p.add_argument("--strict", action="store_true", help="refuse files that need a repair instead of repairing")
    p.add_argument("--workers", type=int, default=None, help="processes for a folder (default: the CPUs)")
    p.add_argument("--store", default=None, help="history store folder to write the per-cell results into")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    if len(args.files) == 1 and Path(args.files[0]).is_dir():
        return _run_folder(args)
    from workbench.models import formation as fm

    for path in args.files:
        curve = fm.read_curve(path, strict=args.strict, first=args.first)
        _print_curve(fm, path, curve, args.first)
    return 0


def _print_curve(fm, path, curve, first) -> None:
    import numpy as np

    from workbench.cyclers.folder import efficiency_checks

    s = fm.cycle_summary(curve, first=first)
    print(f"{path}: cell {curve.attrs.get('cell_id', '?')} ({curve.attrs.get('format', '?')}), "
          f"{curve.sizes['sample']} samples, {float(curve.time[-1]) / 3600:.2f} h, "
          f"cycles open with {s.attrs['first_direction']}")
    for r in curve.attrs.get("repairs", []):
        print(f"  repaired: {r}")
    for r in list(curve.attrs.get("checks", [])) + efficiency_checks(s):
        print(f"  check: {r}")
    print(f"  {'cycle':>5} {'charge Ah':>12} {'discharge Ah':>13} {'CE':>8} {'loss Ah':>10}")
    for c in s.cycle.values:
        r = s.sel(cycle=c)
        print(f"  {int(c):>5} {_num(float(r.charge_capacity), '.6f'):>12} {_num(float(r.discharge_capacity), '.6f'):>13} "
              f"{_num(float(r.coulombic_efficiency), '.4f'):>8} {_num(float(r.loss), '.6f'):>10}")
    try:
        d = fm.dcir(curve)
        for k in range(d.sizes["pulse"]):
            vals = ", ".join(f"{float(dt):g} s: {float(v):.4f}" for dt, v in zip(d.dt.values, d.dcir.values[k]))
            print(f"  DCIR pulse {k + 1} at SOC {float(d.soc[k]):.0f} %: {vals} mohm")
    except fm.NoPulseError:
        print("  DCIR: no current pulse in the record")
    try:
        k = fm.k_value(curve)
        print(f"  K-value: {float(k.k_value):.3f} mV/day")
    except fm.RestTooShortError as exc:
        print(f"  K-value: not measurable ({str(exc).split(': ', 1)[-1][:90]}...)")
    if np.isnan(s.coulombic_efficiency.values).all():
        print("  CE: no cycle has both a charge and a discharge (record ends mid-cycle)")


def _num(x, fmt: str) -> str:
    """A number for the table, or an em dash where there is none (no discharge, no pulse, no long rest)."""
    import math
    return format(x, fmt) if isinstance(x, (int, float)) and math.isfinite(x) else "—"


def _run_folder(args) -> int:
    from workbench.cyclers.folder import read_folder

    folder = Path(args.files[0])
    res = read_folder(folder, workers=args.workers, progress=not args.no_progress, strict=args.strict,
                      first=args.first, store=args.store)
    r, f = res.results, res.failures
    unknown, refused = f[f.unknown.astype(bool)], f[~f.unknown.astype(bool)]

    def rel(path):
        p = Path(path)
        return str(p.relative_to(folder)) if p.is_relative_to(folder) else str(p)

    print(f"{folder}: {len(r)} cycler file(s) read, {len(refused)} refused, {len(unknown)} other file(s) skipped")
    if len(r):
        w = max(4, *(len(str(c)) for c in r.cell_id))
        print(f"  {'cell':<{w}} {'format':<14} {'cycles':>6} {'charge Ah':>11} {'disch. Ah':>11} {'CE':>7} "
              f"{'DCIR mohm':>10} {'K mV/day':>9}   (first cycle with a charge and a discharge)")
        for row in r.itertuples():
            print(f"  {str(row.cell_id):<{w}} {row.format:<14} {row.cycles:>6} {_num(row.charge_capacity, '.6g'):>11} "
                  f"{_num(row.discharge_capacity, '.6g'):>11} {_num(row.coulombic_efficiency, '.4f'):>7} "
                  f"{_num(row.dcir, '.4g'):>10} {_num(row.k_value, '.4g'):>9}")
            for rep in filter(None, str(row.repairs).split(" | ")):
                print(f"      repaired: {rep}")
            for chk in filter(None, str(row.checks).split(" | ")):
                print(f"      check: {chk}")
        print("  — : not in the record (no discharge, no current pulse for DCIR, no rest long enough for K)")
    if len(refused):
        print(f"refused ({len(refused)}), each with what to do:")
        for row in refused.itertuples():
            kind, _, msg = row.error.partition(": ")
            msg = msg[len(row.file) + 2:] if msg.startswith(f"{row.file}: ") else msg   # the path is said once
            print(f"  {rel(row.file)}: {msg} [{kind}]")
    if len(unknown):
        print(f"skipped, not a cycler export this reader knows ({len(unknown)}): "
              f"{', '.join(rel(x) for x in unknown.file)}")
        print("  (reads BDF CSV, Novonix, Maccor text, Neware CSV/.nda/.ndax, BioLogic .mpr/.mpt, Arbin .res, PEC "
              "CSV; export other cyclers' data as Battery Data Format CSV)")
    if args.store:
        print(f"results of {r.cell_id.nunique()} cell(s) written to the history store {args.store} "
              f"(station 'formation', table formation_results)")
    return 0

"""`workbench import FILE... --store DIR`: historian and spreadsheet exports into the history store.

The work is :func:`workbench.history.importer.import_files` (files only, no station I/O).
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("import", help="import historian/spreadsheet exports (CSV, Parquet, Excel) into a history store",
                       description="Wide exports (a time column and one column per tag; units as 'name [unit]' or a "
                       "units row) and long exports (time, tag, value[, units, quality]). Text instead of a number "
                       "('Bad Input', 'I/O Timeout') and bad quality are kept as gaps. Importing a file twice adds "
                       "nothing. Nothing is stored unless every file reads without error.")
    p.add_argument("files", nargs="+", metavar="FILE", help="export files (.csv, .parquet, .xlsx)")
    p.add_argument("--store", required=True, help="history store folder (created if missing)")
    p.add_argument("--config", help="line config YAML: maps tag names to ISA-95 paths, gives units and stations")
    p.add_argument("--map", dest="mapping", help="mapping CSV with columns source,path[,units]")
    p.add_argument("--tz", help="time zone of times without a UTC offset, e.g. Europe/Berlin or UTC")
    p.add_argument("--ambiguous", default="raise", choices=["raise", "earlier", "later", "infer"],
                   help="a local time that occurs twice (summer time ends): error (default), the earlier or later "
                   "instant, or infer from row order")
    p.add_argument("--nonexistent", default="raise", choices=["raise", "refuse", "shift_forward"],
                   help="a local time skipped when summer time starts: error (default), refuse the row, or shift it")
    p.add_argument("--time-format", help="strftime format of the time column if not ISO 8601, e.g. '%%d.%%m.%%Y %%H:%%M'")
    p.add_argument("--encoding", default="utf-8", help="text encoding of CSV exports (e.g. cp1252)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.history.importer import import_files

    summary = import_files(args.files, args.store, config=args.config, mapping=args.mapping, tz=args.tz,
                           ambiguous=args.ambiguous, nonexistent=args.nonexistent, time_format=args.time_format,
                           encoding=args.encoding, progress=not args.no_progress)
    print(f"{args.store}: {summary}")
    return 0

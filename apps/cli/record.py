"""`workbench record`: subscribe to a line through its adapters and append to a history store."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("record", help="record a line's tags into a history store (Ctrl-C / SIGTERM stops cleanly)")
    p.add_argument("--config", help="line config YAML (default: the virtual line)")
    p.add_argument("--store", required=True, help="history store folder")
    p.add_argument("--flush-interval", type=float, default=5.0, help="seconds between flushes (default 5)")
    p.add_argument("--grace", type=float, default=2.0, help="seconds a sample waits for out-of-order peers")
    p.add_argument("--max-buffer", type=int, default=1_000_000, help="flush early at this many samples")
    p.add_argument("--no-backfill", dest="backfill", action="store_false",
                   help="do not fill gaps from the source's history (default: fill them where the source keeps one)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: run until stopped)")
    p.set_defaults(func=run)


def run(args) -> int:
    import asyncio
    import signal

    from workbench.config import default_config_path, load_line_config

    from data_adapters.connect import open_line
    from data_adapters.recorder import Recorder

    line = load_line_config(args.config or default_config_path())

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_line(line) as source:
            # Sources that keep history (OPC UA HistoryRead) fill the time this recorder was down or cut off.
            backfill = getattr(source, "history", None) if args.backfill else None
            rec = Recorder(line, source, args.store, flush_interval_s=args.flush_interval, grace_s=args.grace,
                           max_buffer=args.max_buffer, backfill=backfill)
            await rec.start()
            print(f"recording {len(rec.paths)} tags of {line.name!r} into {args.store} "
                  f"(flush every {args.flush_interval:g} s; backfill {'from the source history' if backfill else 'off'}; "
                  f"backfilled={rec.stats.backfilled}); stop with Ctrl-C", flush=True)
            try:
                await asyncio.wait_for(stop.wait(), timeout=args.duration)
            except asyncio.TimeoutError:
                pass
            stats = await rec.stop()
        print(f"stopped: {rec.summary()}", flush=True)
        return 0 if stats.rejected_units == 0 else 3

    return asyncio.run(main())

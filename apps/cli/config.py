"""`workbench config check FILE`: validate a line configuration and list its stations and tags.

`workbench config init --opcua URL [--mqtt HOST:PORT --listen S] -o LINE.yaml`: draft a line config from what
the servers offer (:mod:`data_adapters.discover`), check it, and write it.
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("config", help="draft (init), validate (check) and summarise a line config YAML")
    p.add_argument("action", choices=["check", "show-default", "init"],
                   help="check FILE, print the default's path, or init: draft a config from an OPC UA server or MQTT broker")
    p.add_argument("file", nargs="?", help="line config YAML (default: the virtual line)")
    p.add_argument("--opcua", metavar="URL", help="init: browse this OPC UA server (opc.tcp://host:port)")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="init: listen to this MQTT broker's topics")
    p.add_argument("--listen", type=float, default=10.0, metavar="S", help="init: seconds to listen to MQTT (10)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="init: seconds to wait for each OPC UA request (30; more for a slow server)")
    p.add_argument("--name", help="init: the line's name")
    p.add_argument("-o", "--output", help="init: where to write the draft (refuses to overwrite)")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.config import default_config_path, load_line_config

    if args.action == "show-default":
        print(default_config_path())
        return 0
    if args.action == "init":
        return init(args)
    line = load_line_config(args.file or default_config_path())
    print(f"{line.source}: OK - line {line.name!r}, site {line.site}")
    for s in line.stations:
        writable = sum(t.writable for t in s.tags)
        print(f"  {s.name:<10} {s.kind:<10} adapter={s.adapter.kind:<7} tags={len(s.tags):<4} writable={writable}")
    return 0


def init(args) -> int:
    import asyncio
    from pathlib import Path

    from data_adapters import discover
    from workbench.config import load_line_config

    if not args.output:
        raise ValueError("config init: say where to write the draft: -o LINE.yaml")
    out = Path(args.output)
    if out.exists():
        raise ValueError(f"{out} exists; config init does not overwrite: choose another -o or remove it")
    if bool(args.opcua) == bool(args.mqtt):
        raise ValueError("config init: give one source: --opcua opc.tcp://HOST:PORT or --mqtt HOST:PORT [--listen S]")
    if args.opcua:
        found = asyncio.run(discover.browse_opcua(args.opcua, timeout=args.timeout))
        adapter = {"kind": "opcua", "url": args.opcua}
        ns = discover.main_namespace(found)
        if ns:
            adapter["namespace"] = ns
            discover.restrict_to_namespace(found, ns)
        source = args.opcua
    else:
        host, _, port = args.mqtt.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--mqtt {args.mqtt!r}: give HOST:PORT, e.g. 127.0.0.1:1883")
        found = discover.listen_mqtt(host, int(port), args.listen)
        adapter = {"kind": "mqtt", "host": host, "port": int(port)}
        source = f"mqtt://{host}:{port}"
    text = discover.draft_config(found, source=source, adapter=adapter, name=args.name)
    tmp = out.with_name(f".{out.name}.draft")
    tmp.write_text(text)
    try:
        line = load_line_config(tmp)  # the draft must validate before it is written
    except Exception:
        print(f"config init: the draft does not validate; it is left at {tmp} for a look", flush=True)
        raise
    tmp.replace(out)
    tags = sum(len(s.tags) for s in line.stations)
    setpoints = sum(1 for s in line.stations for t in s.tags if t.setpoint)
    skipped = sum(1 for v in found if not v.path)
    print(f"{out}: drafted {tags} tag(s) in {len(line.stations)} station(s) from {source}; {setpoints} setpoint(s) "
          f"drafted not writable; {skipped} variable(s) not drafted (listed at the end of the file). Review the "
          f"GUESSED comments, then: workbench serve --config {out}")
    return 0

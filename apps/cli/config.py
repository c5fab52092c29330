"""`workbench config check FILE`: validate a line configuration and list its stations and tags."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("config", help="validate a line config YAML and summarise it")
    p.add_argument("action", choices=["check", "show-default"], help="check FILE, or print the default's path")
    p.add_argument("file", nargs="?", help="line config YAML (default: the virtual line)")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.config import default_config_path, load_line_config

    if args.action == "show-default":
        print(default_config_path())
        return 0
    line = load_line_config(args.file or default_config_path())
    print(f"{line.source}: OK - line {line.name!r}, site {line.site}")
    for s in line.stations:
        writable = sum(t.writable for t in s.tags)
        print(f"  {s.name:<10} {s.kind:<10} adapter={s.adapter.kind:<7} tags={len(s.tags):<4} writable={writable}")
    return 0

r"""Strict YAML for the files an engineer writes by hand (line configs, trial plans).

Plain ``yaml.safe_load`` keeps the *last* of two equal keys without a word: a trial plan with
``delta: {pump_rate_setpoint: 50}`` and, further down the same mapping, ``pump_rate_setpoint: 400``
would move the pump by 400. Here a repeated key is an error naming the file, both lines and the key
path; a file that is not UTF-8 text (a binary file, a spreadsheet) is an error naming the file and the
byte offset, not a codec traceback.

>>> try:
...     load_yaml_text("a: 1\nb: {c: 2, c: 3}\n", source="plan.yaml")
... except StrictYamlError as exc:
...     print(str(exc).split(";")[0])
plan.yaml: line 2, column 11: key b.c is repeated (first at line 2, column 5)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class StrictYamlError(ValueError):
    """A YAML file that cannot be read as intended; the message names the file, line and key."""


def _label(key_node) -> str:
    return str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else f"<{key_node.tag}>"


def _repeated_key(node, path: str = "") -> tuple[str, Any, Any] | None:
    """The first repeated mapping key under ``node``: (key path, first key node, repeated key node)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], Any] = {}
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor`: explicit keys override merged ones, as YAML intends
            here = f"{path}.{_label(key)}" if path else _label(key)
            if isinstance(key, yaml.ScalarNode):
                ident = (key.tag, key.value)
                if ident in seen:
                    return here, seen[ident], key
                seen[ident] = key
            found = _repeated_key(value, here)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _repeated_key(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _where(mark) -> str:
    return f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""


def load_yaml_text(text: str, *, source: str, error: type[Exception] = StrictYamlError) -> Any:
    """Parse YAML ``text`` (safe tags only), refusing repeated keys; errors are ``error(message)``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        found = _repeated_key(node)
        if found:
            key, first, again = found
            raise error(f"{source}:{_where(again.start_mark)} key {key} is repeated (first at line "
                        f"{first.start_mark.line + 1}, column {first.start_mark.column + 1}); YAML would "
                        "silently keep the last value: remove one of them")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise error(f"{source}:{_where(mark)} not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path, *, what: str, error: type[Exception] = StrictYamlError) -> Any:
    """Read and parse the YAML file ``path`` (a ``what``, e.g. "line config"); errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror}") from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise error(f"{path}: not a text file (a NUL byte at offset {nul}); "
                    f"a {what} is a UTF-8 YAML text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                    f"a {what} is a UTF-8 YAML text file: save it as UTF-8") from None
    return load_yaml_text(text.removeprefix("\ufeff"), source=str(path), error=error)


__all__ = ["StrictYamlError", "load_yaml_text", "load_yaml_file"]

"""Which cycler wrote a file, from its content (magic bytes and header text), not from its extension alone."""

from __future__ import annotations

from pathlib import Path

class UnknownFormatError(ValueError):
    """A file that is none of the cycler exports in :data:`FORMATS` (a licence, a note, another program's table)."""


FORMATS = ("bdf", "novonix", "maccor", "neware-csv", "neware-binary", "biologic-mpr", "biologic-mpt", "arbin-res",
           "pec")


def _zip_holds_ndc(path: Path) -> bool:
    """A Neware .ndax is a zip archive of .ndc record files (and XML step/test info)."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.lower().endswith(".ndc") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def sniff(path) -> str | None:
    """The format name of ``path`` (one of :data:`FORMATS`) or None when nothing matches."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(16384)
    if head.startswith(b"NEWARE") or (head.startswith(b"PK") and _zip_holds_ndc(path)):
        return "neware-binary"
    if head.startswith(b"BIO-LOGIC MODULAR FILE"):
        return "biologic-mpr"
    if head[:32].startswith(b"\x00\x01\x00\x00Standard Jet DB") or head[4:19] == b"Standard Jet DB":
        return "arbin-res"
    text = head.decode("utf-8-sig", errors="replace")
    first = text.lstrip().split("\n", 1)[0]
    if first.lstrip('"').startswith("[Summary]"):
        return "novonix"
    if text.startswith("EC-Lab ASCII FILE") or "Nb header lines" in text[:200]:
        return "biologic-mpt"
    lines = text.splitlines()
    from workbench.cyclers import maccor, pec
    if maccor.header_line(lines) is not None:
        return "maccor"
    if pec.header_line(lines) is not None:
        return "pec"
    low = first.lower()
    if ("step type" in low or "step index" in low or "cycle id" in low) and ("voltage(v)" in low or
                                                                            "current(" in low or "cycle" in low):
        return "neware-csv"
    from workbench.cyclers.bdf import _match_bdf
    import csv
    try:
        cols = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return None
    found = _match_bdf(cols)
    if {"time", "voltage", "current"} <= set(found):
        return "bdf"
    return None

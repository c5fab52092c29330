"""Cycler files in, curves out: one entry point, :func:`read_curve`, for every common cycler export.

Formats (recognised from content by :func:`~workbench.cyclers.sniff.sniff`): Battery Data Format CSV,
Novonix, Maccor text, Neware CSV (flat and nested) and ``.nda``/``.ndax``, BioLogic ``.mpr``/``.mpt``, Arbin
``.res``, PEC CSV. Every reader yields a :class:`~.table.Table` in canonical units that
:mod:`.repairs` checks and repairs (each repair listed in ``attrs["repairs"]``; ``strict=True`` refuses
instead), then :func:`~.curve.curve_from_arrays` builds the curve. :func:`read_folder` reads many files.

>>> read_curve("/no/such/file.csv")
Traceback (most recent call last):
...
FileNotFoundError: cycler file /no/such/file.csv does not exist; check the path
"""

from __future__ import annotations

from pathlib import Path

from workbench.cyclers.curve import FormationDataError, curve_from_arrays  # noqa: F401
from workbench.cyclers.repairs import FormationRepairError  # noqa: F401
from workbench.cyclers.sniff import FORMATS, UnknownFormatError, sniff


class NotACyclerExport(FormationDataError, UnknownFormatError):
    """Raised by :func:`read_curve` for a file whose content matches none of :data:`FORMATS`."""


__all__ = ["read_curve", "sniff", "FORMATS", "FormationRepairError", "NotACyclerExport", "reader_for"]


def reader_for(fmt: str):
    """The reader function of a format name from :data:`FORMATS`."""
    from workbench.cyclers import arbin, bdf, biologic, maccor, neware, novonix, pec
    return {"bdf": bdf.read_bdf, "novonix": novonix.read_novonix, "maccor": maccor.read_maccor,
            "neware-csv": neware.read_neware_csv, "neware-binary": neware.read_neware_binary,
            "biologic-mpr": biologic.read_mpr, "biologic-mpt": biologic.read_mpt, "arbin-res": arbin.read_res,
            "pec": pec.read_pec}[fmt]


def read_curve(path, *, cell_id: str | None = None, strict: bool = False, first: str = "auto", fmt: str | None = None):
    """Read any supported cycler file into a curve Dataset (see :mod:`workbench.cyclers`).

    ``fmt`` forces a format from :data:`FORMATS`; by default it is recognised from the content.
    ``strict=True`` turns every repair into a :class:`FormationRepairError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cycler file {path} does not exist; check the path")
    fmt = fmt or sniff(path)
    if fmt is None:
        raise NotACyclerExport(f"{path}: not a cycler export this reader knows (looked for {', '.join(FORMATS)}); "
                                 f"export as Battery Data Format CSV (time, voltage, current columns) or one of those")
    reader = reader_for(fmt)
    kw = {"first": first} if fmt not in ("novonix",) else {}
    try:
        return reader(path, cell_id=cell_id, strict=strict, **kw)
    except UnicodeDecodeError as exc:
        raise FormationDataError(f"{path}: not readable as {fmt} text ({exc})") from None


def read_folder(folder, **kw):
    """Read and summarise every cycler file under ``folder``; see :func:`workbench.cyclers.folder.read_folder`."""
    from workbench.cyclers.folder import read_folder as _rf
    return _rf(folder, **kw)

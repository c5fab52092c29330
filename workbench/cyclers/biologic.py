"""BioLogic EC-Lab files: ``.mpr`` binaries through galvani (GPL-3.0: the optional ``biologic`` extra) and
``.mpt`` text exports (``EC-Lab ASCII FILE``, ``Nb header lines : N``, tab separated, decimal comma in some
locales). Columns ``time/s``, ``Ewe/V`` (or ``Ecell/V``), ``I/mA`` (or ``<I>/mA``, ``control/V/mA``),
``Q charge/discharge/mA.h`` or ``(Q-Qo)/mA.h``, ``cycle number``, ``Ns`` (sequence = step)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.cyclers.curve import FormationDataError
from workbench.cyclers.repairs import repair
from workbench.cyclers.table import Table, read_text_table, to_curve

_NAMES = {"time": ("time/s",), "voltage": ("Ewe/V", "Ecell/V", "<Ewe>/V", "<Ewe/V>"),
          "current": ("I/mA", "<I>/mA", "control/V/mA"), "capacity": ("(Q-Qo)/mA.h", "Q charge/discharge/mA.h"),
          "cycle": ("cycle number",), "step": ("Ns",), "temperature": ("Temperature/°C",)}
_SCALE = {"current": 1e-3, "capacity": 1e-3}


def _table(data: dict, source: str, cell_id: str, lines: np.ndarray, repairs: list) -> Table:
    cols, names, notes = {}, {}, []
    for key, options in _NAMES.items():
        col = next((c for c in options if c in data), None)
        if col is not None:
            cols[key], names[key] = np.asarray(data[col], dtype=float) * _SCALE.get(key, 1.0), col
            if key in _SCALE:
                notes.append(f"{col!r}: mA/mA.h from the name, converted to A/Ah")
    missing = [k for k in ("time", "voltage", "current") if k not in cols]
    if missing:
        raise FormationDataError(f"{source}: BioLogic data without {missing} (looked for "
                                 f"{[_NAMES[k] for k in missing]}); found {list(data)[:20]}; export those columns")
    if "cycle" in cols:
        cols["cycle"] = cols["cycle"] + (1 if np.nanmin(cols["cycle"]) == 0 else 0)
    attrs = {}
    freq = np.asarray(data["freq/Hz"], dtype=float) if "freq/Hz" in data else None
    if freq is not None and (freq > 0).any():
        seqs = sorted({int(x) for x in cols["step"][freq > 0]}) if "step" in cols else []
        note = (f"impedance: {int((freq > 0).sum())} records with 'freq/Hz' > 0 (PEIS/GEIS, sequences Ns {seqs[:10]}) "
                f"are impedance points, not a DC step; a step of them whose current alternates counts as rest (no "
                f"charge, no discharge, no cycle start)")
        attrs["checks"] = [note]
    return Table(source=source, fmt="biologic", cols=cols, names=names, lines=lines, cell_id=cell_id, notes=notes,
                 repairs=repairs, attrs=attrs)


def read_mpr(path, *, cell_id: str | None = None, strict: bool = False, first: str = "auto"):
    path = Path(path)
    try:
        from galvani import BioLogic
    except ImportError:
        raise FormationDataError(f"{path}: reading BioLogic .mpr needs galvani (GPL-3.0, an optional extra): "
                                 f"pip install 'line-workbench[biologic]' (or pip install galvani), or export "
                                 f"the file as .mpt text from EC-Lab, which needs nothing extra") from None
    try:
        mpr = BioLogic.MPRfile(str(path))
    except Exception as exc:
        raise FormationDataError(f"{path}: galvani could not read it ({type(exc).__name__}: {exc}); is it a "
                                 f"complete EC-Lab .mpr?") from None
    data = {name: mpr.data[name] for name in mpr.data.dtype.names}
    table = _table(data, str(path), cell_id or path.stem, np.arange(1, len(mpr.data) + 1), [])
    table.attrs["record_index"] = "record number in the .mpr data"
    if getattr(mpr, "timestamp", None) is not None:
        table.attrs["start"] = pd.Timestamp(mpr.timestamp).isoformat()
    return to_curve(repair(table, strict=strict), first=first)


def read_mpt(path, *, cell_id: str | None = None, strict: bool = False, first: str = "auto"):
    path = Path(path)
    head = path.read_bytes()[:20000].decode("latin-1").splitlines()
    m = next((re.search(r"Nb header lines\s*:\s*(\d+)", ln) for ln in head[:5] if "Nb header lines" in ln), None)
    if m is None:
        raise FormationDataError(f"{path}: no 'Nb header lines : N' in an EC-Lab ASCII file; export again from EC-Lab")
    k = int(m.group(1)) - 1
    repairs: list = []
    frame, lines = read_text_table(path, k, "\t", repairs)
    from workbench.cyclers.table import numeric
    data = {c: numeric(frame, c, str(path), lines) for c in frame.columns if c and not c.startswith("Unnamed")}
    return to_curve(repair(_table(data, str(path), cell_id or path.stem, lines, repairs), strict=strict), first=first)

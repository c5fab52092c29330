"""Maccor text exports (tab separated): a header block (``Today's Date ... Date of Test`` or ``Filename:``
lines), then either column layout: ``Rec# Cyc# Step TestTime StepTime Amp-hr Watt-hr Amps Volts State ...
DPt Time`` or ``Rec Cycle P Cycle C Step TestTime StepTime Capacity Energy Current Voltage Md ES DPt Time``.

``TestTime`` is ``d hh:mm:ss.fff`` or a number (seconds when the header says so; a bare number's unit, seconds
or minutes, is taken from the ``DPt Time`` clock). Amps are unsigned in many exports: the state column
(C charge, D discharge, R rest) gives the sign.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.cyclers.curve import FormationDataError
from workbench.cyclers.repairs import repair
from workbench.cyclers.table import cell_id_from, header_unit, read_text_table, table_from_frame, to_curve

SPEC = {"time": ("TestTime", "Test Time", "Test (Sec)", "Test"), "step_time": ("StepTime", "Step Time", "Step (Sec)"),
        "voltage": ("Volts", "Voltage"), "current": ("Amps", "Current"), "capacity": ("Amp-hr", "Capacity", "Cap."),
        "cycle": ("Cyc#", "Cycle C", "Cycle"), "step": ("Step",), "clock": ("DPt Time", "DPT Time"),
        "temperature": ("Temp 1", "Temperature")}


def header_line(lines: list[str]) -> int | None:
    """Index of the column header line: the first with ``Rec``/``Rec#`` and a step and a cycle column."""
    for k, line in enumerate(lines[:40]):
        fields = [f.strip() for f in line.split("\t")]
        if fields and fields[0] in ("Rec#", "Rec") and "Step" in fields and any(f.startswith("Cyc") for f in fields):
            return k
    return None


def read_maccor(path, *, cell_id: str | None = None, strict: bool = False, first: str = "auto"):
    path = Path(path)
    head = path.read_bytes()[:20000].decode("utf-8", errors="replace").splitlines()
    k = header_line(head)
    if k is None:
        raise FormationDataError(f"{path}: no Maccor column header (a line starting 'Rec#' with 'Cyc#' and 'Step') "
                                 f"in the first 40 lines; export as Maccor text with column headers")
    meta = {}
    for line in head[:k]:
        parts = [p.strip() for p in line.split("\t")]
        for key, val in zip(parts[::2], parts[1::2]):
            if key.endswith(":"):
                meta[key[:-1].strip()] = val
    repairs: list = []
    frame, lines = read_text_table(path, k, "\t", repairs)
    cid = cell_id or cell_id_from(meta.get("Comment/Barcode"), meta.get("Filename"), fallback=path.stem)
    table = table_from_frame(frame, lines, SPEC, source=str(path), fmt="maccor", cell_id=cid, repairs=repairs,
                             attrs={"start": meta.get("Date of Test", "")})
    state_col = next((c for c in frame.columns if c.strip() in ("State", "Md", "MD")), None)
    if state_col is not None:
        state = frame[state_col].astype(str).str.strip().str.upper().to_numpy()
        cur = np.abs(table.cols["current"])
        table.cols["current"] = np.where(state == "D", -cur, np.where(state == "C", cur, table.cols["current"]))
        table.notes.append(f"current sign from {state_col!r} (C charge +, D discharge -)")
    _bare_time_unit(table)
    return to_curve(repair(table, strict=strict), first=first)


def _bare_time_unit(table) -> None:
    """A bare numeric TestTime is seconds or minutes by Maccor's export options: decide by the clock."""
    col = table.names.get("time", "")
    if header_unit(col)[1] is not None or "clock" not in table.cols:
        return
    d_t, d_c = np.diff(table.cols["time"]), np.diff(table.cols["clock"])
    ok = (d_t > 0) & (d_c > 0)
    if ok.sum() >= 3 and abs(np.median(d_t[ok] / d_c[ok]) * 60 - 1) < 0.05:
        for key in ("time", "step_time"):
            if key in table.cols:
                table.cols[key] = table.cols[key] * 60
        table.notes.append(f"{col!r}: a bare number in minutes (by the DPt Time clock), converted to s")

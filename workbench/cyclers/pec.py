"""PEC cycler CSV export: a long ``key:,value`` header (``Start Time:``, ``Test:``...), an optional
``#RESULTS CHECK`` block, then a data header ``Test,Cell,Rack,...,Total Time (Seconds),...,Voltage (mV),
Current (mA),Charge Capacity (mAh),Discharge Capacity (mAh),...`` with the units in the headers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from workbench.cyclers.curve import FormationDataError
from workbench.cyclers.repairs import repair
from workbench.cyclers.table import read_text_table, table_from_frame, to_curve

SPEC = {"time": ("Total Time",), "step_time": ("Step Time",), "clock": ("Real Time",), "voltage": ("Voltage",),
        "current": ("Current",), "charge_capacity": ("Charge Capacity",),
        "discharge_capacity": ("Discharge Capacity",), "step": ("Step",), "cycle": ("Cycle",),
        "temperature": ("Cell surface temperature", "Ambient temperature")}


def header_line(lines: list[str]) -> int | None:
    for k, line in enumerate(lines[:200]):
        if line.startswith("Test,") and "Total Time" in line:
            return k
    return None


def read_pec(path, *, cell_id: str | None = None, strict: bool = False, first: str = "auto"):
    path = Path(path)
    head = path.read_bytes()[:50000].decode("utf-8", errors="replace").splitlines()
    k = header_line(head)
    if k is None:
        raise FormationDataError(f"{path}: no PEC data header (a line 'Test,Cell,...,Total Time (Seconds),...') in "
                                 f"the first 200 lines; export the test's raw data as CSV")
    meta = {ln.split(":,", 1)[0]: ln.split(":,", 1)[1].strip(",") for ln in head[:k] if ":," in ln}
    repairs: list = []
    frame, lines = read_text_table(path, k, ",", repairs)
    frame = frame.loc[:, [c for c in frame.columns if c and not c.startswith("Unnamed")]]
    cid = cell_id or next((v for v in frame.get("Cell ID", [])[:1] if pd.notna(v) and str(v).strip()), None) or \
        f"{path.stem}-test{meta.get('Test', '')}"
    table = table_from_frame(frame, lines, SPEC, source=str(path), fmt="pec", cell_id=str(cid), repairs=repairs,
                             attrs={"start": meta.get("Start Time", ""), "protocol": meta.get("TestRegime Name", "")})
    # PEC's temperature columns are blank on most rows: gaps stay NaN (marked, not filled)
    return to_curve(repair(table, strict=strict), first=first)

"""Arbin ``.res`` files: a Microsoft Access (Jet) database; Debian's ``mdbtools`` (``mdb-export``) exports its
``Channel_Normal_Table`` (Test_Time s, Step_Time s, DateTime in days since 1899-12-30, Step_Index,
Cycle_Index, Current A, Voltage V, Charge_/Discharge_Capacity Ah), read here like any other table."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.cyclers.curve import FormationDataError
from workbench.cyclers.repairs import repair
from workbench.cyclers.table import Table, to_curve

_COLS = {"time": "Test_Time", "step_time": "Step_Time", "voltage": "Voltage", "current": "Current",
         "charge_capacity": "Charge_Capacity", "discharge_capacity": "Discharge_Capacity", "step": "Step_Index",
         "cycle": "Cycle_Index", "clock": "DateTime"}


def read_res(path, *, cell_id: str | None = None, strict: bool = False, first: str = "auto"):
    path = Path(path)
    exe = shutil.which("mdb-export")
    if exe is None:
        raise FormationDataError(f"{path}: reading Arbin .res needs mdbtools' mdb-export: apt-get install mdbtools "
                                 f"(scripts/setup.sh --system installs it)")
    proc = subprocess.run([exe, str(path), "Channel_Normal_Table"], capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise FormationDataError(f"{path}: mdb-export could not read Channel_Normal_Table "
                                 f"({proc.stderr.decode(errors='replace').strip()[:200]}); is it an Arbin .res?")
    df = pd.read_csv(io.BytesIO(proc.stdout))
    missing = [c for c in ("Test_Time", "Voltage", "Current") if c not in df]
    if missing:
        raise FormationDataError(f"{path}: Channel_Normal_Table lacks {missing}; found {list(df.columns)[:20]}")
    if "Test_ID" in df and df["Test_ID"].nunique() > 1:
        raise FormationDataError(f"{path}: holds {df['Test_ID'].nunique()} tests (Test_ID); export one test per file")
    if "Data_Point" in df:
        df = df.sort_values("Data_Point", kind="stable")
    cols = {k: df[c].to_numpy(float) for k, c in _COLS.items() if c in df}
    if "clock" in cols:
        cols["clock"] = (cols["clock"] - 25569.0) * 86400.0          # OLE automation date -> Unix seconds
    lines = df["Data_Point"].to_numpy(np.int64) if "Data_Point" in df else np.arange(1, len(df) + 1)
    table = Table(source=str(path), fmt="arbin-res", cols=cols, names=dict(_COLS), lines=lines,
                  cell_id=cell_id or path.stem, attrs={"record_index": "Data_Point of Channel_Normal_Table"})
    return to_curve(repair(table, strict=strict), first=first)

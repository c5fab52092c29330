"""Neware BTS exports: flat CSV (one row per record), the nested "regular" CSV (cycle rows, indented step
rows, twice-indented record rows, each level with its own header line) and the native ``.nda``/``.ndax``
binaries, read with NewareNDA (BSD-3-Clause), the reader Neware users maintain.

Neware writes currents and capacities in A/Ah or mA/mAh (the header says which), discharge current
negative, ``Time`` as the time within the step and ``Total Time``/``Cumulative Time`` as test time
(``hh:mm:ss``, hours past 24, or ``d-hh:mm:ss``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.cyclers.curve import FormationDataError
from workbench.cyclers.nda_cut import nda_cut
from workbench.cyclers.repairs import repair
from workbench.cyclers.table import Table, read_text_table, table_from_frame, test_time_from_steps, to_curve

SPEC = {"time": ("Total Time", "Cumulative Time", "Test Time", "Total Time(h:min:s.ms)"),
        "step_time": ("Time", "Step Time", "Relative Time", "Relative Time(h:min:s.ms)"),
        "clock": ("Date", "Realtime", "Absolute Time", "System Time", "DateTime"),
        "voltage": ("Voltage",), "current": ("Current", "Cur"),
        "charge_capacity": ("Chg. Cap.", "Charge Capacity", "Chg. Cap", "CapaCity Chg"),
        "discharge_capacity": ("DChg. Cap.", "Discharge Capacity", "DChg. Cap"),
        "capacity": ("Capacity", "CapaCity"), "cycle": ("Cycle Index", "Cycle ID", "Cycle"),
        "step": ("Step Index", "Step ID", "Steps", "Step"),
        "temperature": ("T1", "Temperature", "Auxiliary temperature")}


def is_nested(first_lines: list[str]) -> bool:
    """The regular export: a header line and a second header line that starts with an empty field."""
    rows = list(csv.reader(first_lines[:3]))
    return len(rows) >= 2 and rows[0] and rows[0][0].strip() != "" and rows[1] and rows[1][0].strip() == "" \
        and any("Step" in f for f in rows[1])


def read_neware_csv(path, *, cell_id: str | None = None, strict: bool = False, first: str = "auto"):
    path = Path(path)
    head = path.read_bytes()[:4000].decode("utf-8-sig", errors="replace").splitlines()
    repairs: list = []
    if is_nested(head):
        frame, lines = _flatten_nested(path, repairs)
    else:
        frame, lines = read_text_table(path, 0, ",", repairs)
    table = table_from_frame(frame, lines, SPEC, source=str(path), fmt="neware-csv", cell_id=cell_id or path.stem,
                             repairs=repairs)
    test_time_from_steps(table)
    return to_curve(repair(table, strict=strict), first=first)


def _flatten_nested(path: Path, repairs: list):
    """Record rows of the nested export with the cycle and step they sit under, and their file lines."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text)))
    depth = [len(r) - len(list(_lstrip_empty(r))) for r in rows]
    headers = {}
    k = 0
    while k < len(rows) and not headers.get(2):
        headers[depth[k]] = [c.strip() for c in rows[k][depth[k]:]]
        k += 1
    if 2 not in headers:
        raise FormationDataError(f"{path}: a nested Neware export needs a record header line indented by two "
                                 f"fields; found {len(headers)} header level(s); export records as well")
    if not text.endswith(("\n", "\r")) and depth[-1] == 2:
        repairs.append(f"truncated_last_row: line {len(rows)} has no line end (the file was cut while written); "
                       f"dropped it")
        rows, depth = rows[:-1], depth[:-1]
    cyc_head, step_head = headers.get(0, []), headers.get(1, [])
    cycle = step = step_name = None
    out, lines = [], []
    for n in range(k, len(rows)):
        r, d = rows[n], depth[n]
        if d == 0 and r:
            cycle = r[0].strip()
        elif d == 1:
            vals = dict(zip(step_head, [c.strip() for c in r[1:]]))
            step = vals.get("Step ID", vals.get(step_head[0] if step_head else "", ""))
            step_name = vals.get("Step Name", vals.get("Step Type", ""))
        elif d == 2:
            out.append([c.strip() for c in r[2:2 + len(headers[2])]] + [cycle, step, step_name])
            lines.append(n + 1)
    cols = headers[2] + ["Cycle ID", "Step ID", "Step Name"]
    frame = pd.DataFrame(out, columns=[c for c in cols[:len(out[0])]] if out else cols)
    del cyc_head
    return frame, np.asarray(lines, dtype=np.int64)


def _lstrip_empty(r):
    it = iter(r)
    for c in it:
        if c.strip():
            yield c
            yield from it
            return


def read_neware_binary(path, *, cell_id: str | None = None, strict: bool = False, first: str = "auto"):
    """``.nda``/``.ndax`` through NewareNDA; its frame is mapped like any other table and repaired."""
    path = Path(path)
    try:
        import NewareNDA
    except ImportError:
        raise FormationDataError(f"{path}: reading Neware .nda/.ndax needs the NewareNDA package: "
                                 f"pip install NewareNDA (BSD-3-Clause; part of the core install)") from None
    try:
        # the cycle number is rebuilt here (software_cycle_number's loop reads the Status column one record at a
        # time: 60 % of the read time on a 250k-record .ndax); INFO lines about firmware versions stay quiet
        df = NewareNDA.read(str(path), software_cycle_number=False, log_level="WARNING")
        df["Cycle"] = cycle_numbers(df["Status"])
    except Exception as exc:     # the reader's own errors name no file
        cut = nda_cut(path) if path.suffix.lower() == ".nda" else None
        raise FormationDataError(f"{path}: NewareNDA could not read it ({type(exc).__name__}: {exc}); "
                                 + (f"it was cut off while written: {cut}; copy the whole file from the cycler's "
                                    f"computer" if cut else "is it a complete .nda/.ndax file?")) from None
    table = table_from_nda(df, str(path), cell_id or path.stem)
    cut = nda_cut(path) if path.suffix.lower() == ".nda" else None
    if cut:
        table.repairs.append(f"truncated_file: {path} was cut off while it was written: {cut}; read the "
                             f"{len(df)} whole data records before the cut (last record index "
                             f"{int(df['Index'].iloc[-1]) if len(df) else 0}), nothing after it")
    return to_curve(repair(table, strict=strict), first=first)


def cycle_numbers(status) -> np.ndarray:
    """NewareNDA's software cycle number ("charge first", its default ``cycle_mode='chg'``), vectorised.

    A cycle starts at the first record of a charge step (``CC_Chg``, ``CCCV_Chg``, ``CP_Chg``) when a
    discharge record (``*_DChg``) or a ``SIM`` record came since the last cycle start; numbers start at 1."""
    s = np.asarray(pd.Series(status).astype(object).to_numpy(), dtype=str)
    charge = np.isin(s, ("CC_Chg", "CCCV_Chg", "CP_Chg"))
    starts = np.flatnonzero(charge & np.r_[True, ~charge[:-1]])
    flag = (np.char.partition(s, "_")[:, 2] == "DChg") | (s == "SIM")
    seen = np.r_[0, np.cumsum(flag)]                          # flag records before each row
    new = np.diff(np.r_[0, seen[starts]]) > 0                 # a flag since the previous start
    inc = np.zeros(len(s), dtype=np.int64)
    inc[starts[new]] = 1
    return 1 + np.cumsum(inc)


def table_from_nda(df: pd.DataFrame, source: str, cell_id: str) -> Table:
    """NewareNDA's frame (Index, Cycle, Step, Status, Time, Voltage, Current(mA), ...(mAh), Timestamp, T1)."""
    cur_col = next(c for c in df.columns if c.startswith("Current"))
    scale = 1e-3 if "(mA)" in cur_col else 1.0
    cap_scale = 1e-3 if "Charge_Capacity(mAh)" in df.columns else 1.0
    cols = {"time": df["Time"].to_numpy(float), "voltage": df["Voltage"].to_numpy(float),
            "current": df[cur_col].to_numpy(float) * scale, "step": df["Step"].to_numpy(float),
            "cycle": df["Cycle"].to_numpy(float),
            "charge_capacity": df[[c for c in df.columns if c.startswith("Charge_Capacity")][0]].to_numpy(float) * cap_scale,
            "discharge_capacity": df[[c for c in df.columns if c.startswith("Discharge_Capacity")][0]].to_numpy(float)
            * cap_scale}
    if "Timestamp" in df:
        ts = df["Timestamp"]
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(ts.dt, "tz", None) is not None else ts
        cols["clock"] = ts.astype("datetime64[ns]").astype("int64").to_numpy() / 1e9
    if "T1" in df:
        cols["temperature"] = df["T1"].to_numpy(float)
    unnamed = [c for c in df.columns if c.startswith("?")]      # aux channels of a type NewareNDA does not name
    if unnamed:
        ranges = ", ".join(f"{c!r} {df[c].min():.4g}..{df[c].max():.4g}" for c in unnamed)
        attrs_checks = [f"aux_channels: {source} has auxiliary channel(s) of a type NewareNDA does not name ({ranges}); "
                        f"not read as the cell temperature; if one is, read it from NewareNDA.read() by that name"]
    else:
        attrs_checks = []
    names = {"time": "Time", "voltage": "Voltage", "current": cur_col, "step": "Step", "cycle": "Cycle",
             "charge_capacity": "Charge_Capacity", "discharge_capacity": "Discharge_Capacity", "clock": "Timestamp",
             "temperature": "T1"}
    lines = df["Index"].to_numpy(np.int64) if "Index" in df else np.arange(1, len(df) + 1)
    table = Table(source=source, fmt="neware-binary", cols=cols, names=names, lines=lines, cell_id=cell_id,
                  notes=[f"{cur_col!r} and capacities in mA/mAh, converted to A/Ah"] if scale != 1 else [],
                  attrs={"record_index": "NewareNDA's Index (record number in the file)", "checks": attrs_checks})
    t, st = cols["time"], cols["step"]
    back = np.flatnonzero(np.diff(t) < 0) + 1
    if back.size and np.all(st[back] != st[back - 1]):       # firmware that logs time within the step
        cols["step_time"] = cols.pop("time")
        names["step_time"] = "Time"
        test_time_from_steps(table)
    return table

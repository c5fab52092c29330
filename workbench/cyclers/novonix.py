"""Novonix HPC export: a [Summary] and [Protocol] header, then a [Data] block of quoted CSV rows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from workbench.cyclers.curve import FormationDataError, _first_bad
from workbench.cyclers.repairs import repair
from workbench.cyclers.table import Table, cell_id_from, to_curve

_NOVONIX_COLUMNS = {"time": "Run Time (h)", "voltage": "Potential (V)", "current": "Current (A)",
                    "capacity": "Capacity (Ah)", "cycle": "Cycle Number", "step": "Step Number",
                    "step_type": "Step Type"}
NOVONIX_STEP_TYPES = {0: "rest", 1: "cc_charge", 2: "cc_discharge", 7: "cccv_cc_charge", 8: "cccv_cv_charge",
                      9: "cccv_cc_discharge", 10: "cccv_cv_discharge"}


def _novonix_sections(lines: list[str], path) -> tuple[dict, int]:
    summary, data_at = {}, None
    in_summary = False
    for k, line in enumerate(lines):
        text = line.strip().strip('"')
        if text == "[Summary]":
            in_summary = True
        elif text == "[End Summary]":
            in_summary = False
        elif in_summary and ":" in text:
            key, _, val = text.partition(":")
            summary[key.strip()] = val.strip()
        elif text == "[Data]":
            data_at = k
            break
    if data_at is None:
        raise FormationDataError(f"{path}: no [Data] section found; is this a Novonix HPC export "
                                 f"([Summary] / [Protocol] / [Data])?")
    return summary, data_at


def read_novonix(path, *, cell_id: str | None = None, strict: bool = False) -> xr.Dataset:
    """Read a Novonix HPC export ([Summary], [Protocol], then a [Data] block of quoted CSV rows).

    Run Time (h) -> time (s); Capacity (Ah), which Novonix keeps through a cycle, becomes per-step
    throughput; Step Number and Step Type (0 rest, 1/2 CC, 7/8 CC-CV charge, 9/10 CC-CV discharge)
    give the steps, so the CC and CV parts of a CC-CV step are separate steps.

    >>> from pathlib import Path
    >>> p = Path(__file__).resolve().parents[3] / "shared/data/formation/novonix_formation_ch01_first_charge.csv"
    >>> read_novonix(p).attrs["nominal_capacity_Ah"]
    0.24
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Novonix file {path} does not exist; check the path")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise FormationDataError(f"{path}: not a UTF-8 text export ({exc})") from None
    summary, data_at = _novonix_sections(lines, path)
    body = "\n".join(line.strip().strip('"') for line in lines[data_at + 1:] if line.strip())
    try:
        frame = pd.read_csv(io.StringIO(body))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FormationDataError(f"{path}: the [Data] block is not CSV ({exc})") from None
    missing = [c for c in _NOVONIX_COLUMNS.values() if c not in frame.columns]
    if missing:
        raise FormationDataError(f"{path}: [Data] lacks column(s) {missing}; re-export with all columns")
    row0 = data_at + 3          # file line of data row 0 (1-based; header is line data_at + 2)
    repairs = []
    if not path.read_bytes().endswith((b"\n", b"\r")) and len(frame) > 1:   # cut while written: partial last value
        repairs.append(f"truncated_last_row: line {row0 + len(frame) - 1} has no line end (the file was cut while "
                       f"written); dropped it")
        frame = frame.iloc[:-1]
    num = {}
    for key, col in _NOVONIX_COLUMNS.items():
        vals = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        if np.isnan(vals).any():
            i = _first_bad(np.isnan(vals))
            raise FormationDataError(f"{path}: column {col!r} at line {i + row0} holds {frame[col].iloc[i]!r}, "
                                     f"not a number; the file may be truncated or corrupt there")
        num[key] = vals
    temp = pd.to_numeric(frame.get("Temperature (°C)"), errors="coerce") if "Temperature (°C)" in frame else None
    step_id = num["step"] * 100 + num["step_type"]      # CC and CV parts of one CC-CV step are split
    attrs = {"nominal_capacity_Ah": float(summary["Capacity (Ah)"]) if "Capacity (Ah)" in summary else np.nan,
             "channel": summary.get("Channel", ""), "protocol": summary.get("Protocol", "")}
    if "Started" in summary:
        attrs["start"] = pd.Timestamp(summary["Started"]).isoformat()
    cols = {"time": num["time"] * 3600.0, "voltage": num["voltage"], "current": num["current"],
            "capacity": num["capacity"], "step": step_id, "cycle": num["cycle"]}
    if temp is not None:
        cols["temperature"] = temp.to_numpy(float)
    names = {**_NOVONIX_COLUMNS, "temperature": "Temperature (°C)"}
    table = Table(source=str(path), fmt="novonix", cols=cols, names=names, lines=np.arange(len(cols["time"])) + row0,
                  cell_id=cell_id or cell_id_from(summary.get("Cell"), fallback=path.stem), attrs=attrs,
                  notes=["'Run Time (h)': h from the header, converted to s"], repairs=repairs)
    ds = to_curve(repair(table, strict=strict))
    kinds = num["step_type"]
    keep = np.isin(np.arange(len(kinds)) + row0, table.lines)
    ds["step_name"] = ("sample", np.array([NOVONIX_STEP_TYPES.get(int(k), f"type{int(k)}") for k in kinds[keep]]))
    return ds

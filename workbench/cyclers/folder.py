"""Folders of cycler files: read them in parallel, summarise per cell, list what could not be read.

:func:`read_folder` returns per-cell results (capacity, CE, DCIR where pulses exist, K-value where rests
exist, the repairs made) and the files it could not read with the reason; :func:`write_results` puts the
results into a history store's catalog (``formation_results`` keyed by cell id), where
``workbench.history.open(store, "formation")``, genealogy and the dashboard's formation page find them.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

UNITS = {"charge_capacity": "A*h", "discharge_capacity": "A*h", "coulombic_efficiency": "1",
         "first_cycle_loss": "A*h", "last_discharge_capacity": "A*h", "dcir": "mohm", "k_value": "mV/day",
         "cycles": "1", "duration": "s", "samples": "1", "repairs": ""}


@dataclass
class FolderResult:
    """``results``: one row per file read (cell_id, file, format, numbers, repairs); ``failures``: file, error,
    and ``unknown`` (True for a file that is no cycler export this reader knows, False for one refused)."""

    results: pd.DataFrame
    failures: pd.DataFrame


LOW_FIRST_CE = 0.6       # a first cycle losing more than 40 % is beyond intercalation electrodes' SEI loss


def efficiency_checks(summary) -> list[str]:
    """Physics on a cycle summary: past the first cycle, more out than in (CE > 1.02) means lost records,
    a wrong sign or cycles split in the wrong place; a first-cycle CE below :data:`LOW_FIRST_CE` more loss than
    any intercalation electrode's SEI; named per cycle, never corrected."""
    ce = summary.coulombic_efficiency
    out = []
    if len(ce) and np.isfinite(ce.values[0]) and ce.values[0] > 1.02:
        out.append(f"coulombic_efficiency: CE {ce.values[0]:.3g} in cycle {int(summary.cycle.values[0])}: the record "
                   f"starts part-way through a cycle (the cell was not empty or full at the start), or cycles open "
                   f"with the other direction (--first); read cycle 2 on")
    if len(ce) and np.isfinite(ce.values[0]) and ce.values[0] < LOW_FIRST_CE:
        out.append(f"coulombic_efficiency: CE {ce.values[0]:.3g} in cycle {int(summary.cycle.values[0])}: "
                   f"{1 - ce.values[0]:.0%} of the first {summary.attrs.get('first_direction', 'step')} was not returned, "
                   f"more than intercalation electrodes lose in their first cycle (graphite 5-20 %, silicon "
                   f"composites up to ~40 %): side reactions, a leak or soft short, or a first step that is not "
                   f"the cell's (check the cell and the record's start)")
    bad = [int(c) for c, v in zip(summary.cycle.values[1:], ce.values[1:]) if np.isfinite(v) and v > 1.02]
    if bad:
        out.append(f"coulombic_efficiency: CE > 1.02 in cycle(s) {bad[:10]} ({summary.attrs.get('first_direction', '')} "
                   f"first); check for missing records, the current sign or where cycles start (--first)")
    return out


def summarise_file(path, *, first: str = "auto", strict: bool = False, dt: float = 10.0) -> dict:
    """One file's per-cell summary as a dict, or ``{"file", "error"}`` when it cannot be read (never raises)."""
    from workbench.models import formation as fm

    path = str(path)
    try:
        curve = fm.read_curve(path, strict=strict, first=first)
        prep = fm._prepare(curve)
        s = fm.cycle_summary(prep, first=first)
        both = (s.charge_capacity.notnull() & s.discharge_capacity.notnull()).values
        s1 = s.isel(cycle=int(np.argmax(both))) if both.any() else s.isel(cycle=0)
        try:
            d = float(fm.dcir(prep, dt=(dt,)).dcir.isel(pulse=0, dt=0))
        except fm.NoPulseError:
            d = np.nan
        try:
            k = float(fm.k_value(prep).k_value)
        except fm.RestTooShortError:
            k = np.nan
        dis = s.discharge_capacity.values
        last = dis[np.isfinite(dis)][-1] if np.isfinite(dis).any() else np.nan
        return {"cell_id": curve.attrs["cell_id"], "file": path, "format": curve.attrs.get("format", ""),
                "formation_start": curve.attrs.get("start", ""), "samples": int(curve.sizes["sample"]),
                "duration": float(curve.time[-1] - curve.time[0]), "cycles": int(s.sizes["cycle"]),
                "charge_capacity": float(s1.charge_capacity), "discharge_capacity": float(s1.discharge_capacity),
                "coulombic_efficiency": float(s1.coulombic_efficiency), "first_cycle_loss": float(s1.loss),
                "last_discharge_capacity": float(last), "dcir": d, "k_value": k,
                "repairs": " | ".join(curve.attrs.get("repairs", [])),
                "checks": " | ".join(list(curve.attrs.get("checks", [])) + efficiency_checks(s))}
    except Exception as exc:       # one bad file must not stop a folder: its reason is reported
        from workbench.cyclers.sniff import UnknownFormatError
        return {"file": path, "error": f"{type(exc).__name__}: {exc}", "unknown": isinstance(exc, UnknownFormatError)}


def cycler_files(folder) -> list[Path]:
    """Every regular, non-hidden file under ``folder`` (sorted); which are cycler files the readers decide."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist; check the path")
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                          p.relative_to(folder).parts))


def read_folder(folder, *, workers: int | None = None, progress: bool = True, strict: bool = False,
                first: str = "auto", store=None) -> FolderResult:
    """Read and summarise every file under ``folder`` on ``workers`` processes (default: the CPUs), with a
    progress bar; write the results to the history store at ``store`` when given."""
    files = cycler_files(folder)
    workers = max(1, min(workers or os.cpu_count() or 1, len(files) or 1))
    rows = []
    bar = _bar(len(files), progress)
    if workers == 1:
        for f in files:
            rows.append(summarise_file(f, first=first, strict=strict))
            bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(summarise_file, f, first=first, strict=strict) for f in files]
            for fut in as_completed(futures):
                rows.append(fut.result())
                bar.update(1)
    bar.close()
    ok = [r for r in rows if "error" not in r]
    results = pd.DataFrame(ok, columns=list(_columns())).sort_values("file", ignore_index=True)
    failures = pd.DataFrame([r for r in rows if "error" in r], columns=["file", "error", "unknown"]).sort_values(
        "file", ignore_index=True)
    out = FolderResult(results, failures)
    if store is not None:
        write_results(store, results)
    return out


def _columns():
    return ("cell_id", "file", "format", "formation_start", "samples", "duration", "cycles", "charge_capacity",
            "discharge_capacity", "coulombic_efficiency", "first_cycle_loss", "last_discharge_capacity", "dcir",
            "k_value", "repairs", "checks")


def _bar(total: int, show: bool):
    from tqdm import tqdm
    return tqdm(total=total, unit="file", desc="cycler files", disable=not show)


def _when(text) -> pd.Timestamp:
    """A start time as the cycler wrote it (ISO, US or spelled-out dates) -> naive UTC Timestamp, NaT if unreadable."""
    try:
        t = pd.Timestamp(str(text).replace(",", "")) if str(text).strip() else pd.NaT
    except (ValueError, TypeError):
        return pd.NaT
    return t.tz_convert("UTC").tz_localize(None) if t is not pd.NaT and t.tzinfo else t


def write_results(store, results: pd.DataFrame, *, station: str = "formation") -> dict[str, int]:
    """Write per-cell results into the store's catalog (``formation_results`` keyed by cell id; a cell read
    again replaces its row) and declare the ``formation`` station, so the history views see them. Two files
    of one cell id: the later formation start wins (the retest)."""
    from workbench.history.catalog import write_tables
    from workbench.history.store import HistoryStore

    root = Path(store)
    root.mkdir(parents=True, exist_ok=True)
    HistoryStore(root).declare_station(station, [], kind="formation")
    df = results.sort_values(["cell_id", "formation_start"], kind="stable").drop_duplicates("cell_id", keep="last")
    df = df.assign(formation_start=[_when(x) for x in df.formation_start])
    units = pd.DataFrame([(k, v) for k, v in UNITS.items()], columns=["variable", "units"])
    return write_tables(root, {"formation_results": df.reset_index(drop=True), "formation_units": units})

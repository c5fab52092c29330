"""The cell table the formation model takes, checked: one error naming the column, the row and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["REQUIRED", "check_cells"]

REQUIRED = ("cell_id", "rack", "channel", "formation_start", "areal_mass", "moisture_exposure",
            "weld_resistance")


def _as_int(values, prefix: str, column: str) -> np.ndarray:
    if pd.api.types.is_integer_dtype(values):
        return np.asarray(values, dtype=np.int64)
    out = []
    for i, v in enumerate(values):
        text = str(v).strip().lower()
        if text.startswith(prefix):
            text = text[len(prefix):]
        try:
            out.append(int(text))
        except ValueError:
            raise ValueError(f"cells.{column} row {i}: {v!r} is not a {column} number "
                             f"(use an int such as 2 or a label such as '{prefix}2')") from None
    return np.asarray(out, dtype=np.int64)


def check_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The cell table, checked (every column, finite numbers, unique ids, UTC starts, integer rack/channel)."""
    if not isinstance(cells, pd.DataFrame):
        raise TypeError(f"cells must be a pandas DataFrame with columns {REQUIRED}, got {type(cells).__name__}")
    missing = [c for c in REQUIRED if c not in cells.columns]
    if missing:
        raise ValueError(f"cells is missing column(s) {missing}; required: {list(REQUIRED)}")
    df = cells.reset_index(drop=True).copy()
    for col in ("areal_mass", "moisture_exposure", "weld_resistance"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
        bad = np.flatnonzero(~np.isfinite(df[col].to_numpy()))
        if bad.size:
            raise ValueError(f"cells.{col} row {bad[0]} (cell {df.cell_id.iloc[bad[0]]!r}) is NaN or not a "
                             f"number; give a value for every cell")
    if (df.areal_mass <= 0).any():
        i = int(np.flatnonzero(df.areal_mass.to_numpy() <= 0)[0])
        raise ValueError(f"cells.areal_mass row {i} is {df.areal_mass[i]} mg/cm²; it must be > 0 (cathode, per side)")
    if df.cell_id.duplicated().any():
        raise ValueError(f"cells.cell_id has duplicates, e.g. {df.cell_id[df.cell_id.duplicated()].iloc[0]!r}")
    start = pd.to_datetime(df.formation_start, utc=True, errors="coerce")
    if start.isna().any():
        i = int(np.flatnonzero(start.isna().to_numpy())[0])
        raise ValueError(f"cells.formation_start row {i} is missing or not a time; give a UTC Timestamp")
    df["formation_start"] = start
    df["rack"] = _as_int(df.rack, "rack", "rack")
    df["channel"] = _as_int(df.channel, "ch", "channel")
    df["moisture_exposure"] = df.moisture_exposure.clip(lower=0.0)
    return df

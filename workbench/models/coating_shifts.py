"""Offline change points of the coating lanes: where each lane's areal mass shifted, and by how much.

:func:`lane_shifts` segments every lane of a [time, lane] window at once with
:func:`workbench.changepoints.detect` (penalised cost, minimum segment duration) and reports one row per
(lane, change) with the shift between the segments' means. The dashboard's coating page (over its buffered
window) and notebook 01 (over a history) call the same function.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from workbench.changepoints import detect

MIN_DURATION = "5min"  # a lane shift must hold this long to count (shorter: noise, splices)


def lane_shifts(da: xr.DataArray, *, min_duration: Any = MIN_DURATION, lane_dim: str = "lane",
                min_shift: float | None = None) -> pd.DataFrame:
    """Offline change points of every lane: one row per (lane, change), oldest first.

    ``min_shift`` (``da``'s units): shifts smaller than this are merged away (``detect(min_shift=...)``);
    pages and notebooks pass the lane tag's ``workbench.spc.design.min_shift_of(tag)`` (a quarter of the
    spec's half-width unless the config sets ``spec.min_shift``). ``attrs["merged_small_shifts"]`` counts them.

    ``da``: areal mass (or any lane measurement) with dims ``time`` (datetime) and ``lane``, ``attrs["units"]``.
    Columns: lane (the lane coordinate), time (where the new segment starts), shift (mean of the new segment
    minus the mean of the one before, in ``da``'s units, also in ``attrs["units"]`` of the table).

    >>> rng = np.random.default_rng(0)
    >>> t = pd.date_range("2026-01-05 06:00", periods=400, freq="15s")
    >>> m = 17.2 + rng.normal(0, 0.03, (400, 3)); m[250:, 1] -= 0.5
    >>> da = xr.DataArray(m, dims=("time", "lane"), coords={"time": t, "lane": [1, 2, 3]}, attrs={"units": "mg/cm^2"})
    >>> cp = lane_shifts(da)
    >>> cp.lane.tolist(), cp.time[0] == t[250], round(float(cp["shift"][0]), 1), cp.attrs["units"]["shift"]
    ([2], True, -0.5, 'mg/cm^2')
    """
    units = da.attrs.get("units", "")
    out = pd.DataFrame({"lane": [], "time": pd.to_datetime([]), "shift": []})
    out.attrs["units"] = {"shift": units}
    if da.sizes.get("time", 0) < 10:
        return out
    da = da.transpose("time", lane_dim)
    found = detect(da, min_duration=min_duration, min_shift=min_shift)
    flags = found.transpose("time", lane_dim).values
    m, times, lanes = da.values, pd.DatetimeIndex(da["time"].values), da[lane_dim].values
    rows = []
    for j, lane in enumerate(lanes):
        idx = np.flatnonzero(flags[:, j])
        edges = np.r_[0, idx, m.shape[0]]
        for k, i in enumerate(idx):  # shift: mean of the new segment minus mean of the one before
            before, after = m[edges[k]:i, j], m[i:edges[k + 2], j]
            rows.append((lane, times[i], float(np.nanmean(after) - np.nanmean(before))))
    if rows:
        out = pd.DataFrame(rows, columns=["lane", "time", "shift"]).sort_values("time", ignore_index=True)
        out.attrs["units"] = {"shift": units}
    out.attrs.update(min_shift=min_shift, merged_small_shifts=int(found.attrs.get("merged_small_shifts", 0)))
    return out


__all__ = ["lane_shifts", "MIN_DURATION"]

"""Station views: turn a store's per-tag series into the station Datasets of :mod:`workbench.schema`.

The store keeps one series per ISA-95 tag; analysis code wants the station's shape (``areal_mass`` over
``time × lane``, ``dew_frost_point`` over ``time × sensor``, one row per weld, ...). Tags are matched by
the naming the line config uses (``areal_mass_laneNN``, ``frost_point_sN`` / ``dew_point_sN``,
``weld_resistance``, ``rackR/chCC/voltage``). Identity that no tag carries comes from the catalog:

- coating ``roll_id``/``lot_id``/``position`` per scan: the ``coating_scans`` table when the store has it
  (exact), otherwise from the roll and lot windows of the genealogy (a lot or roll is assigned by the scan
  time, ignoring the web transport delay, and position assumes constant speed within the roll: stated
  approximations);
- weld ``cell_id``/``tab``: the ``welds`` genealogy table, matched on the weld time;
- formation results: the ``formation_results`` table.

Large arrays (lanes, channels) stay lazy; 1-D process values are loaded to align them with scan times.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import xarray as xr

from workbench.history.gaps import across_gaps, parse_intervals
from workbench.history.store import HistoryError


def _by_pattern(raw: xr.Dataset, pattern: str) -> dict:
    """{match groups: variable name} for variables whose tag path's last part matches ``pattern``."""
    out = {}
    for name, var in raw.data_vars.items():
        m = re.fullmatch(pattern, var.attrs.get("path", name).rsplit("/", 1)[-1])
        if m:
            out[m.groups() if len(m.groups()) > 1 else m.group(1)] = name
    return out


def _pv_at(raw: xr.Dataset, name: str, times: np.ndarray) -> xr.DataArray:
    """A 1-D process value, last sample at or before each of ``times`` (loaded; it is small)."""
    s = raw[name].load().dropna("time")
    if s.sizes["time"] == 0:
        return xr.DataArray(np.full(len(times), np.nan), dims="time", attrs=dict(raw[name].attrs))
    out = s.reindex(time=times, method="ffill")
    gaps = parse_intervals(raw[name].attrs.get("gaps", []))
    if gaps:  # a value is not held across the start of a gap (see gaps.py)
        held_t = xr.DataArray(s.time.values, dims="time", coords={"time": s.time.values})
        held_t = held_t.reindex(time=times, method="ffill").values
        out = out.where(~across_gaps(held_t, np.asarray(times, dtype="datetime64[ns]"), gaps))
    out.attrs = dict(raw[name].attrs)
    return out.drop_vars("time")


def _window_ids(table: pd.DataFrame | None, key: str, times: np.ndarray) -> np.ndarray:
    ids = np.full(len(times), "unknown", dtype=object)
    if table is None or table.empty:
        return ids.astype(str)
    t = table.sort_values("start")
    starts = t["start"].to_numpy("datetime64[ns]")
    pos = np.searchsorted(starts, times, side="right") - 1
    ok = pos >= 0
    ids[ok] = t[key].to_numpy()[pos[ok]]
    ends = t["end"].to_numpy("datetime64[ns]")
    ids[ok & (times >= ends[np.clip(pos, 0, None)])] = "unknown"
    return ids.astype(str)


def coating_view(raw: xr.Dataset, tables: dict[str, pd.DataFrame], constants: dict) -> xr.Dataset:
    lanes = _by_pattern(raw, r"areal_mass_lane(\d+)")
    if not lanes:
        raise HistoryError("coating view: no areal_mass_laneNN tags in this station")
    order = sorted(lanes, key=int)
    first = raw[lanes[order[0]]]
    scan = np.flatnonzero(first.notnull().values)  # reads one lane column to find the scan rows
    times = raw.time.values[scan]
    areal = xr.concat([raw[lanes[k]] for k in order], dim="lane").transpose("time", "lane").isel(time=scan)
    areal = areal.chunk({"lane": -1})  # one dask chunk per stored file, all lanes together
    areal.attrs = {k: v for k, v in first.attrs.items() if k != "path"}
    ds = xr.Dataset({"areal_mass": areal}, coords={"time": times, "lane": [int(k) for k in order]})
    for pv in ("pump_rate", "pump_rate_setpoint", "line_speed", "line_speed_setpoint", "solids_fraction"):
        if pv in raw:
            ds[pv] = _pv_at(raw, pv, times)
    width, unit = constants.get("coated_width", (np.nan, "m"))
    ds["coated_width"] = xr.DataArray(float(width), attrs={"units": unit})
    scans = tables.get("coating_scans")
    if scans is not None and not scans.empty:
        s = scans.set_index("time").sort_index()
        aligned = s.reindex(pd.DatetimeIndex(times), method="ffill")
        ds = ds.assign_coords(roll_id=("time", aligned["roll_id"].astype(str).to_numpy()),
                              lot_id=("time", aligned["lot_id"].astype(str).to_numpy()),
                              position=("time", aligned["position"].to_numpy(float), {"units": "m"}))
    else:
        rolls, lots = tables.get("rolls"), tables.get("lots")
        roll = _window_ids(rolls, "roll_id", times)
        position = np.full(len(times), np.nan)
        if rolls is not None and not rolls.empty and "length_m" in rolls:
            r = rolls.set_index("roll_id")
            for rid in np.unique(roll):
                if rid in r.index:
                    sel = roll == rid
                    t0, t1 = np.datetime64(r.at[rid, "start"]), np.datetime64(r.at[rid, "end"])
                    position[sel] = r.at[rid, "length_m"] * (times[sel] - t0) / (t1 - t0)
        ds = ds.assign_coords(roll_id=("time", roll), lot_id=("time", _window_ids(lots, "lot_id", times)),
                              position=("time", position, {"units": "m"}))
    return ds


def dryroom_view(raw: xr.Dataset) -> xr.Dataset:
    sensors = _by_pattern(raw, r"(?:frost_point|dew_point)_(s\d+)")
    if not sensors:
        raise HistoryError("dryroom view: no frost_point_sN / dew_point_sN tags in this station")
    order = sorted(sensors, key=lambda s: int(s[1:]))
    cols = [raw[sensors[s]] for s in order]
    rows = np.flatnonzero(xr.concat([c.notnull() for c in cols], dim="s").any("s").values)
    times = raw.time.values[rows]
    dfp = xr.concat(cols, dim="sensor").transpose("time", "sensor").isel(time=rows).chunk({"sensor": -1})
    dfp.attrs = {"units": cols[0].attrs["units"]}
    reports = [c.attrs.get("reports") or ("frost_point" if "frost" in c.attrs["path"] else "dew_point") for c in cols]
    ds = xr.Dataset({"dew_frost_point": dfp},
                    coords={"time": times, "sensor": order, "reports": ("sensor", reports),
                            "tag": ("sensor", [c.attrs["path"] for c in cols])})
    for pv in ("temperature", "frost_point_setpoint"):
        if pv in raw:
            ds[pv] = _pv_at(raw, pv, times)
    return ds


def welding_view(raw: xr.Dataset, tables: dict[str, pd.DataFrame]) -> xr.Dataset:
    if "weld_resistance" not in raw:
        raise HistoryError("welding view: no weld_resistance tag in this station")
    rows = np.flatnonzero(raw["weld_resistance"].notnull().values)
    times = raw.time.values[rows]
    ds = xr.Dataset({v: ("weld", raw[v].isel(time=rows).values, dict(raw[v].attrs))
                     for v in ("weld_resistance", "laser_energy", "laser_power", "laser_power_setpoint") if v in raw},
                    coords={"weld": np.arange(len(rows)), "time": ("weld", times)})
    welds = tables.get("welds")
    cell = np.full(len(rows), "unknown", dtype=object)
    tab = np.full(len(rows), "unknown", dtype=object)
    if welds is not None and not welds.empty:
        w = welds.drop_duplicates("time", keep="last").set_index("time")
        idx = w.index.get_indexer(pd.DatetimeIndex(times))
        ok = idx >= 0
        cell[ok] = w["cell_id"].to_numpy()[idx[ok]]
        if "tab" in w:
            tab[ok] = w["tab"].to_numpy()[idx[ok]]
    for name in ds.data_vars:
        ds[name].attrs.pop("path", None)
    return ds.assign_coords(cell_id=("weld", cell.astype(str)), tab=("weld", tab.astype(str)))


def formation_channels_view(raw: xr.Dataset) -> xr.Dataset:
    """Live channel signals as variables over (time, rack, channel)."""
    found = _by_pattern(raw, r"(voltage|current|temperature|capacity)")
    del found  # names alone are ambiguous across channels; use the paths
    groups: dict[str, dict[tuple[int, int], str]] = {}
    for name, var in raw.data_vars.items():
        m = re.search(r"/rack(\d+)/ch(\d+)/(\w+)$", var.attrs.get("path", ""))
        if m:
            groups.setdefault(m.group(3), {})[(int(m.group(1)), int(m.group(2)))] = name
    if not groups:
        raise HistoryError("formation view: no rackR/chCC/<signal> tags in this station")
    racks = sorted({r for g in groups.values() for r, _ in g})
    chans = sorted({c for g in groups.values() for _, c in g})
    data = {}
    for signal, members in groups.items():
        rows = []
        for r in racks:
            cols = [raw[members[(r, c)]] if (r, c) in members else xr.full_like(raw[next(iter(members.values()))], np.nan)
                    for c in chans]
            rows.append(xr.concat(cols, dim="channel"))
        da = xr.concat(rows, dim="rack").transpose("time", "rack", "channel").chunk({"rack": -1, "channel": -1})
        da.attrs = {"units": raw[next(iter(members.values()))].attrs["units"]}
        data[signal] = da
    return xr.Dataset(data, coords={"time": raw.time.values, "rack": racks, "channel": chans})


def formation_results_view(tables: dict[str, pd.DataFrame]) -> xr.Dataset:
    res = tables.get("formation_results")
    if res is None or res.empty:
        raise HistoryError("formation view: the catalog has no formation_results table (record or fill them)")
    units = tables.get("formation_units", pd.DataFrame(columns=["variable", "units"]))
    unit_of = dict(zip(units["variable"], units["units"]))
    ds = xr.Dataset.from_dataframe(res.set_index("cell")) if "cell" in res else \
        xr.Dataset.from_dataframe(res.reset_index(drop=True).rename_axis("cell"))
    ds = ds.set_coords([c for c in ("cell_id", "rack", "channel", "formation_start") if c in ds])
    for name in ds.variables:
        if name in unit_of and unit_of[name]:
            ds[name].attrs["units"] = unit_of[name]
    return ds


__all__ = ["coating_view", "dryroom_view", "welding_view", "formation_channels_view", "formation_results_view"]

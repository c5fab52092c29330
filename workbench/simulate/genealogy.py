"""Genealogy: which electrode, slurry lot, dry-room window, welds and formation channel each cell has.

Material flow of the virtual line (times in seconds since the epoch):

- cell n gets its tab welds at ``welder.weld_time(2n)`` (pos) and ``+ weld_period`` (neg);
- its cathode was coated ``electrode_lead_s`` before the first weld, on one slit lane, at the web
  position the die was at then; the slurry lot is the lot at the die at that time. Lanes are used in
  turn, in a seeded random order per cycle of ``n_lanes`` cells, so every lane feeds one cell in 24
  (a die-lip streak of a few hours reaches a dozen cells or more);
- it was in the dry room from ``dryroom_before_s`` before its first weld until its last weld (stacking,
  welding; filled and sealed right after); moisture exposure = ∫ (room ppmv − baseline ppmv) dt over it;
- formation: racks are loaded with a full batch of ``n_channels`` consecutive cells, racks in turn
  (:func:`rack_of_batch`), ``soak_s`` after the batch's last weld. A channel is reused every ``n_racks·n_channels`` cells
  (the formation *slot*, see :func:`formation_slot_s`).

>>> from workbench.simulate import virtual_line
>>> g = virtual_line(seed=0, events=None).history(hours=2).genealogy
>>> list(g.cells.columns[:6])
['cell_id', 'weld_time', 'roll_id', 'lane', 'position_start_m', 'position_end_m']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FlowParams:
    electrode_lead_s: float = 3000.0
    electrode_length_m: float = 0.9
    dryroom_before_s: float = 2700.0  # electrodes enter the dry room 45 min before the first weld
    dryroom_sensor: str = "s2"        # nearest sensor to the stacking/welding cell
    n_racks: int = 128                # the formation hall; racks 1-4 are the ones with live tags
    n_live_racks: int = 4             # spread evenly over the loading cycle so most are busy at any time
    rack_phase: int = 34              # batch offset: the live racks are mid-run at the line's start
    n_channels: int = 16
    soak_s: float = 3600.0            # electrolyte wetting before formation


@dataclass
class Genealogy:
    """Genealogy tables (pandas, times tz-naive UTC). Units of numeric columns in ``.units``."""

    cells: pd.DataFrame
    welds: pd.DataFrame
    rolls: pd.DataFrame
    lots: pd.DataFrame

    units = {
        "position_start_m": "m", "position_end_m": "m", "areal_mass": "mg/cm^2",
        "moisture_exposure": "ppmv*h", "weld_resistance": "uohm", "laser_energy": "J",
        "length_m": "m", "solids_fraction": "dimensionless",
    }

    def __getitem__(self, name: str) -> pd.DataFrame:  # dict-style access, as trace accepts either
        return getattr(self, name)

    def keys(self):
        return ["cells", "welds", "rolls", "lots"]


def rack_of_batch(f: FlowParams, batch) -> np.ndarray:
    """Rack (1..n_racks) loaded with ``batch``: racks take batches in turn, and the live racks 1..n_live
    sit at evenly spaced places in that turn (so their formation runs are staggered, not simultaneous)."""
    p = (np.asarray(batch, dtype=np.int64) + f.rack_phase) % f.n_racks
    stride = f.n_racks // f.n_live_racks
    return (1 + (p % stride) * f.n_live_racks + p // stride).astype(np.int64)


def lane_of_cell(line, n) -> np.ndarray:
    """Slit lane (1..n_lanes) of cell ``n``: each cycle of n_lanes cells uses every lane once, seeded order."""
    n = np.asarray(n, dtype=np.int64)
    n_lanes = line.coater.p.n_lanes
    cycle, pos = np.divmod(n, n_lanes)
    if not n.size:
        return np.zeros(0, dtype=np.int64)
    cycles = np.arange(cycle.min(), cycle.max() + 1)
    keys = line.uniform_at("lane_cycle", cycles[:, None] * n_lanes + np.arange(n_lanes)[None, :])
    order = np.argsort(keys, axis=1, kind="stable")  # one seeded permutation of the lanes per cycle
    return order[cycle - cycles[0], pos] + 1


def formation_slot_s(flow: FlowParams, cell_takt_s: float) -> float:
    """Seconds between two loads of the same channel: the longest a formation run may take."""
    return flow.n_racks * flow.n_channels * cell_takt_s


def cells_between(line, t0_s: float, t1_s: float) -> np.ndarray:
    """Indices of cells whose welds all fall in [t0, t1)."""
    w = line.welder
    idx = w.welds_between(t0_s, t1_s)
    n_tabs = len(w.p.tabs)
    if not idx.size:
        return idx
    first, last = -(-idx[0] // n_tabs), (idx[-1] + 1) // n_tabs
    return np.arange(first, last, dtype=np.int64)


def _to_time(line, sec) -> np.ndarray:
    return line.epoch + np.round(np.asarray(sec, dtype=np.float64) * 1e9).astype("timedelta64[ns]")


def _exposure(line, t_in: np.ndarray, t_out: np.ndarray) -> np.ndarray:
    """∫ excess ppmv dt over each [t_in, t_out] in ppmv·h (trapezoid on the absolute 10 s sensor grid).

    Each cell's sum runs over its own intervals only (reduceat), so the value does not depend on
    which other cells were computed with it: batch history and the live formation agree bit for bit.
    """
    if not t_in.size:
        return np.zeros(0)
    dt = line.dryroom.p.sample_period_s
    k0 = int(np.floor(t_in.min() / dt))
    k = np.arange(k0, int(np.ceil(t_out.max() / dt)) + 1, dtype=np.int64)
    ex = line.dryroom.excess_ppmv(k * float(dt), line.flow.dryroom_sensor)
    intervals = np.append((ex[1:] + ex[:-1]) / 2 * (dt / 3600.0), 0.0)
    a = np.floor(t_in / dt).astype(np.int64) - k0
    b = np.maximum(np.floor(t_out / dt).astype(np.int64) - k0, a + 1)
    return np.add.reduceat(intervals, np.column_stack([a, b]).ravel())[::2]


def build(line, t0_s: float, t1_s: float) -> Genealogy:
    """All genealogy tables for cells welded in [t0, t1) (see module doc for the material flow)."""
    f, w, c = line.flow, line.welder, line.coater
    line.events.ensure(t0_s - f.electrode_lead_s, t1_s)
    n = cells_between(line, t0_s, t1_s)
    n_tabs = len(w.p.tabs)
    weld_idx = (n[:, None] * n_tabs + np.arange(n_tabs)[None, :]).ravel()
    welds = w.welds(weld_idx) if n.size else w.welds(np.zeros(0, dtype=np.int64))
    t_weld = w.weld_time(n * n_tabs).astype(np.float64)
    tau = t_weld - f.electrode_lead_s
    lane = lane_of_cell(line, n)
    s_web = c.web_length(tau)
    roll = np.floor(s_web / c.p.roll_length_m).astype(np.int64)
    pos = s_web - roll * c.p.roll_length_m
    lot = c.lot_index(tau)
    t_in, t_out = t_weld - f.dryroom_before_s, w.weld_time(n * n_tabs + n_tabs - 1).astype(np.float64)
    batch = n // f.n_channels
    last_weld_of_batch = w.weld_time(((batch + 1) * f.n_channels) * n_tabs - 1).astype(np.float64)
    areal = c.true_areal_mass(tau)[np.arange(n.size), lane - 1] if n.size else np.zeros(0)
    r = welds["weld_resistance"].reshape(-1, n_tabs) if n.size else np.zeros((0, n_tabs))
    cells = pd.DataFrame({
        "cell_id": w.cell_id(n), "weld_time": _to_time(line, t_weld), "roll_id": c.roll_id(roll),
        "lane": lane, "position_start_m": pos, "position_end_m": pos + f.electrode_length_m,
        "coated_at": _to_time(line, tau), "lot_id": c.lot_id(lot),
        "dryroom_in": _to_time(line, t_in), "dryroom_out": _to_time(line, t_out), "sensor": f.dryroom_sensor,
        "moisture_exposure": _exposure(line, t_in, t_out),
        "rack": rack_of_batch(f, batch), "channel": (n % f.n_channels + 1).astype(np.int64),
        "formation_start": _to_time(line, last_weld_of_batch + f.soak_s),
        "areal_mass": areal, "weld_resistance": r.sum(axis=1),
    })
    for j, tab in enumerate(w.p.tabs):
        cells[f"weld_{tab}"] = weld_idx.reshape(-1, n_tabs)[:, j] if n.size else np.zeros(0, dtype=np.int64)
    weld_df = pd.DataFrame({
        "weld": weld_idx, "cell_id": w.cell_id(welds["cell"]), "time": _to_time(line, welds["t"]),
        "tab": welds["tab"], "weld_resistance": welds["weld_resistance"], "laser_energy": welds["laser_energy"],
    })
    lots = _lots(line, np.unique(lot))
    rolls = _rolls(line, np.unique(roll))
    cells.attrs["units"] = weld_df.attrs["units"] = dict(Genealogy.units)
    return Genealogy(cells=cells, welds=weld_df, rolls=rolls, lots=lots)


def _lots(line, k: np.ndarray) -> pd.DataFrame:
    c = line.coater
    start = c.lot_boundary(k)
    return pd.DataFrame({
        "lot_id": c.lot_id(k), "start": _to_time(line, start), "end": _to_time(line, c.lot_boundary(k + 1)),
        "solids_fraction": c.solids_lab(start),
        # Raw-material lots change less often than slurry batches (one drum/bag lot feeds several batches).
        "active_material_lot": [f"NMC811-{2400 + i // 3:05d}" for i in k],
        "binder_lot": [f"PVDF-{700 + i // 4:05d}" for i in k],
        "conductive_additive_lot": [f"CB-{310 + i // 5:05d}" for i in k],
        "solvent_lot": [f"NMP-{900 + i // 2:05d}" for i in k],
    })


def _rolls(line, r: np.ndarray) -> pd.DataFrame:
    """Mother rolls with their coating window (die time), found by bisection on the web length."""
    c = line.coater

    def time_at_length(s):
        lo = np.full(np.shape(s), -1e6)
        hi = np.full(np.shape(s), 1e8)
        for _ in range(60):
            mid = (lo + hi) / 2
            below = c.web_length(mid) < s
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return hi

    start = time_at_length(r * c.p.roll_length_m)
    end = time_at_length((r + 1) * c.p.roll_length_m)
    return pd.DataFrame({"roll_id": c.roll_id(r), "start": _to_time(line, start), "end": _to_time(line, end),
                         "length_m": np.full(r.shape, c.p.roll_length_m)})

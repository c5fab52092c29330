"""Every cell of the virtual line traces back to welds, roll/lane/position, lot, dry room and formation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from workbench.simulate import virtual_line

warnings.filterwarnings("ignore", message="virtual line: formation results unavailable")


@pytest.fixture(scope="module")
def h():
    return virtual_line(seed=0).history(hours=6)


def test_every_cell_resolves(h):
    cells, g = h.genealogy.cells, h.genealogy
    assert len(cells) == 6 * 3600 // 40  # one cell per 40 s, both tab welds inside the window
    assert cells.cell_id.is_unique
    # welds: both tabs of every cell are in the welding Dataset, under that cell's id
    w = h.welding
    by_weld = pd.Series(w.cell_id.values, index=w.weld.values)
    for tab in ("pos", "neg"):
        np.testing.assert_array_equal(by_weld.loc[cells[f"weld_{tab}"]].values, cells.cell_id.values)
    assert (cells.weld_time >= h.start).all()
    # roll/lane/position: the roll is in the coating data, and its scans cover the position
    c = h.coating
    # Every roll and lot is in the genealogy tables, and the roll's coating window holds the coating time.
    assert cells.lane.between(1, 24).all()
    rolls = g.rolls.set_index("roll_id")
    assert cells.roll_id.isin(rolls.index).all()
    assert (cells.coated_at.values >= rolls.loc[cells.roll_id, "start"].values).all()
    assert (cells.coated_at.values < rolls.loc[cells.roll_id, "end"].values).all()
    lots = g.lots.set_index("lot_id")
    assert cells.lot_id.isin(lots.index).all()
    assert (cells.coated_at.values >= lots.loc[cells.lot_id, "start"].values).all()
    assert (cells.coated_at.values < lots.loc[cells.lot_id, "end"].values).all()
    # The electrode of cells welded in the first 50 min was coated before the window; the rest resolve
    # in the coating data itself: the roll's scans cover the position, and the lot is the scanned one.
    inside = cells[cells.coated_at >= c.coated_at.values[0]]
    assert len(inside) > 0.8 * len(cells)
    scans = pd.DataFrame({"roll_id": c.roll_id.values, "position": c.position.values})
    span = scans.groupby("roll_id").position.agg(["min", "max"])
    assert inside.roll_id.isin(span.index).all()
    lo, hi = span.loc[inside.roll_id, "min"].values, span.loc[inside.roll_id, "max"].values
    assert (inside.position_start_m.values >= lo - 6).all() and (inside.position_end_m.values <= hi + 6).all()
    nearest = np.searchsorted(c.coated_at.values, inside.coated_at.values)
    assert (c.lot_id.values[nearest] == inside.lot_id.values).mean() > 0.99  # except within a scan of a change
    # The dry-room window ends at the cell's last weld; formation after welding.
    assert (cells.dryroom_out <= h.end).all() and (cells.dryroom_out - cells.dryroom_in == pd.Timedelta("45min 20s")).all()
    assert (cells.dryroom_in < cells.weld_time).all() and (cells.weld_time < cells.dryroom_out).all()
    assert cells.rack.between(1, 128).all() and cells.channel.between(1, 16).all()
    assert (cells.formation_start > cells.weld_time).all()


def test_cell_areal_mass_is_the_gauge_value_at_its_lane(h):
    c = h.coating
    cells = h.genealogy.cells.query("coated_at >= @c.coated_at.values[0]")
    idx = np.searchsorted(c.coated_at.values, cells.coated_at.values).clip(0, c.sizes["time"] - 1)
    gauge = c.areal_mass.values[idx, cells.lane.values - 1]
    # the cell's value is the true weight; the gauge adds noise (σ 0.045) and drift (≤ 0.15)
    err = gauge - cells.areal_mass.values
    assert np.median(np.abs(err)) < 0.1 and np.abs(err).max() < 0.6


def test_channel_never_holds_two_cells_at_once(h):
    from workbench.simulate.formation import on_channel_hours

    cells = h.genealogy.cells
    hours = on_channel_hours(cells, seed=0)
    assert hours.max() * 3600 < 128 * 16 * 40  # the formation slot
    assert not cells.duplicated(["rack", "channel", "formation_start"]).any()


def test_formation_results_follow_the_cells(h):
    f = h.formation
    assert f is not None and f.sizes["cell"] == len(h.genealogy.cells)
    assert (f.cell_id.values == h.genealogy.cells.cell_id.values).all()
    weak = h.truth.set_index("kind").loc["weak_formation_channel"]
    on_weak = (f.rack == weak.rack) & (f.channel == weak.channel)
    assert int(on_weak.sum()) >= 1
    assert float(f.discharge_capacity.where(on_weak).mean()) < float(f.discharge_capacity.where(~on_weak).mean())


def test_tables_both_ways(h):
    g = h.genealogy
    assert list(g.keys()) == ["cells", "welds", "rolls", "lots"]
    lot = g.cells.lot_id.iloc[-1]
    assert g["lots"].set_index("lot_id").loc[lot, "active_material_lot"].startswith("NMC811-")
    roll = g.rolls.iloc[1]
    assert roll.end > roll.start and roll.length_m == 1500.0
    assert g.welds.weld_resistance.between(20, 300).all()
    assert g.cells.attrs["units"]["moisture_exposure"] == "ppmv*h"


def test_history_formation_curves_agree_with_results(h):
    cells = h.genealogy.cells
    ids = list(cells.cell_id.iloc[[3, 200]])
    curves = h.formation_curves(ids)
    assert sorted(curves) == sorted(ids)
    res = h.formation.set_coords("cell_id").swap_dims(cell="cell_id")
    for cid in ids:
        cur = curves[cid]
        assert float(cur.voltage.max()) <= 4.2 + 1e-3
        # the charge throughput logged on the channel is what the results report (same samples)
        charged = float(cur.capacity.where(cur.current > 0).max())
        assert 0.5 * float(res.charge_capacity.sel(cell_id=cid)) < charged <= float(res.charge_capacity.sel(cell_id=cid)) + 1e-3
    with pytest.raises(KeyError, match="not in this history"):
        h.formation_curves(["VC9999999"])

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
    assert len(cells) == (6 - 1) * 3600 // 40  # welding starts 1 h after the coater, one cell per 40 s
    assert cells.cell_id.is_unique
    # welds: both tabs of every cell are in the welding Dataset, under that cell's id
    w = h.welding
    by_weld = pd.Series(w.cell_id.values, index=w.weld.values)
    for tab in ("pos", "neg"):
        np.testing.assert_array_equal(by_weld.loc[cells[f"weld_{tab}"]].values, cells.cell_id.values)
    assert (cells.weld_time >= h.start).all()
    # roll/lane/position: the roll is in the coating data, and its scans cover the position
    c = h.coating
    scans = pd.DataFrame({"roll_id": c.roll_id.values, "position": c.position.values,
                          "coated_at": c.coated_at.values})
    span = scans.groupby("roll_id").position.agg(["min", "max"])
    assert cells.roll_id.isin(span.index).all()
    lo, hi = span.loc[cells.roll_id, "min"].values, span.loc[cells.roll_id, "max"].values
    assert (cells.position_start_m.values >= lo - 6).all() and (cells.position_end_m.values <= hi + 6).all()
    assert cells.lane.between(1, 24).all()
    assert cells.roll_id.isin(g.rolls.roll_id).all()
    # the lot of the cell is the lot the coating data shows at that coating time
    nearest = np.searchsorted(c.coated_at.values, cells.coated_at.values)
    assert (c.lot_id.values[nearest] == cells.lot_id.values).mean() > 0.99  # except within a scan of a change
    assert cells.lot_id.isin(g.lots.lot_id).all()
    # dry-room window inside the dry-room data; formation after welding
    assert (cells.dryroom_in >= h.dryroom.time.values[0]).all()
    assert (cells.dryroom_out <= h.dryroom.time.values[-1] + np.timedelta64(10, "s")).all()
    assert (cells.dryroom_in < cells.weld_time).all() and (cells.weld_time < cells.dryroom_out).all()
    assert cells.rack.between(1, 128).all() and cells.channel.between(1, 16).all()
    assert (cells.formation_start > cells.weld_time).all()


def test_cell_areal_mass_is_the_gauge_value_at_its_lane(h):
    cells, c = h.genealogy.cells, h.coating
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

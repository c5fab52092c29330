"""Change points on the virtual line: one call over all coating lanes finds the slurry-lot step (every lane,
at both edges, and the new lot named) and the die-lip streak (its lane, not the web) at the truth-table times.

The weak formation channel is found by the rack/channel imbalance test over a 3-day history, not by change
points (see its test for why)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench import simulate
from workbench.changepoints import detect, link_events
from workbench.models.formation import channel_imbalance

NEAR = pd.Timedelta("2min")  # 8 gauge scans at 15 s


@pytest.fixture(scope="module")
def line():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate.virtual_line(seed=0).history(hours=8)


@pytest.fixture(scope="module")
def coating_changes(line):
    return detect(line.coating.areal_mass, min_duration="5min")  # one call: all 24 lanes


def _event(line, kind):
    rows = line.truth[line.truth.kind == kind]
    assert len(rows) == 1, f"expected one {kind} in the truth table"
    return rows.iloc[0]


def _lanes_changing_near(changes, when):
    window = changes.sel(time=slice(when - NEAR, when + NEAR))
    return [int(lane) for lane in changes.lane.values if bool(window.sel(lane=lane).any())]


def test_slurry_lot_step_found_in_every_lane_and_linked_to_the_new_lot(line, coating_changes):
    ev = _event(line, "slurry_lot_step")
    n_lanes = line.coating.sizes["lane"]
    for edge in (ev.observed_start, ev.observed_end):  # mixed light, then the next lot restores the weight
        assert len(_lanes_changing_near(coating_changes, edge)) == n_lanes
    linked = link_events(coating_changes, "lot_id", tolerance=NEAR)
    at_step = linked[abs(linked.time - ev.observed_start) <= NEAR]
    assert len(at_step) == n_lanes and at_step.lot_id.nunique() == 1
    lots = line.coating.lot_id.to_series()
    assert at_step.lot_id.iloc[0] == lots[lots.index >= ev.observed_start].iloc[0]  # the lot that began there
    assert (abs(at_step.lot_id_lag) <= NEAR).all()


def test_die_lip_streak_found_on_its_lane_not_across_the_web(line, coating_changes):
    ev = _event(line, "die_lip_streak")
    lanes = _lanes_changing_near(coating_changes, ev.observed_start)
    assert int(ev.lane) in lanes
    assert len(lanes) <= 4  # the streak and at most its neighbours: local, unlike the lot step
    assert all(abs(lane - int(ev.lane)) <= 1 for lane in lanes)


def test_weak_formation_channel_found_by_channel_imbalance_not_by_change_points():
    """Why not change points: the default weak_formation_channel row is active from the history's first hour for
    7 days, so within any history there is no "before" to change from (detect never flags index 0), and a
    channel forms one cell a day, so a per-channel series has 3-4 points in 3 days, too few for a segmentation.
    What finds it: capacity per areal mass (the cell's coating lane moves capacity by up to +1.6/-3 %), each
    channel against the other 15 of its rack over 3 days (3 cells per channel), robust z and Mann-Whitney."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = simulate.virtual_line(seed=0).history(hours=72)
    ev = _event(h, "weak_formation_channel")
    f = h.formation
    assert pd.Timestamp(ev.start) <= pd.Timestamp(f.formation_start.min().values)  # no "before" in this history
    areal_mass = h.genealogy.cells.set_index("cell_id").areal_mass.reindex(f.cell_id.values).to_numpy()
    assert not np.isnan(areal_mass).any()
    per_mass = (f.discharge_capacity / xr.DataArray(areal_mass, dims="cell")).rename("capacity_per_areal_mass")
    out = channel_imbalance(f, per_mass)
    flagged = out.flagged.to_series()
    assert flagged[flagged].index.tolist() == [(int(ev.rack), int(ev.channel))]  # that channel and no other
    assert float(out.robust_z.sel(rack=int(ev.rack), channel=int(ev.channel))) < -3.5  # weak: lower capacity
    cells = f.formation_start.where((f.rack == int(ev.rack)) & (f.channel == int(ev.channel)), drop=True)
    assert ((cells >= np.datetime64(ev.start)) & (cells <= np.datetime64(ev.end))).all()  # inside the truth window

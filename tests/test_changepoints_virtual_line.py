"""Change points on the virtual line: one call over all coating lanes finds the slurry-lot step (every lane,
at both edges, and the new lot named) and the die-lip streak (its lane, not the web) at the truth-table times.

Not here: the weak formation channel. An 8 h history forms one cell per rack/channel, and cells traced to the
die-lip streak lane dip as much (-3 %) as the weak channel's one cell, so no method can tell them apart
without several cells per channel (a multi-day history)."""

import warnings

import pandas as pd
import pytest

from workbench import simulate
from workbench.changepoints import detect, link_events

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

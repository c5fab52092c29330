"""On the virtual line, trace finds the cells behind each injected event and their expected shifts:
dry-room excursion -> more SEI loss (lower first-cycle CE) and self-discharge; protective-window
contamination -> weld resistance and DCIR up 1:1; die-lip streak -> light electrode, lower capacity."""

import warnings

import numpy as np
import pandas as pd
import pytest

import workbench.trace as tr
from workbench import simulate
from workbench.dewpoint import excursions
from workbench.simulate import formation as sim_formation
from workbench.simulate.events import Event
from workbench.units import ureg

LIMIT = ureg.Quantity(-40, "degC")  # frost-point cap of the dry room (virtual_line.yaml)


@pytest.fixture(scope="module")
def line():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = simulate.virtual_line(seed=0).history(hours=8)
    return h, tr.index_genealogy(h.genealogy), h.formation.to_dataframe().set_index("cell_id")


def z_score(a, b):
    return (a.mean() - b.mean()) / np.sqrt(a.var() / len(a) + b.var() / len(b))


def exposed_cells(h, g):
    events = excursions(h.dryroom.dew_frost_point, LIMIT, min_duration="5min")
    assert len(events) >= 1 and set(events.basis) == {"frost_point"}
    return set(tr.cells_from(g, excursion=events).cell_id), events


def test_excursion_cells_lose_more_capacity_to_sei(line):
    h, g, res = line
    wet, events = exposed_cells(h, g)
    truth = h.truth[h.truth.kind == "dewpoint_excursion"].iloc[0]
    assert events.start.min() < truth.observed_end and events.end.max() > truth.start
    assert 50 < len(wet) < len(res) - 50
    is_wet = res.index.isin(sorted(wet))
    ce, k = res.coulombic_efficiency, res.k_value
    assert z_score(ce[is_wet], ce[~is_wet]) < -3  # lower first-cycle CE
    assert z_score(k[is_wet], k[~is_wet]) > 3  # higher self-discharge
    # size of the CE shift: the SEI loss the cell model adds for the moisture dose trace reports
    dose = g.cells.set_index("cell_id").loc[res.index, "moisture_exposure"].to_numpy()
    loss = sim_formation.MOISTURE_LOSS_MAX * (1 - np.exp(-dose / sim_formation.MOISTURE_SCALE))
    expected = -(loss[is_wet].mean() - loss[~is_wet].mean())
    assert ce[is_wet].mean() - ce[~is_wet].mean() == pytest.approx(expected, rel=0.5)


def test_history_of_an_exposed_cell_shows_the_excursion(line):
    h, g, res = line
    wet, _ = exposed_cells(h, g)
    cells = g.cells.set_index("cell_id")
    worst = cells.loc[sorted(wet), "moisture_exposure"].idxmax()
    hist = tr.history_of(g, worst, dryroom=h.dryroom, formation=h.formation, coating=h.coating,
                         frost_point_limit=LIMIT)
    assert hist.dryroom["frost_point_max"] > -40 and hist.dryroom["minutes_above_limit"] > 5
    assert hist.formation["coulombic_efficiency"] == pytest.approx(res.loc[worst, "coulombic_efficiency"])
    assert hist.materials["lot_id"] == cells.loc[worst, "lot_id"] and "binder_lot" in hist.materials
    assert len(hist.welds) == 2 and abs(hist.electrode["gauge_areal_mass"] - 17.2) < 1.0
    dry = cells.loc[~cells.index.isin(sorted(wet)), "moisture_exposure"].idxmin()
    dry_hist = tr.history_of(g, dry, dryroom=h.dryroom, frost_point_limit=LIMIT)
    assert dry_hist.dryroom["minutes_above_limit"] == 0 and dry_hist.dryroom["frost_point_max"] < -40


def test_window_contamination_cells_show_the_dcir_shift(line):
    h, g, res = line
    wet, _ = exposed_cells(h, g)
    ev = h.truth[h.truth.kind == "laser_window_contamination"].iloc[0]
    late = set(tr.cells_from(g, weld_window=(ev.start + (ev.end - ev.start) * 0.5, ev.end)).cell_id) - wet
    first, last = g.cells.weld_time.min(), g.cells.weld_time.max() + pd.Timedelta("1min")
    clean = (set(tr.cells_from(g, weld_window=(first, ev.start)).cell_id)
             | set(tr.cells_from(g, weld_window=(ev.end, last)).cell_id)) - wet
    assert len(late) > 100 and len(clean) > 50
    a, b = res.loc[sorted(late)], res.loc[sorted(clean)]
    weld_r = g.cells.set_index("cell_id").weld_resistance
    d_weld = weld_r.loc[sorted(late)].mean() - weld_r.loc[sorted(clean)].mean()  # µΩ, both tabs
    assert d_weld > 10
    assert z_score(a.dcir, b.dcir) > 3
    # the welds are in series with the cell: DCIR rises by the weld resistance, 1 µΩ = 1e-3 mΩ
    assert a.dcir.mean() - b.dcir.mean() == pytest.approx(d_weld * 1e-3, rel=0.4)


def test_streak_lane_cells_are_light():
    # Cells come in magazines, each from one random slit lane, so the default streak lane may have
    # no cells in a short history: inject the streak on a lane that cells were made from.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet = simulate.virtual_line(seed=0, events=None).history(hours=6).genealogy.cells
        start = quiet.coated_at.min() + pd.Timedelta("1h")
        end = start + pd.Timedelta("3h")
        made = quiet[(quiet.coated_at >= start) & (quiet.coated_at < end)]
        lane = int(made.lane.value_counts().idxmax())
        streak_event = Event("die_lip_streak", start=start, end=end, magnitude=-3.0, lane=lane)
        h = simulate.virtual_line(seed=0, events=[streak_event]).history(hours=6)
    g, res = tr.index_genealogy(h.genealogy), h.formation.to_dataframe().set_index("cell_id")
    ev = h.truth[h.truth.kind == "die_lip_streak"].iloc[0]
    streak = tr.cells_from(g, coated_window=(ev.start, ev.end), lane=int(ev.lane))
    others = tr.cells_from(g, coated_window=(ev.start, ev.end))
    others = others[~others.lane.isin([lane - 1, lane, lane + 1])]  # neighbours get +1.5 %
    assert len(streak) >= 10 and len(others) > 50
    ratio = res.loc[streak.cell_id, "charge_capacity"].mean() / res.loc[others.cell_id, "charge_capacity"].mean()
    assert ratio == pytest.approx(1 + ev.magnitude / 100, abs=0.015)  # capacity ∝ areal mass, -3 %

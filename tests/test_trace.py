"""Traceability on plain tables: each criterion, both directions, errors, and 100,000 cells."""

import doctest

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import workbench.trace as tr
from workbench.units import ureg

T0 = pd.Timestamp("2026-01-05T06:00")


def genealogy(n, seed=0):
    """Synthetic genealogy: a cell every 30 s; 2,000 cells per roll, 5,000 per slurry lot, three slurry
    lots per active-material lot; 1 h (+0-20 min) in the dry room; two tab welds 45 min after entry."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    t_in = T0 + pd.to_timedelta(i * 30 + rng.integers(0, 20, n), unit="s")
    t_out = t_in + pd.to_timedelta(3600 + rng.integers(0, 1200, n), unit="s")
    ids = pd.Series(i).map("C{:07d}".format).to_numpy()
    pos = (i % 2000) * 0.75
    cells = pd.DataFrame({
        "cell_id": ids, "roll_id": pd.Series(i // 2000).map("R{:04d}".format).to_numpy(),
        "lane": rng.integers(1, 25, n), "position_start_m": pos, "position_end_m": pos + 0.7,
        "lot_id": pd.Series(i // 5000).map("SL{:03d}".format).to_numpy(),
        "dryroom_in": t_in, "dryroom_out": t_out, "weld_time": t_in + pd.Timedelta("45min"),
        "coated_at": t_in - pd.Timedelta("50min"),
        "rack": (i // 16) % 128 + 1, "channel": i % 16 + 1, "sensor": "s2",
    })
    welds = pd.DataFrame({
        "weld": np.arange(2 * n), "cell_id": np.repeat(ids, 2),
        "time": np.repeat(cells.weld_time.to_numpy(), 2) + np.tile([0, 20], n).astype("timedelta64[s]"),
        "tab": np.tile(["pos", "neg"], n), "weld_resistance": rng.normal(45, 1.5, 2 * n),
    })
    k = np.arange(n // 5000 + 1)
    lots = pd.DataFrame({"lot_id": [f"SL{j:03d}" for j in k], "active_material_lot": [f"AM-{j // 3}" for j in k],
                         "binder_lot": [f"PVDF-{j // 4}" for j in k]})
    rolls = pd.DataFrame({"roll_id": [f"R{j:04d}" for j in range(n // 2000 + 1)], "length_m": 1500.0})
    return {"cells": cells, "welds": welds, "rolls": rolls, "lots": lots}


@pytest.fixture(scope="module")
def big():
    tables = genealogy(100_000)
    return tables, tr.index_genealogy(tables)


# ---------------------------------------------------------------- forward queries on 100,000 cells

def test_forward_queries_match_brute_force_on_100k_cells(big):
    tables, g = big
    c = tables["cells"]
    assert len(tr.cells_from(g, lot="SL007")) == 5000
    # a material lot: AM-1 fed slurry lots SL003-SL005
    am = tr.cells_from(g, lot="AM-1")
    assert len(am) == 15000 and set(am.lot_id) == {"SL003", "SL004", "SL005"}
    rl = tr.cells_from(g, roll=["R0010", "R0011"], lane=7)
    assert len(rl) == int(((c.roll_id.isin(["R0010", "R0011"])) & (c.lane == 7)).sum()) > 0
    seg = tr.cells_from(g, roll="R0003", position=(300.0, 310.0))
    assert len(seg) == int(((c.roll_id == "R0003") & (c.position_end_m > 300) & (c.position_start_m < 310)).sum())
    assert len(seg) == 14  # positions 0.75 m apart, 0.7 m long: 299.25 ... 309.0
    s, e = T0 + pd.Timedelta("100h"), T0 + pd.Timedelta("100h40min")
    exposed = tr.cells_from(g, excursion=(s, e))
    brute = (c.dryroom_in < e) & (c.dryroom_out > s)
    assert len(exposed) == int(brute.sum()) and set(exposed.cell_id) == set(c.cell_id[brute])
    ws, we = T0 + pd.Timedelta("200h"), T0 + pd.Timedelta("201h")
    welded = tr.cells_from(g, weld_window=(ws, we))
    w = tables["welds"]
    assert set(welded.cell_id) == set(w.cell_id[(w.time >= ws) & (w.time < we)])
    assert len(tr.cells_from(g, rack=3, channel=2)) == int(((c.rack == 3) & (c.channel == 2)).sum())
    both = tr.cells_from(g, excursion=(s, e), lot=exposed.lot_id.iloc[0])
    assert len(both) == int((brute & (c.lot_id == exposed.lot_id.iloc[0])).sum())


def test_excursion_rows_and_frames_union(big):
    tables, g = big
    c = tables["cells"]
    events = pd.DataFrame({"sensor": ["s1", "s2"],
                           "start": [T0 + pd.Timedelta("10h"), T0 + pd.Timedelta("30h")],
                           "end": [T0 + pd.Timedelta("10h10min"), T0 + pd.Timedelta("30h05min")]})
    one = tr.cells_from(g, excursion=events.iloc[0])
    union = tr.cells_from(g, excursion=events)
    brute = np.zeros(len(c), bool)
    for _, ev in events.iterrows():
        brute |= ((c.dryroom_in < ev.end) & (c.dryroom_out > ev.start)).to_numpy()
    assert len(union) == brute.sum() > len(one) > 0
    tz = (events.start[0].tz_localize("UTC").tz_convert("Europe/Berlin"), events.end[0].tz_localize("UTC"))
    assert len(tr.cells_from(g, excursion=tz)) == len(one)  # tz-aware queries are UTC


# ---------------------------------------------------------------- backward: history_of

def test_history_of_many_cells_on_100k(big):
    tables, g = big
    rng = np.random.default_rng(1)
    c = tables["cells"].set_index("cell_id")
    for cell_id in rng.choice(tables["cells"].cell_id.to_numpy(), 200, replace=False):
        h = tr.history_of(g, cell_id)
        row = c.loc[cell_id]
        assert h.electrode["roll_id"] == row.roll_id and h.electrode["lane"] == row.lane
        assert h.electrode["position_start_m"] == row.position_start_m
        assert h.materials["lot_id"] == row.lot_id
        assert h.materials["active_material_lot"] == f"AM-{int(row.lot_id[2:]) // 3}"
        assert h.dryroom["in"] == row.dryroom_in and h.dryroom["sensor"] == "s2"
        assert len(h.welds) == 2 and set(h.welds.tab) == {"pos", "neg"}
        assert (h.welds.cell_id == cell_id).all()
        assert (h.formation["rack"], h.formation["channel"]) == (row.rack, row.channel)


def test_history_with_station_data():
    tables = genealogy(40)
    cell = tables["cells"].iloc[5]
    t = pd.date_range(T0 - pd.Timedelta("1h"), periods=400, freq="1min")
    fp = np.full((400, 2), -50.0)
    inside = (t >= cell.dryroom_in) & (t < cell.dryroom_out)
    fp[np.flatnonzero(inside)[10:20], 0] = -35.0  # s1: 10 min above -40 during the cell's window
    dryroom = xr.Dataset({"dew_frost_point": (("time", "sensor"), fp, {"units": "degC"})},
                         coords={"time": t, "sensor": ["s1", "s2"], "reports": ("sensor", ["frost_point"] * 2)})
    formation = xr.Dataset({"dcir": ("cell", np.arange(40.0), {"units": "mohm"})},
                           coords={"cell_id": ("cell", tables["cells"].cell_id.to_numpy())})
    h = tr.history_of(tables, cell.cell_id, dryroom=dryroom, formation=formation,
                      frost_point_limit=ureg.Quantity(-40, "degC"))
    assert h.dryroom["frost_point_max"] == -35.0
    assert h.dryroom["frost_point_max_own_sensor"] == -50.0  # the cell sat next to s2
    assert h.dryroom["minutes_above_limit"] == 0.0
    assert h.formation["dcir"] == 5.0 and h.units["dcir"] == "mohm"
    summary = h.summary()
    assert summary["cell_id"] == cell.cell_id and summary["welds.n"] == 2
    assert summary["formation.dcir"] == 5.0


def test_cells_table_alone_and_weld_time_fallback():
    cells = genealogy(50)["cells"]
    got = tr.cells_from(cells, weld_window=(cells.weld_time[10], cells.weld_time[20]))
    assert got.cell_id.tolist() == cells.cell_id[10:20].tolist()
    h = tr.history_of(cells, "C0000003")
    assert h.materials == {"lot_id": "SL000"} and len(h.welds) == 1
    coated = tr.cells_from(cells, coated_window=(cells.coated_at[0], cells.coated_at[5]))
    assert coated.cell_id.tolist() == cells.cell_id[:5].tolist()


def test_genealogy_recorded_in_the_history_store_answers_the_same(tmp_path):
    from workbench.history.catalog import load_genealogy, write_genealogy

    tables = genealogy(3000)
    write_genealogy(tmp_path, tables)
    stored = load_genealogy(tmp_path)  # SQLite round trip: times come back as datetime64[us]
    window = (T0 + pd.Timedelta("5h"), T0 + pd.Timedelta("5h30min"))
    for query in ({"excursion": window}, {"weld_window": window}, {"lot": "AM-0", "lane": [3, 4]}):
        assert (tr.cells_from(stored, **query).cell_id.tolist()
                == tr.cells_from(tables, **query).cell_id.tolist()), query
    a, b = tr.history_of(stored, "C0001234").summary(), tr.history_of(tables, "C0001234").summary()
    assert a == b


# ---------------------------------------------------------------- errors

def test_errors_name_what_is_wrong():
    tables = genealogy(30)
    with pytest.raises(tr.TraceInputError, match="at least one"):
        tr.cells_from(tables)
    with pytest.raises(tr.TraceInputError, match="lacks column.*lot_id"):
        tr.cells_from({"cells": tables["cells"].drop(columns="lot_id")}, roll="R0000")
    with pytest.raises(tr.TraceInputError, match="unknown cell_id.*NOPE"):
        tr.history_of(tables, "NOPE")
    with pytest.raises(tr.TraceInputError, match="not after start"):
        tr.cells_from(tables, excursion=(T0 + pd.Timedelta("1h"), T0))
    with pytest.raises(tr.TraceInputError, match="start"):
        tr.cells_from(tables, excursion={"begin": T0})
    dup = pd.concat([tables["cells"], tables["cells"].iloc[:1]])
    with pytest.raises(tr.TraceInputError, match="unique.*C0000000"):
        tr.index_genealogy({"cells": dup})
    with pytest.raises(tr.TraceInputError, match="coated_at"):
        tr.cells_from(tables["cells"].drop(columns="coated_at"), coated_window=(T0, T0 + pd.Timedelta("1h")))
    with pytest.raises(tr.TraceInputError, match="tables"):
        tr.cells_from(42, lot="SL000")
    assert tr.cells_from(tables, lot="NO-SUCH-LOT").empty
    no_events = pd.DataFrame({"sensor": [], "start": pd.to_datetime([]), "end": pd.to_datetime([])})
    assert tr.cells_from(tables, excursion=no_events).empty  # a compliant day: no exposed cells


"""Weld resistance against formation DCIR, joined by cell from a genealogy source (workbench.weld.weld_vs_dcir)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.genealogy import TableGenealogy
from workbench.weld import WeldInputError, weld_vs_dcir, welds_dataset

T0 = pd.Timestamp("2026-01-05 06:00")


def _line(n=120, seed=0, weld_units="uohm"):
    """Cells with two tab welds each; DCIR = base + the sum of the welds (series), formation 30 h after welding."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:03d}" for i in range(n)])
    welded = T0 + pd.to_timedelta(60 * np.arange(n), unit="s")
    r = rng.normal(45.0, 3.0, (n, 2))  # µΩ per weld
    dcir = 0.95 + r.sum(axis=1) * 1e-3 + rng.normal(0, 0.0005, n)  # mΩ: a µΩ of weld is 1e-3 mΩ
    scale = {"uohm": 1.0, "mohm": 1e-3}[weld_units]
    welds = pd.DataFrame({"cell_id": np.repeat(ids, 2), "weld_resistance": r.ravel() * scale,
                          "time": np.repeat(welded, 2)})
    welds.attrs["units"] = {"weld_resistance": weld_units}
    cells = pd.DataFrame({"cell_id": ids, "weld_time": welded, "roll_id": "R1", "lot_id": "L1"})
    order = rng.permutation(n)  # formation reports cells in its own order
    formation = xr.Dataset({"dcir": ("cell", dcir[order], {"units": "mohm"})},
                           coords={"cell_id": ("cell", ids[order]), "rack": ("cell", np.ones(n, int)),
                                   "channel": ("cell", np.arange(n) % 16 + 1),
                                   "formation_end": ("cell", (welded + pd.Timedelta("30h"))[order])})
    return TableGenealogy({"cells": cells, "welds": welds}, formation), dcir


@pytest.mark.parametrize("weld_units", ["uohm", "mohm"])
def test_the_series_weld_resistance_shows_one_to_one_in_dcir_whatever_the_units(weld_units):
    source, _ = _line(weld_units=weld_units)
    j = weld_vs_dcir(source, T0 + pd.Timedelta("40h"), window="12h")
    assert j.n == 120 and j.pearson > 0.9
    assert j.slope * 1e3 == pytest.approx(1.0, abs=0.05)  # mΩ per µΩ x 1e3 = µΩ of DCIR per µΩ of weld
    assert j.table.weld_resistance.between(70, 110).all()  # µΩ, whatever the table's units were
    assert j.intercept + j.slope * j.table.weld_resistance.mean() == pytest.approx(j.table.dcir.mean())


def test_cells_are_joined_by_id_not_by_position():
    source, dcir = _line()
    j = weld_vs_dcir(source, T0 + pd.Timedelta("40h"), window="12h")
    got = j.table.set_index("cell_id").dcir
    want = pd.Series(dcir, index=[f"C{i:03d}" for i in range(120)])
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)


def test_only_cells_whose_formation_ended_in_the_window_count():
    source, _ = _line()
    j = weld_vs_dcir(source, T0 + pd.Timedelta("30h") + pd.Timedelta("60min"), window="30min")
    ended = T0 + pd.Timedelta("30h") + pd.to_timedelta(60 * np.arange(120), unit="s")
    assert j.n == int(((ended >= T0 + pd.Timedelta("30h30min")) & (ended < T0 + pd.Timedelta("31h"))).sum())


def test_no_formation_or_no_welds_say_what_is_missing():
    source, _ = _line()
    with pytest.raises(WeldInputError, match="no cell finished formation"):
        weld_vs_dcir(source, T0 + pd.Timedelta("2h"))
    everything = (T0 - pd.Timedelta("1D"), T0 + pd.Timedelta("10D"))
    cells_only = TableGenealogy({"cells": source.cells(*everything)["cells"]}, source.formation(*everything))
    with pytest.raises(WeldInputError, match="no welds table"):
        weld_vs_dcir(cells_only, T0 + pd.Timedelta("40h"), window="12h")
    with pytest.raises(WeldInputError, match="needs columns cell_id and weld_resistance"):
        welds_dataset(pd.DataFrame({"cell": ["A"], "r": [1.0]}))

"""Formation channel health (workbench.models.channel_health): a weak channel against the rest of its rack,
on capacity per areal mass joined by cell id; the same function on a genealogy source finds the virtual
line's weak channel (truth table)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.formation import FormationDataError
from workbench.genealogy import TableGenealogy, VirtualLineGenealogy
from workbench.models.channel_health import capacity_per_areal_mass, channel_health, recent_channel_health
from workbench.simulate import virtual_line


def _rack(n_per_channel=4, weak=5, shortfall=0.02, seed=0):
    """One rack of 16 channels; capacity proportional to the cell's areal mass (three coating lanes)."""
    rng = np.random.default_rng(seed)
    n = 16 * n_per_channel
    ids = np.array([f"C{i:03d}" for i in range(n)])
    chan = np.tile(np.arange(1, 17), n_per_channel)
    mass = rng.choice([16.6, 17.2, 17.8], n)
    cap = 0.175 * mass * rng.normal(1.0, 0.002, n)
    cap[chan == weak] *= 1 - shortfall
    f = xr.Dataset({"discharge_capacity": ("cell", cap, {"units": "A*h"})},
                   coords={"cell_id": ("cell", ids), "rack": ("cell", np.ones(n, int)), "channel": ("cell", chan)})
    cells = pd.DataFrame({"cell_id": ids, "areal_mass": mass}).sample(frac=1.0, random_state=seed)
    cells.attrs["units"] = {"areal_mass": "mg/cm^2"}
    return f, cells


def test_per_areal_mass_finds_the_weak_channel_the_coating_spread_hides():
    f, cells = _rack()
    h = channel_health(f, cells)
    assert h.channel.values[h.flagged.sel(rack=1).values].tolist() == [5]
    assert h.attrs["variable"] == "capacity per areal mass" and "mg/cm^2" in h["median"].attrs["units"]
    raw = channel_health(f)  # without the genealogy: raw capacity, the lane spread dominates
    assert not raw.flagged.values.any()


def test_areal_mass_is_joined_by_cell_id_and_unknown_cells_are_gaps():
    f, cells = _rack()
    per_mass = capacity_per_areal_mass(f, cells.iloc[::-1])
    want = f.discharge_capacity.values / cells.set_index("cell_id").areal_mass.loc[f.cell_id.values].values
    np.testing.assert_allclose(per_mass.values, want)
    partial = capacity_per_areal_mass(f, cells[cells.cell_id != "C000"])
    assert np.isnan(partial.values[0]) and np.isfinite(partial.values[1:]).all()


def test_bad_input_says_what_is_missing():
    f, cells = _rack()
    with pytest.raises(FormationDataError, match="areal_mass"):
        capacity_per_areal_mass(f, cells.drop(columns="areal_mass"))
    with pytest.raises(FormationDataError, match="no formation results"):
        channel_health(f.isel(cell=[]), cells)


def test_from_a_genealogy_source_over_a_window_of_days():
    f, cells = _rack(n_per_channel=6)
    end = pd.Timestamp("2026-01-08") + pd.to_timedelta(np.arange(f.sizes["cell"]) * 900, unit="s")
    f = f.assign_coords(formation_end=("cell", end))
    cells = cells.assign(weld_time=pd.Timestamp("2026-01-07"))
    source = TableGenealogy({"cells": cells}, f)
    h = recent_channel_health(source, end.max() + pd.Timedelta("1s"), racks=[1], days="3D")
    assert h.channel.values[h.flagged.sel(rack=1).values].tolist() == [5] and int(h.n_cells.sum()) == 96
    with pytest.raises(FormationDataError, match="no cell on racks"):
        recent_channel_health(source, pd.Timestamp("2026-01-01"), racks=[1])


def test_the_virtual_lines_weak_channel_is_the_one_flagged():
    vl = virtual_line(seed=0)
    as_of = pd.Timestamp("2026-01-08 06:00")
    truth = vl.truth(0.0, vl.seconds(as_of))
    weak = truth[truth.kind == "weak_formation_channel"].iloc[0]
    h = recent_channel_health(VirtualLineGenealogy(vl), as_of, [1, 2, 3, 4])
    flagged = [(int(h.rack[r]), int(h.channel[c])) for r, c in zip(*np.nonzero(h.flagged.values))]
    assert flagged == [(int(weak.rack), int(weak.channel))]

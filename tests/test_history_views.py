"""history.open gives schema-valid station Datasets equal to the virtual line's, lazily, from a store."""

import dask
import numpy as np
import pytest

from workbench import changepoints, history, schema, spc
from workbench.history.fill import fill_from_virtual_line
from workbench.simulate import virtual_line

HOURS = 2.4


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("views")
    fill_from_virtual_line(root, days=HOURS / 24, seed=0)
    return root


@pytest.fixture(scope="module")
def sim():
    return virtual_line(seed=0).history(hours=HOURS)


@pytest.mark.parametrize("station", ["coating", "dryroom", "welding", "formation"])
def test_views_are_schema_valid(store, station):
    schema.validate(history.open(store, station))


def test_coating_view_equals_the_simulators_dataset_and_stays_lazy(store, sim):
    with dask.config.set(scheduler="sync"):
        c = history.open(store, "coating")
    assert isinstance(c.areal_mass.data, dask.array.Array)
    ref = sim.coating.sel(time=c.time)
    np.testing.assert_allclose(c.areal_mass.values, ref.areal_mass.values, atol=1e-9)
    np.testing.assert_allclose(c.pump_rate.values, ref.pump_rate.values, atol=1e-9)
    assert (c.lot_id.values == ref.lot_id.values).all() and (c.roll_id.values == ref.roll_id.values).all()
    np.testing.assert_allclose(c.position.values, ref.position.values)
    assert float(c.coated_width) == float(sim.coating.coated_width)


def test_dryroom_and_welding_views_carry_identity(store, sim):
    d = history.open(store, "dryroom")
    assert list(d.reports.values) == list(sim.dryroom.reports.values)
    w = history.open(store, "welding")
    n = w.sizes["weld"]
    assert (w.cell_id.values == sim.welding.cell_id.values[:n]).all()
    np.testing.assert_allclose(w.weld_resistance.values, sim.welding.weld_resistance.values[:n])


def test_formation_results_and_channels(store, sim):
    f = history.open(store, "formation")
    assert f.sizes["cell"] == sim.formation.sizes["cell"]
    np.testing.assert_allclose(f.discharge_capacity.values, sim.formation.discharge_capacity.values)
    assert f.dcir.attrs["units"] == sim.formation.dcir.attrs["units"]
    ch = history.open_channels(store)
    assert ch.voltage.dims == ("time", "rack", "channel") and ch.voltage.attrs["units"] == "V"
    assert ch.voltage.chunks[1:] == ((4,), (16,))


def test_models_spc_and_change_points_run_on_history_unchanged(store):
    c = history.open(store, "coating")
    breaks = changepoints.detect(c.areal_mass, dim="time")
    assert breaks.dims == ("time", "lane") and bool(breaks.any())
    d = history.open(store, "dryroom")
    chart = spc.ewma(d.dew_frost_point, target=-50.0, sigma=1.0, dim="time")
    assert "alarm" in chart

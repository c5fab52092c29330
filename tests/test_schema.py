"""workbench.schema: the virtual line's Datasets pass; broken ones fail with a message naming the problem."""

from __future__ import annotations

import warnings

import pytest

from workbench.schema import SCHEMAS, SchemaError, describe, validate
from workbench.simulate import virtual_line

warnings.filterwarnings("ignore", message="virtual line: formation results unavailable")


@pytest.fixture(scope="module")
def h():
    return virtual_line(seed=0).history(hours=2)


@pytest.mark.parametrize("station", ["coating", "dryroom", "welding", "formation"])
def test_simulator_datasets_pass(h, station):
    ds = getattr(h, station)
    assert validate(ds) is ds
    assert validate(ds, station=station) is ds


def test_missing_variable_named(h):
    with pytest.raises(SchemaError, match=r"coating Dataset: variable 'pump_rate' is missing; expected dims \('time',\) in g/min"):
        validate(h.coating.drop_vars("pump_rate"))


def test_wrong_unit_named(h):
    ds = h.coating.copy()
    ds["areal_mass"] = ds.areal_mass.assign_attrs(units="degC")
    with pytest.raises(SchemaError, match=r"variable 'areal_mass' has units 'degC'; expected 'mg/cm\^2'"):
        validate(ds)
    ds["areal_mass"] = ds.areal_mass.assign_attrs(units="g/m^2")  # same dimension: fine
    validate(ds)
    ds["areal_mass"].attrs.pop("units")
    with pytest.raises(SchemaError, match="'areal_mass' has no units"):
        validate(ds)
    ds["areal_mass"] = ds.areal_mass.assign_attrs(units="furlongs_per_mg")
    with pytest.raises(SchemaError, match="unknown unit"):
        validate(ds)


def test_quantified_dataset_passes(h):
    validate(h.welding.pint.quantify(), station="welding")


def test_missing_coord_dim_and_wrong_dims(h):
    with pytest.raises(SchemaError, match="coord 'reports' is missing"):
        validate(h.dryroom.drop_vars("reports"))
    with pytest.raises(SchemaError, match="dim 'lane' is missing"):
        validate(h.coating.isel(lane=0, drop=True))
    ds = h.welding.copy()
    ds["laser_energy"] = ds.laser_energy.expand_dims(pulse=2)
    with pytest.raises(SchemaError, match=r"'laser_energy' has dims \('pulse', 'weld'\); expected dims \('weld',\)"):
        validate(ds)
    ds = h.coating.copy()
    ds["roll_id"] = ds.roll_id.astype(float) if False else ds.roll_id.copy(data=ds.position.values)
    with pytest.raises(SchemaError, match="'roll_id' has dtype float64"):
        validate(ds)


def test_station_must_be_known(h):
    ds = h.coating.copy()
    ds.attrs.pop("station")
    with pytest.raises(SchemaError, match="say which station"):
        validate(ds)
    with pytest.raises(SchemaError, match="no schema for station 'paint'"):
        validate(ds, station="paint")
    with pytest.raises(TypeError, match="Dataset"):
        validate(h.coating.areal_mass)


def test_formation_curves_schema(h):
    cid = h.genealogy.cells.cell_id.iloc[0]
    cur = h.formation_curves([cid])[cid]
    assert validate(cur, station="formation_curves") is cur
    bad = cur.assign(current=cur.current.assign_attrs(units="V"))
    with pytest.raises(SchemaError, match="formation_curves Dataset: variable 'current' has units 'V'; expected 'A'"):
        validate(bad, station="formation_curves")


def test_describe_lists_every_station():
    for st in SCHEMAS:
        text = describe(st)
        assert text.startswith(st) and "units" not in text.split("\n")[0]

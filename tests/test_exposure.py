"""What a dry-room excursion exposed (workbench.exposure): excursions of one sensor against its configured
limit, and the cells, rolls and lots in the room during one excursion, from any genealogy source."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.config import Tag
from workbench.dewpoint import frost_point_from_dew_point
from workbench.exposure import DWELL_BEFORE_WELD, exposed, sensor_excursions, sensor_id
from workbench.genealogy import CatalogGenealogy, GenealogyError, TableGenealogy, VirtualLineGenealogy
from workbench.units import ureg

T0 = pd.Timestamp("2026-01-05 06:00")


def frost_tag(**kw):
    return Tag(path="p/dryroom/room1/hygrometer/frost_point_s2", units="degC", reports="frost_point",
               alarm={"high": -40.0}, **kw)


def readings(values, units="degC", step="1min"):
    t = pd.date_range(T0, periods=len(values), freq=step)
    return xr.DataArray(np.asarray(values, float), dims="time", coords={"time": t}, attrs={"units": units})


def test_excursions_use_the_limit_and_basis_of_the_tag_and_carry_units():
    ev = sensor_excursions(readings([-45, -39, -38, -45, -41, -39.5, -39.0, -45]), frost_tag())
    assert ev.sensor.tolist() == ["frost_point_s2"] * 2
    assert ev.start.tolist() == [T0 + pd.Timedelta("1min"), T0 + pd.Timedelta("5min")]
    assert ev.duration.tolist() == [pd.Timedelta("2min")] * 2 and ev.peak.tolist() == [-38.0, -39.0]
    # the same readings in kelvin give the same events: units come from the DataArray, not assumed
    kelvin = readings(np.array([-45, -39, -38, -45, -41, -39.5, -39.0, -45]) + 273.15, units="K")
    pd.testing.assert_frame_equal(sensor_excursions(kelvin, frost_tag())[["start", "end"]], ev[["start", "end"]])


def test_a_dew_point_sensor_is_compared_with_its_limit_in_the_basis_it_reports():
    """The line config writes a dew-point sensor's limit as a dew point (-43.7 °C dew point over supercooled
    water is the -40 °C frost point of the room's spec): -43 °C is an excursion, -44 °C is not."""
    assert float(frost_point_from_dew_point(ureg.Quantity(-43.7, "degC")).to("degC").m) == pytest.approx(-40, abs=0.2)
    dew = Tag(path="p/dryroom/room1/hygrometer/dew_point_s4", units="degC", reports="dew_point",
              alarm={"high": -43.7})
    ev = sensor_excursions(readings([-50, -43, -43, -44, -50]), dew)
    assert len(ev) == 1 and ev.basis[0] == "dew_point" and ev.duration[0] == pd.Timedelta("2min")


def test_gaps_are_not_excursions_and_no_limit_means_no_events():
    ev = sensor_excursions(readings([-45, np.nan, np.nan, -45]), frost_tag())
    assert ev.empty
    no_limit = Tag(path="p/dryroom/room1/hygrometer/frost_point_s1", units="degC", reports="frost_point")
    assert sensor_excursions(readings([-30, -30, -30]), no_limit).empty
    assert sensor_excursions(readings([-30]), frost_tag()).empty  # one reading: no interval
    assert sensor_id("frost_point_s2") == "s2"


def _genealogy(n=30):
    """Cells entering the dry room every 10 min, staying 2 h, welded at the exit; sensors s1/s2 alternate."""
    din = T0 + pd.to_timedelta(10 * np.arange(n), unit="min")
    cells = pd.DataFrame({"cell_id": [f"C{i:02d}" for i in range(n)], "roll_id": [f"R{i // 10}" for i in range(n)],
                          "lane": 1, "position_start_m": 0.0, "position_end_m": 1.0,
                          "lot_id": [f"L{i // 15}" for i in range(n)], "dryroom_in": din,
                          "dryroom_out": din + pd.Timedelta("2h"), "weld_time": din + pd.Timedelta("2h"),
                          "sensor": ["s1", "s2"] * (n // 2), "moisture_exposure": np.linspace(1, 30, n),
                          "rack": 1, "channel": 1})
    return {"cells": cells.sample(frac=1.0, random_state=1)}  # row order means nothing


def test_exposed_cells_overlap_the_excursion_are_near_the_sensor_and_known_by_as_of():
    g = TableGenealogy(_genealogy())
    start, end = T0 + pd.Timedelta("3h"), T0 + pd.Timedelta("3h5min")
    e = exposed(g, start, end, as_of=T0 + pd.Timedelta("6h"))
    inside = [f"C{i:02d}" for i in range(30) if 10 * i < 185 and 10 * i + 120 > 180]  # window overlaps
    assert sorted(e.cells) == inside and e.rolls == sorted({f"R{int(c[1:]) // 10}" for c in inside})
    near = exposed(g, start, end, as_of=T0 + pd.Timedelta("6h"), sensor="s2")
    assert sorted(near.cells) == [c for c in inside if int(c[1:]) % 2 == 1]
    assert float(near.moisture.to("ppmv*h").m) == pytest.approx(near.table.moisture_exposure.max())
    # as of 4 h, the cells welded after 4 h are not in the genealogy yet: fewer, never more
    early = exposed(g, start, end, as_of=T0 + pd.Timedelta("4h"))
    assert set(early.cells) < set(e.cells) and all(int(c[1:]) * 10 + 120 < 240 for c in early.cells)
    # before the excursion began nothing is known
    assert exposed(g, start, end, as_of=start - pd.Timedelta("2h")).cells == []
    assert DWELL_BEFORE_WELD >= pd.Timedelta("2h")  # cells stay 2 h here: the look-ahead must cover it


def test_a_history_catalog_traces_the_same_exposed_cells_as_the_virtual_line(tmp_path):
    from workbench.history.catalog import write_genealogy
    from workbench.simulate import genealogy, virtual_line

    vl = virtual_line(seed=3, events=[dict(kind="dewpoint_excursion", start="2h", end="150min", magnitude=12)])
    tables = genealogy.build(vl, 0.0, 6 * 3600.0)
    write_genealogy(tmp_path, tables)  # what a recorder/MES import stores
    start, end, as_of = vl.start + pd.Timedelta("2h"), vl.start + pd.Timedelta("150min"), vl.start + pd.Timedelta("5h")
    from_store = exposed(CatalogGenealogy(tmp_path), start, end, as_of, "s2")
    from_line = exposed(VirtualLineGenealogy(vl), start, end, as_of, "s2")
    from_tables = exposed(TableGenealogy(tables), start, end, as_of, "s2")
    assert len(from_store.cells) > 50  # 50 min in the room before the welds, 40 s a cell
    for other in (from_line, from_tables):
        assert (from_store.cells, from_store.rolls, from_store.lots) == (other.cells, other.rolls, other.lots)
    with pytest.raises(GenealogyError, match="no formation results"):
        CatalogGenealogy(tmp_path).formation(start, as_of)

"""Formation channel health: is a rack channel reading its cells differently from the rest of its rack?

A weak channel (a contact or calibration fault) makes good cells look bad. The coating moves a cell's
capacity by a few percent from lane to lane, which hides a channel error of the same size, so the test
runs on capacity per areal mass where the genealogy knows each cell's areal mass, joined by ``cell_id``
(never by position). The test itself is :func:`workbench.formation.channel_imbalance` (robust z and
Mann-Whitney per channel against the other channels of its rack).

The dashboard's formation page (:func:`recent_channel_health` on its genealogy source) and notebook 04
(:func:`channel_health` on a history) call the same functions.

>>> import numpy as np, pandas as pd, xarray as xr
>>> rng = np.random.default_rng(1)
>>> ids = [f"C{i:03d}" for i in range(96)]
>>> mass = rng.choice([16.8, 17.2, 17.6], 96)                    # three coating lanes
>>> cap = 0.3 * mass * rng.normal(1.0, 0.002, 96)                # capacity follows areal mass
>>> chan = np.tile(np.arange(1, 17), 6); cap[chan == 5] *= 0.98  # channel 5 reads 2 % low
>>> f = xr.Dataset({"discharge_capacity": ("cell", cap, {"units": "A*h"})},
...                coords={"cell_id": ("cell", ids), "rack": ("cell", np.ones(96, int)), "channel": ("cell", chan)})
>>> cells = pd.DataFrame({"cell_id": ids[::-1], "areal_mass": mass[::-1]})   # any row order: joined by cell_id
>>> h = channel_health(f, cells)
>>> h.channel.values[h.flagged.sel(rack=1).values].tolist(), h.attrs["variable"]
([5], 'capacity per areal mass')
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd
import xarray as xr

from workbench.models.formation import FormationDataError, channel_imbalance

HEALTH_DAYS = pd.Timedelta(days=3)  # a channel forms about one cell a day: 3 days give 3 cells to test
GENEALOGY_LEAD = pd.Timedelta(hours=48)  # a cell's genealogy row is at most this older than its formation end


def capacity_per_areal_mass(formation: xr.Dataset, cells: pd.DataFrame) -> xr.DataArray:
    """Discharge capacity / areal mass of each cell of ``formation`` (dim ``cell``), the areal mass taken from
    the genealogy ``cells`` table by ``cell_id``; NaN for a cell the table does not know (a gap, not a guess).
    Units: A·h/(mg/cm²) (or those of the inputs)."""
    if "cell_id" not in formation.coords or "discharge_capacity" not in formation.variables:
        raise FormationDataError("formation results need coord cell_id and variable discharge_capacity along cell")
    if not {"cell_id", "areal_mass"} <= set(cells.columns):
        raise FormationDataError(f"the cells table needs columns cell_id and areal_mass; it has {list(cells.columns)}")
    table = cells.drop_duplicates("cell_id").set_index(cells.drop_duplicates("cell_id").cell_id.astype(str))
    mass = table.areal_mass.reindex(formation.cell_id.values.astype(str)).to_numpy(dtype=float)
    cap_units = formation.discharge_capacity.attrs.get("units", "A*h")
    mass_units = cells.attrs.get("units", {}).get("areal_mass", "mg/cm^2")
    return (formation.discharge_capacity / xr.DataArray(mass, dims="cell")).rename("capacity per areal mass") \
        .assign_attrs(units=f"({cap_units})/({mass_units})")


def channel_health(formation: xr.Dataset, cells: pd.DataFrame | None = None, **test: Any) -> xr.Dataset:
    """Per rack and channel: cells tested, median, robust z, p and ``flagged`` (dims rack, channel), on
    capacity per areal mass when ``cells`` has ``areal_mass``, else on the discharge capacity.
    ``test``: options of :func:`workbench.formation.channel_imbalance` (z_threshold, alpha, min_cells)."""
    if formation.sizes.get("cell", 0) == 0:
        raise FormationDataError("channel health: no formation results to test")
    if cells is not None and "areal_mass" in cells:
        return channel_imbalance(formation, capacity_per_areal_mass(formation, cells), **test)
    return channel_imbalance(formation, "discharge_capacity", **test)


def recent_channel_health(source: Any, as_of: Any, racks: Iterable[int], days: Any = HEALTH_DAYS,
                          **test: Any) -> xr.Dataset:
    """:func:`channel_health` of the cells on ``racks`` whose formation ended in the ``days`` before ``as_of``,
    from a genealogy source (:class:`workbench.genealogy.GenealogySource`: formation results and cells).

    >>> import numpy as np
    >>> from workbench.genealogy import VirtualLineGenealogy
    >>> from workbench.simulate import virtual_line
    >>> h = recent_channel_health(VirtualLineGenealogy(virtual_line(seed=0)), pd.Timestamp("2026-01-08 06:00"),
    ...                           [1, 2, 3, 4])
    >>> [(int(h.rack[r]), int(h.channel[c])) for r, c in zip(*np.nonzero(h.flagged.values))]
    [(3, 2)]
    """
    as_of, days, racks = pd.Timestamp(as_of), pd.Timedelta(days), list(racks)
    f = source.formation(as_of - days, as_of, racks=racks)
    if f.sizes.get("cell", 0) == 0:
        raise FormationDataError(f"no cell on racks {racks} finished formation in the {days} before {as_of}")
    cells = source.cells(as_of - days - GENEALOGY_LEAD, as_of)["cells"]
    return channel_health(f, cells, **test)


__all__ = ["channel_health", "recent_channel_health", "capacity_per_areal_mass", "HEALTH_DAYS"]

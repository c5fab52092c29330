"""What a dry-room excursion exposed: the excursions of a sensor against its alarm limit from the line
config, and the cells, electrode rolls and slurry lots in the dry room during one excursion.

Pure functions over xarray/pandas (the dashboard's dry-room page and notebook 02 call the same ones):
:func:`sensor_excursions` (readings DataArray + its :class:`~workbench.config.Tag`) and :func:`exposed`
(a :class:`workbench.genealogy.GenealogySource` and an excursion window).

>>> import pandas as pd, xarray as xr
>>> from workbench.config import Tag
>>> tag = Tag(path="p/dryroom/room1/hygrometer/frost_point_s2", units="degC", reports="frost_point",
...           alarm={"high": -40.0})
>>> t = pd.date_range("2026-01-05 07:00", periods=6, freq="1min")
>>> da = xr.DataArray([-45, -39, -38, -45, -45, -45.0], dims="time", coords={"time": t}, attrs={"units": "degC"})
>>> ev = sensor_excursions(da, tag)
>>> ev[["sensor", "duration", "peak"]].values.tolist(), sensor_id(tag.short_name)
([['frost_point_s2', Timedelta('0 days 00:02:00'), -38.0]], 's2')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import xarray as xr

from workbench.config import Tag
from workbench.models.dewpoint import excursions
from workbench.trace import cells_from
from workbench.units import ureg

# cells are in the dry room some time before their welds (stacking, electrode storage): look this far
# past an excursion for cells welded later that were already inside during it
DWELL_BEFORE_WELD = pd.Timedelta(hours=4)
# and this far before it for cells that entered earlier
LOOK_BEFORE = pd.Timedelta(hours=1)


def sensor_excursions(da: xr.DataArray, tag: Tag, *, min_duration: Any = "0s") -> pd.DataFrame:
    """Excursions of one dew/frost-point sensor above its alarm-high limit from the line config.

    ``da``: the sensor's readings along ``time`` with ``attrs["units"]`` (gaps as NaN); what it reports
    (dew or frost point) comes from ``tag.reports``. Columns of :func:`workbench.dewpoint.excursions`;
    empty when the tag has no high alarm limit or fewer than two readings.
    """
    if da.sizes.get("time", 0) < 2 or tag.alarm is None or tag.alarm.high is None:
        return pd.DataFrame()
    basis = tag.reports or "frost_point"
    da = da.rename(tag.short_name).assign_attrs(units=da.attrs.get("units", tag.units), reports=basis)
    return excursions(da, ureg.Quantity(tag.alarm.high, tag.units), basis=basis, min_duration=min_duration)


def sensor_id(tag_name: str) -> str:
    """'frost_point_s2' -> 's2' (the genealogy's ``sensor`` column names the sensor nearest each cell)."""
    return tag_name.rsplit("_", 1)[-1]


@dataclass
class Exposure:
    """What was in the dry room during one excursion [start, end), as known at ``as_of``.

    ``table``: the exposed cells (rows of the genealogy's cells table, with ``moisture_exposure`` in ppmv·h
    where the genealogy has it); ``cells``/``rolls``/``lots``: their ids; ``moisture``: the highest moisture
    exposure (ppmv·h, a pint Quantity; NaN when unknown).
    """

    start: pd.Timestamp
    end: pd.Timestamp
    as_of: pd.Timestamp
    sensor: str | None
    table: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def cells(self) -> list[str]:
        return self.table.cell_id.astype(str).tolist() if len(self.table) else []

    @property
    def rolls(self) -> list[str]:
        return sorted(self.table.roll_id.astype(str).unique()) if len(self.table) else []

    @property
    def lots(self) -> list[str]:
        return sorted(self.table.lot_id.astype(str).unique()) if len(self.table) else []

    @property
    def moisture(self):
        m = float(self.table.moisture_exposure.max()) if "moisture_exposure" in self.table and len(self.table) \
            else float("nan")
        return ureg.Quantity(m, "ppmv * hour")


def exposed(source: Any, start, end, as_of, sensor: str | None = None) -> Exposure:
    """The cells, rolls and lots in the dry room during the excursion [start, end), known by ``as_of``.

    Cells whose dry-room window [dryroom_in, dryroom_out) overlaps the excursion
    (:func:`workbench.trace.cells_from`), welded up to ``as_of`` (the line's clock: later cells are not in the
    genealogy yet); where the genealogy says which sensor is nearest each cell (column ``sensor``), only
    cells near ``sensor``. ``source``: a :class:`workbench.genealogy.GenealogySource`.

    >>> from workbench.genealogy import VirtualLineGenealogy
    >>> from workbench.simulate import virtual_line
    >>> e = exposed(VirtualLineGenealogy(virtual_line(seed=0, events=None)), pd.Timestamp("2026-01-05 07:00"),
    ...             pd.Timestamp("2026-01-05 07:10"), pd.Timestamp("2026-01-05 09:00"))
    >>> len(e.cells) > 60, e.lots[:1]
    (True, ['SL01000'])
    """
    start, end, as_of = pd.Timestamp(start), pd.Timestamp(end), pd.Timestamp(as_of)
    out = Exposure(start, end, as_of, sensor)
    hi = min(end + DWELL_BEFORE_WELD, as_of)
    if not hi > start - LOOK_BEFORE:
        return out
    tables = source.cells(start - LOOK_BEFORE, hi)
    if tables["cells"].empty:
        return out
    c = cells_from(tables, excursion=(start, end))
    if sensor is not None and "sensor" in c:
        c = c[c["sensor"].astype(str) == sensor]
    out.table = c.reset_index(drop=True)
    return out


__all__ = ["sensor_excursions", "sensor_id", "exposed", "Exposure", "DWELL_BEFORE_WELD"]

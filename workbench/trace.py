"""Traceability: which cells came from a lot / roll / dry-room excursion / weld window, and where a
cell's materials and process history came from.

Works on plain pandas tables so the virtual line (``h.genealogy``) and the history store can both feed
it. Pass an object with attributes ``cells``/``welds``/``rolls``/``lots``, a dict of those DataFrames,
or just the cells DataFrame; build a :class:`GenealogyIndex` once (``index_genealogy``) when asking
many questions of a large genealogy. Times are UTC: tz-naive or tz-aware, both are accepted.

Tables and columns (* required; other columns are carried along into the answers):

- ``cells``: cell_id*, roll_id*, lane*, position_start_m*, position_end_m* (metres along the mother
  roll), lot_id* (slurry lot), dryroom_in*, dryroom_out* (exposure window), rack*, channel*
  (formation); optional weld_time, sensor, coated_at, moisture_exposure (ppmv·h), formation_start,
  areal_mass (mg/cm²), weld_resistance (µΩ, sum of the cell's welds).
- ``welds``: cell_id*, time*, plus weld, tab, weld_resistance (µΩ), laser_energy (J).
- ``rolls``: roll_id*, start, end (coating window), length_m.
- ``lots``: lot_id*, plus material lots in columns ending in ``_lot`` (active_material_lot, binder_lot...)
  which :func:`cells_from` ``lot=`` also searches.

Example
-------
>>> import pandas as pd
>>> cells = pd.DataFrame({"cell_id": ["C1", "C2"], "roll_id": ["R1", "R2"], "lane": [3, 3],
...     "position_start_m": [10.0, 20.0], "position_end_m": [10.9, 20.9], "lot_id": ["SL1", "SL2"],
...     "dryroom_in": pd.to_datetime(["2026-01-05 06:00", "2026-01-05 07:00"]),
...     "dryroom_out": pd.to_datetime(["2026-01-05 07:00", "2026-01-05 08:00"]),
...     "rack": [1, 1], "channel": [1, 2]})
>>> cells_from({"cells": cells}, excursion=("2026-01-05 07:30", "2026-01-05 07:40")).cell_id.tolist()
['C2']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "CELL_COLUMNS",
    "TraceInputError",
    "GenealogyIndex",
    "index_genealogy",
    "cells_from",
    "CellHistory",
    "history_of",
]

CELL_COLUMNS = ("cell_id", "roll_id", "lane", "position_start_m", "position_end_m", "lot_id",
                "dryroom_in", "dryroom_out", "rack", "channel")
_TIME_COLUMNS = ("dryroom_in", "dryroom_out", "weld_time", "coated_at", "formation_start", "time", "start", "end")


def _example_cells() -> pd.DataFrame:
    """Two cells, for the examples in this module."""
    return pd.DataFrame({
        "cell_id": ["C1", "C2"], "roll_id": ["R1", "R2"], "lane": [3, 3], "position_start_m": [10.0, 20.0],
        "position_end_m": [10.9, 20.9], "lot_id": ["SL1", "SL2"],
        "dryroom_in": pd.to_datetime(["2026-01-05 06:00", "2026-01-05 07:00"]),
        "dryroom_out": pd.to_datetime(["2026-01-05 07:00", "2026-01-05 08:00"]),
        "rack": [1, 1], "channel": [1, 2]})


class TraceInputError(ValueError):
    """A genealogy table or a query that cannot be used (missing column, unknown cell, bad window)."""


# ----------------------------------------------------------------------------- tables and index

def _utc_naive(values: Any) -> Any:
    """Timestamps (scalar, Series, array) as tz-naive UTC datetime64[ns]."""
    if isinstance(values, pd.Series):
        s = pd.to_datetime(values)
        return s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s
    t = pd.Timestamp(values)
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t


def _tables(genealogy: Any) -> dict[str, pd.DataFrame]:
    if isinstance(genealogy, pd.DataFrame):
        return {"cells": genealogy}
    names = ("cells", "welds", "rolls", "lots")
    if isinstance(genealogy, Mapping):
        return {k: genealogy[k] for k in names if k in genealogy and genealogy[k] is not None}
    if hasattr(genealogy, "cells"):
        return {k: getattr(genealogy, k) for k in names if getattr(genealogy, k, None) is not None}
    raise TraceInputError(f"genealogy must be tables (object with .cells, dict or DataFrame), "
                          f"not {type(genealogy).__name__}")


def _normalise(df: pd.DataFrame, name: str, required: Iterable[str]) -> pd.DataFrame:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise TraceInputError(f"genealogy table {name!r} lacks column(s) {missing}; has {list(df.columns)}")
    df = df.copy()
    for c in _TIME_COLUMNS:
        if c in df.columns:
            df[c] = _utc_naive(df[c])
    return df.reset_index(drop=True)


class _Inverted:
    """Key -> row positions, built once with factorize + a stable sort (O(n log n), no Python loop
    over groups, which matters with 100,000 distinct cell ids)."""

    def __init__(self, values: Any):
        codes, keys = pd.factorize(np.asarray(values, dtype=object))
        self.keys = pd.Index(keys, dtype=object)  # hash table built once, on first lookup
        self.order = np.argsort(codes, kind="stable")
        self.bounds = np.searchsorted(codes[self.order], np.arange(len(self.keys) + 1))

    def rows(self, keys: Iterable[Any]) -> np.ndarray:
        keys = list(keys)
        if len(keys) == 1:  # the common single-key lookup: a hash probe, no Index construction
            try:
                k = self.keys.get_loc(keys[0])
            except KeyError:
                return np.zeros(0, dtype=np.int64)
            return self.order[self.bounds[k]:self.bounds[k + 1]]
        codes = self.keys.get_indexer(keys)
        parts = [self.order[self.bounds[k]:self.bounds[k + 1]] for k in codes if k >= 0]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


@dataclass
class GenealogyIndex:
    """Genealogy tables with the lookups that make queries on 100,000+ cells fast.

    Build with :func:`index_genealogy`; the tables are kept as given (times made tz-naive UTC).

    >>> g = index_genealogy(_example_cells())
    >>> g.cells.cell_id.tolist()
    ['C1', 'C2']
    """

    cells: pd.DataFrame
    welds: pd.DataFrame | None = None
    rolls: pd.DataFrame | None = None
    lots: pd.DataFrame | None = None
    _row_of_cell: pd.Index = field(init=False, repr=False)
    _groups: dict = field(init=False, repr=False)
    _by_in: np.ndarray = field(init=False, repr=False)
    _in_sorted: np.ndarray = field(init=False, repr=False)
    _max_exposure: np.timedelta64 = field(init=False, repr=False)
    _weld_rows: _Inverted | None = field(init=False, repr=False, default=None)
    _lot_rows: _Inverted | None = field(init=False, repr=False, default=None)
    _roll_rows: _Inverted | None = field(init=False, repr=False, default=None)

    def __post_init__(self):
        c = self.cells
        self._row_of_cell = pd.Index(np.asarray(c["cell_id"], dtype=object), dtype=object)
        if self._row_of_cell.has_duplicates:
            dup = self._row_of_cell[self._row_of_cell.duplicated()][:5].tolist()
            raise TraceInputError(f"cells.cell_id must be unique; repeated: {dup}")
        # row positions per roll / slurry lot: an inverted index, built once
        self._groups = {k: _Inverted(c[k]) for k in ("roll_id", "lot_id")}
        t_in = c["dryroom_in"].to_numpy("datetime64[ns]")
        self._by_in = np.argsort(t_in, kind="stable")
        self._in_sorted = t_in[self._by_in]
        span = c["dryroom_out"].to_numpy("datetime64[ns]") - t_in
        self._max_exposure = span.max() if len(c) else np.timedelta64(0, "ns")
        if self.welds is not None:
            self.welds = self.welds.sort_values(["time"], kind="stable").reset_index(drop=True)
            self._weld_rows = _Inverted(self.welds["cell_id"])
        self._lot_rows = _Inverted(self.lots["lot_id"]) if self.lots is not None else None
        self._roll_rows = _Inverted(self.rolls["roll_id"]) if self.rolls is not None else None

    def rows(self, cell_ids: Iterable[Any]) -> np.ndarray:
        """Row positions of ``cell_ids`` in ``cells`` (raises naming unknown ids).

        >>> index_genealogy(_example_cells()).rows(["C2"]).tolist()
        [1]
        """
        ids = list(cell_ids)
        if len(ids) == 1 and ids[0] in self._row_of_cell:
            return np.array([self._row_of_cell.get_loc(ids[0])])
        pos = self._row_of_cell.get_indexer(ids)
        if (pos < 0).any():
            unknown = [i for i, p in zip(ids, pos) if p < 0][:5]
            raise TraceInputError(f"unknown cell_id(s) {unknown}: not in the genealogy's cells table")
        return pos


def index_genealogy(genealogy: Any) -> GenealogyIndex:
    """Check the genealogy tables (see the module doc for columns) and index them for fast queries.

    >>> import pandas as pd
    >>> cells = pd.DataFrame({"cell_id": ["C1"], "roll_id": ["R1"], "lane": [3], "position_start_m": [10.0],
    ...     "position_end_m": [10.9], "lot_id": ["SL1"], "dryroom_in": [pd.Timestamp("2026-01-05 06:00")],
    ...     "dryroom_out": [pd.Timestamp("2026-01-05 07:00")], "rack": [1], "channel": [1]})
    >>> len(index_genealogy({"cells": cells}).cells)
    1
    """
    if isinstance(genealogy, GenealogyIndex):
        return genealogy
    t = _tables(genealogy)
    if "cells" not in t:
        raise TraceInputError("genealogy has no 'cells' table")
    return GenealogyIndex(
        cells=_normalise(t["cells"], "cells", CELL_COLUMNS),
        welds=_normalise(t["welds"], "welds", ("cell_id", "time")) if "welds" in t else None,
        rolls=_normalise(t["rolls"], "rolls", ("roll_id",)) if "rolls" in t else None,
        lots=_normalise(t["lots"], "lots", ("lot_id",)) if "lots" in t else None,
    )


# ----------------------------------------------------------------------------- forward: which cells

def _as_list(value: Any) -> list:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _windows(value: Any, name: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) pairs from a tuple, an excursion row (Series/dict with start, end) or a DataFrame."""
    if isinstance(value, pd.DataFrame):
        if not {"start", "end"} <= set(value.columns):
            raise TraceInputError(f"{name}: a DataFrame needs columns 'start' and 'end'")
        pairs = list(zip(value["start"], value["end"]))
    elif isinstance(value, (pd.Series, Mapping)):
        if "start" not in value or "end" not in value:
            raise TraceInputError(f"{name}: a row needs 'start' and 'end' (e.g. a row of dewpoint.excursions)")
        pairs = [(value["start"], value["end"])]
    elif isinstance(value, tuple) and len(value) == 2:
        pairs = [value]
    else:
        raise TraceInputError(f"{name}: pass (start, end), an excursion row, or an excursions DataFrame")
    out = []
    for start, end in pairs:
        start, end = _utc_naive(start), _utc_naive(end)
        if not end > start:
            raise TraceInputError(f"{name}: end {end} is not after start {start}")
        out.append((start, end))
    return out


def _union(parts: list[np.ndarray]) -> np.ndarray:
    """Row positions in any of ``parts`` (an empty list -> no rows, e.g. an empty excursions table)."""
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def _rows_for_lot(g: GenealogyIndex, lots: list) -> np.ndarray:
    slurry = set(lots)
    if g.lots is not None:  # a material lot (binder, active material...) maps to the slurry lots it fed
        material_cols = [c for c in g.lots.columns if c.endswith("_lot")]
        hit = g.lots[material_cols].isin(lots).any(axis=1) if material_cols else np.zeros(len(g.lots), bool)
        slurry |= set(g.lots.loc[hit, "lot_id"])
    return g._groups["lot_id"].rows(slurry)


def _rows_exposed(g: GenealogyIndex, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Cells whose dry-room window [in, out) overlaps [start, end): binary search on sorted entry time,
    bounded by the longest exposure, then an exact check on the candidates."""
    lo = np.searchsorted(g._in_sorted, np.datetime64(start) - g._max_exposure, side="left")
    hi = np.searchsorted(g._in_sorted, np.datetime64(end), side="left")
    cand = g._by_in[lo:hi]
    out = g.cells["dryroom_out"].to_numpy("datetime64[ns]")[cand]
    return cand[out > np.datetime64(start)]


def _rows_welded(g: GenealogyIndex, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    if g.welds is not None:
        t = g.welds["time"].to_numpy("datetime64[ns]")  # sorted at indexing
        lo, hi = np.searchsorted(t, np.datetime64(start)), np.searchsorted(t, np.datetime64(end))
        ids = pd.unique(g.welds["cell_id"].to_numpy()[lo:hi])
        pos = g._row_of_cell.get_indexer(ids)
        return pos[pos >= 0]
    if "weld_time" not in g.cells:
        raise TraceInputError("weld_window needs a welds table or a cells.weld_time column")
    t = g.cells["weld_time"].to_numpy("datetime64[ns]")
    return np.flatnonzero((t >= np.datetime64(start)) & (t < np.datetime64(end)))


def cells_from(genealogy: Any, *, lot: Any = None, roll: Any = None, lane: Any = None,
               position: tuple[float, float] | None = None, excursion: Any = None, weld_window: Any = None,
               coated_window: Any = None, rack: Any = None, channel: Any = None) -> pd.DataFrame:
    """Cells (rows of the cells table, in table order) matching every given criterion.

    - ``lot``: slurry lot id(s), or material lot id(s) from the lots table (``*_lot`` columns).
    - ``roll``: mother roll id(s); ``lane``: slit lane(s); ``position``: (from_m, to_m) along the roll —
      cells whose electrode [position_start_m, position_end_m] overlaps it.
    - ``excursion``: (start, end), a row of :func:`workbench.dewpoint.excursions`, or that whole
      DataFrame (any of its events): cells whose dry-room window overlaps it.
    - ``weld_window``: (start, end): cells with a weld in [start, end).
    - ``coated_window``: (start, end): cells whose electrode left the die in [start, end) (column
      ``coated_at``; e.g. the window of a die-lip streak from the truth table).
    - ``rack``/``channel``: formation rack(s) / channel(s).

    >>> import pandas as pd
    >>> cells = pd.DataFrame({"cell_id": ["C1", "C2", "C3"], "roll_id": ["R1", "R1", "R2"],
    ...     "lane": [3, 4, 3], "position_start_m": [10.0, 10.0, 5.0], "position_end_m": [10.9, 10.9, 5.9],
    ...     "lot_id": ["SL1", "SL1", "SL2"], "rack": [1, 1, 2], "channel": [1, 2, 1],
    ...     "dryroom_in": pd.Timestamp("2026-01-05 06:00"), "dryroom_out": pd.Timestamp("2026-01-05 07:00")})
    >>> cells_from({"cells": cells}, roll="R1", lane=3).cell_id.tolist()
    ['C1']
    """
    g = index_genealogy(genealogy)
    c, n = g.cells, len(g.cells)
    selections = []
    if lot is not None:
        selections.append(_rows_for_lot(g, _as_list(lot)))
    if roll is not None:
        selections.append(g._groups["roll_id"].rows(_as_list(roll)))
    if lane is not None:
        selections.append(np.flatnonzero(c["lane"].isin(_as_list(lane)).to_numpy()))
    if position is not None:
        a, b = position
        selections.append(np.flatnonzero(((c["position_end_m"] > a) & (c["position_start_m"] < b)).to_numpy()))
    if excursion is not None:
        selections.append(_union([_rows_exposed(g, s, e) for s, e in _windows(excursion, "excursion")]))
    if weld_window is not None:
        selections.append(_union([_rows_welded(g, s, e) for s, e in _windows(weld_window, "weld_window")]))
    if coated_window is not None:
        if "coated_at" not in c:
            raise TraceInputError("coated_window needs a cells.coated_at column (when the electrode was coated)")
        t = c["coated_at"].to_numpy("datetime64[ns]")
        selections.append(_union([np.flatnonzero((t >= np.datetime64(a)) & (t < np.datetime64(b)))
                                  for a, b in _windows(coated_window, "coated_window")]))
    for col, value in (("rack", rack), ("channel", channel)):
        if value is not None:
            selections.append(np.flatnonzero(c[col].isin(_as_list(value)).to_numpy()))
    if not selections:
        raise TraceInputError("cells_from needs at least one of lot, roll, lane, position, excursion, "
                              "weld_window, coated_window, rack, channel")
    rows = np.unique(selections[0])
    for sel in selections[1:]:
        rows = np.intersect1d(rows, sel, assume_unique=False)
    return c.iloc[rows[rows < n]]


# ----------------------------------------------------------------------------- backward: one cell's history

@dataclass
class CellHistory:
    """Where one cell's materials and process history came from (see :func:`history_of`).

    Each section is a plain dict (numbers in the units listed in ``units``), ``welds`` a DataFrame.

    >>> h = history_of(_example_cells(), "C1")
    >>> h.electrode["roll_id"], h.dryroom["in"]
    ('R1', Timestamp('2026-01-05 06:00:00'))
    """

    cell_id: str
    cell: pd.Series
    materials: dict
    electrode: dict
    dryroom: dict
    welds: pd.DataFrame
    formation: dict
    units: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """One flat dict (section.key -> value) for tables and reports.

        >>> history_of(_example_cells(), "C2").summary()["materials.lot_id"]
        'SL2'
        """
        out = {"cell_id": self.cell_id}
        for section in ("materials", "electrode", "dryroom", "formation"):
            out.update({f"{section}.{k}": v for k, v in getattr(self, section).items()})
        out["welds.n"] = len(self.welds)
        return out


def _row_dict(df: pd.DataFrame | None, index: _Inverted | None, value: Any) -> dict:
    if df is None or index is None:
        return {}
    hit = index.rows([value])
    return {} if not hit.size else df.iloc[int(hit[0])].to_dict()


def _dryroom_readings(dryroom: Any) -> xr.DataArray:
    if isinstance(dryroom, xr.DataArray):
        return dryroom
    for name, da in dryroom.data_vars.items():
        if "reports" in da.coords or "reports" in da.attrs:
            return da
    raise TraceInputError("dryroom Dataset has no dew/frost-point variable (one with a 'reports' coord or attr)")


def _dryroom_section(row: pd.Series, dryroom: Any, limit: Any) -> tuple[dict, dict]:
    from workbench.dewpoint import minutes_above, to_basis  # lazy: only when dry-room data is given

    t_in, t_out = row["dryroom_in"], row["dryroom_out"]
    out = {"in": t_in, "out": t_out, "exposure_h": (t_out - t_in) / pd.Timedelta("1h")}
    units = {"exposure_h": "h"}
    for k in ("sensor", "moisture_exposure"):
        if k in row.index:
            out[k] = row[k]
    units["moisture_exposure"] = "ppmv*h"
    if dryroom is None:
        return out, units
    da = _dryroom_readings(dryroom).sel(time=slice(t_in, t_out))
    if da.sizes.get("time", 0) < 2:
        out["frost_point_max"] = np.nan
        return out, units
    frost = to_basis(da)
    out["frost_point_max"] = float(frost.max())
    units["frost_point_max"] = "degC (frost point)"
    sensor = row.get("sensor")
    own = "sensor" in frost.dims and sensor in set(frost["sensor"].values)
    if own:
        out["frost_point_max_own_sensor"] = float(frost.sel(sensor=sensor).max())
        units["frost_point_max_own_sensor"] = "degC (frost point)"
    if limit is not None:
        mins = minutes_above(da, limit)
        out["minutes_above_limit"] = float(mins.sel(sensor=sensor) if own else mins.max())
        units["minutes_above_limit"] = "min"
    return out, units


def _electrode_section(g: GenealogyIndex, row: pd.Series, coating: xr.Dataset | None) -> tuple[dict, dict]:
    keys = ("roll_id", "lane", "position_start_m", "position_end_m", "coated_at", "areal_mass")
    out = {k: row[k] for k in keys if k in row.index}
    roll = _row_dict(g.rolls, g._roll_rows, row["roll_id"])
    out.update({f"roll_{k}": v for k, v in roll.items() if k != "roll_id"})
    units = {"position_start_m": "m", "position_end_m": "m", "areal_mass": "mg/cm^2"}
    if coating is not None and "areal_mass" in coating:
        on_roll = np.flatnonzero(coating["roll_id"].values == row["roll_id"])
        if on_roll.size:
            pos = coating["position"].values[on_roll]
            mid = (row["position_start_m"] + row["position_end_m"]) / 2
            k = on_roll[np.argmin(np.abs(pos - mid))]  # the gauge scan nearest the cell's electrode
            out["gauge_areal_mass"] = float(coating["areal_mass"].isel(time=k).sel(lane=row["lane"]))
            out["gauge_position_m"] = float(coating["position"].values[k])
            units["gauge_areal_mass"] = coating["areal_mass"].attrs.get("units", "")
    return out, units


def _formation_section(row: pd.Series, formation: xr.Dataset | None) -> tuple[dict, dict]:
    out = {k: row[k] for k in ("rack", "channel", "formation_start") if k in row.index}
    units: dict = {}
    if formation is None:
        return out, units
    hit = np.flatnonzero(formation["cell_id"].values == row["cell_id"])
    if hit.size:
        one = formation.isel({formation["cell_id"].dims[0]: hit[0]})
        for name, da in one.data_vars.items():
            out[str(name)] = da.item()
            if "units" in da.attrs:
                units[str(name)] = da.attrs["units"]
        if "formation_end" in one.coords:
            out["formation_end"] = pd.Timestamp(one["formation_end"].values)
    return out, units


def history_of(genealogy: Any, cell_id: str, *, dryroom: Any = None, formation: xr.Dataset | None = None,
               coating: xr.Dataset | None = None, frost_point_limit: Any = None) -> CellHistory:
    """Everything known about one cell: material lots, electrode roll / lane / position, dry-room
    exposure, welds, formation rack / channel and results.

    Optional station data enrich the answer: ``dryroom`` (h.dryroom: peak frost point during the
    cell's window, all sensors and its own; minutes above ``frost_point_limit``), ``formation``
    (h.formation: the cell's results), ``coating`` (h.coating: the gauge reading nearest its electrode).

    >>> import pandas as pd
    >>> cells = pd.DataFrame({"cell_id": ["C1"], "roll_id": ["R1"], "lane": [3], "position_start_m": [10.0],
    ...     "position_end_m": [10.9], "lot_id": ["SL1"], "dryroom_in": [pd.Timestamp("2026-01-05 06:00")],
    ...     "dryroom_out": [pd.Timestamp("2026-01-05 07:00")], "rack": [1], "channel": [4]})
    >>> lots = pd.DataFrame({"lot_id": ["SL1"], "binder_lot": ["PVDF-7"]})
    >>> h = history_of({"cells": cells, "lots": lots}, "C1")
    >>> h.materials["binder_lot"], int(h.electrode["lane"]), int(h.formation["channel"]), h.dryroom["exposure_h"]
    ('PVDF-7', 3, 4, 1.0)
    """
    g = index_genealogy(genealogy)
    row = g.cells.iloc[int(g.rows([cell_id])[0])]
    materials = {"lot_id": row["lot_id"], **_row_dict(g.lots, g._lot_rows, row["lot_id"])}
    electrode, u1 = _electrode_section(g, row, coating)
    room, u2 = _dryroom_section(row, dryroom, frost_point_limit)
    if g.welds is not None:
        welds = g.welds.iloc[g._weld_rows.rows([cell_id])].reset_index(drop=True)
    else:
        welds = pd.DataFrame({"cell_id": [cell_id], "time": [row.get("weld_time", pd.NaT)]})
    form, u3 = _formation_section(row, formation)
    return CellHistory(str(cell_id), row, materials, electrode, room, welds, form, {**u1, **u2, **u3})

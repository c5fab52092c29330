"""Genealogy sources: which cells, rolls and lots went where, and the formation results of the cells.

The same sources serve the dashboard pages and a notebook: :class:`VirtualLineGenealogy` (the virtual
line knows its own genealogy), :class:`CatalogGenealogy` (a real line's history store catalog, kept by
the recorder or an MES import) and :class:`TableGenealogy` (tables in memory, e.g. a virtual-line history). Times are UTC (aware or naive); tables follow :mod:`workbench.trace`'s
columns; formation results are an xarray Dataset with dim ``cell``.

>>> from datetime import datetime
>>> from workbench.simulate import virtual_line
>>> g = VirtualLineGenealogy(virtual_line(seed=0, events=None))
>>> len(g.cells(datetime(2026, 1, 5, 7), datetime(2026, 1, 5, 8))["cells"])   # a cell every 40 s
90
"""

from __future__ import annotations

import abc
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd


class GenealogyError(ValueError):
    """A genealogy question that cannot be answered (a bad window, a store without formation results)."""


def naive_utc(t: Any) -> pd.Timestamp:
    """A time as a tz-naive UTC Timestamp (aware times are converted, naive ones are taken as UTC)."""
    t = pd.Timestamp(t)
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t


class GenealogySource(abc.ABC):
    """Where cells, rolls and lots and formation results are looked up (see the module docstring)."""

    description = "genealogy"

    @abc.abstractmethod
    def cells(self, start: datetime, end: datetime) -> dict:
        """Genealogy tables ``{"cells", "welds", "rolls", "lots"}`` of the cells first welded in [start, end)."""

    @abc.abstractmethod
    def formation(self, start: datetime, end: datetime, racks: Iterable[int] | None = None):
        """Formation results (xarray Dataset, dim ``cell``: dcir mΩ, discharge_capacity A·h, coords cell_id,
        rack, channel, formation_end) of the cells whose formation ended in [start, end), on ``racks``."""


def _ended_in(ended: np.ndarray, start, end) -> np.ndarray:
    return (ended >= np.datetime64(naive_utc(start))) & (ended < np.datetime64(naive_utc(end)))


class VirtualLineGenealogy(GenealogySource):
    """The genealogy of a virtual line (:func:`workbench.simulate.virtual_line`), computed on demand."""

    # a cell leaves its channel at most this long after its first weld (soak + formation; see
    # workbench.simulate.genealogy)
    FORMATION_LAG = timedelta(hours=30)

    def __init__(self, vl: Any):
        self.vl = vl
        self.description = f"virtual line (seed {vl.seed}, day began {naive_utc(vl.start):%Y-%m-%d %H:%M:%S} UTC)"

    def _build(self, start, end):
        from workbench.simulate import genealogy

        t0, t1 = self.vl.seconds(naive_utc(start)), self.vl.seconds(naive_utc(end))
        if not t1 > t0:
            raise GenealogyError(f"genealogy window: end {end} is not after start {start}")
        return genealogy.build(self.vl, t0, t1), t0, t1

    def cells(self, start: datetime, end: datetime) -> dict:
        g, _, _ = self._build(start, end)
        return {k: g[k] for k in g.keys()}

    def formation(self, start: datetime, end: datetime, racks: Iterable[int] | None = None):
        """Formation results of the cells that left their channel in [start, end) (see the base class).

        >>> from workbench.simulate import virtual_line
        >>> g = VirtualLineGenealogy(virtual_line(seed=0, events=None))
        >>> f = g.formation(datetime(2026, 1, 5, 8), datetime(2026, 1, 5, 9), racks=[1, 2, 3, 4])
        >>> f.dcir.attrs["units"], bool((f.rack <= 4).all())
        ('mohm', True)
        """
        from workbench.simulate.formation import formation_results

        g, t0, t1 = self._build(naive_utc(start) - self.FORMATION_LAG, end)
        cells = g.cells if racks is None else g.cells[g.cells.rack.isin(list(racks))]
        ds = formation_results(cells, seed=self.vl.seed, events=self.vl.truth(t0, t1))
        return ds.isel(cell=np.flatnonzero(_ended_in(ds.formation_end.values, start, end)))


class TableGenealogy(GenealogySource):
    """Genealogy tables and formation results held in memory: the history of a virtual line
    (``h = virtual_line().history(hours=8)``: ``TableGenealogy(h.genealogy, h.formation)``), or tables read
    from an MES export. ``genealogy``: an object with ``cells``/``welds``/``rolls``/``lots`` attributes or a
    dict of those DataFrames; ``formation``: a Dataset along ``cell`` (or None: :meth:`formation` says so).

    >>> import pandas as pd
    >>> cells = pd.DataFrame({"cell_id": ["C1", "C2"], "lot_id": ["L1", "L2"],
    ...                       "weld_time": pd.to_datetime(["2026-01-05 06:10", "2026-01-05 07:10"])})
    >>> TableGenealogy({"cells": cells}).cells(datetime(2026, 1, 5, 7), datetime(2026, 1, 5, 8))["cells"].cell_id.tolist()
    ['C2']
    """

    def __init__(self, genealogy: Any, formation: Any = None, description: str = "genealogy tables"):
        self._genealogy = {k: v for k, v in (genealogy.items() if isinstance(genealogy, dict) else
                           ((n, getattr(genealogy, n, None)) for n in ("cells", "welds", "rolls", "lots")))
                           if v is not None}
        if "cells" not in self._genealogy:
            raise GenealogyError(f"{description}: no cells table (cell_id, lot_id, roll_id, weld_time...)")
        self._formation = formation
        self.description = description

    def _tables(self) -> tuple[dict, Any]:
        """(genealogy tables, formation results or the reason there are none)."""
        form = self._formation if self._formation is not None else \
            GenealogyError("no formation results were given")
        return self._genealogy, form

    def cells(self, start: datetime, end: datetime) -> dict:
        gen, _ = self._tables()
        c = gen["cells"]
        when = c["weld_time"] if "weld_time" in c else c["dryroom_out"]
        c = c[(when >= naive_utc(start)) & (when < naive_utc(end))]
        out = {"cells": c}
        for name, key in (("welds", "cell_id"), ("rolls", "roll_id"), ("lots", "lot_id")):
            if name in gen:
                out[name] = gen[name][gen[name][key].isin(c[key])]
        return out

    def formation(self, start: datetime, end: datetime, racks: Iterable[int] | None = None):
        _, form = self._tables()
        if isinstance(form, Exception):
            raise GenealogyError(f"{self.description}: no formation results ({form}); record or import "
                                 "formation results into the store (workbench.history.catalog)")
        ended = form["formation_end"] if "formation_end" in form.variables else form["formation_start"]
        keep = _ended_in(ended.values, start, end)
        if racks is not None:
            keep &= np.isin(form.rack.values, list(racks))
        return form.isel(cell=np.flatnonzero(keep))


class CatalogGenealogy(TableGenealogy):
    """Genealogy and formation results from a history store's catalog (``workbench.history``), re-read
    when the catalog file changes. ``url``: the store (a folder or an fsspec URL).

    >>> import tempfile
    >>> from workbench.history.catalog import write_genealogy
    >>> from workbench.simulate import genealogy, virtual_line
    >>> store = tempfile.mkdtemp()
    >>> counts = write_genealogy(store, genealogy.build(virtual_line(seed=0, events=None), 0.0, 3600.0))
    >>> len(CatalogGenealogy(store).cells(datetime(2026, 1, 5, 6, 30), datetime(2026, 1, 5, 7))["cells"])
    45
    """

    def __init__(self, url: str | Path, storage_options: dict | None = None):
        self.url, self.storage_options = str(url), storage_options
        self.description = f"history store {self.url}"
        self._cache: tuple[Any, dict, Any] | None = None

    def _tables(self) -> tuple[dict, Any]:
        from workbench.history import load_genealogy, load_tables, views

        stamp = None
        local = Path(self.url) / "catalog.sqlite"
        if local.is_file():
            stamp = local.stat().st_mtime_ns
        if self._cache is None or stamp is None or self._cache[0] != stamp:
            gen = load_genealogy(self.url, storage_options=self.storage_options)
            try:
                form = views.formation_results_view(load_tables(
                    self.url, ["formation_results", "formation_units"], storage_options=self.storage_options))
            except Exception as exc:  # a store without formation results: the pages say why
                form = exc
            self._cache = (stamp, gen, form)
        return self._cache[1], self._cache[2]


__all__ = ["GenealogySource", "VirtualLineGenealogy", "TableGenealogy", "CatalogGenealogy", "GenealogyError", "naive_utc"]

"""History: record what the stations report, open it lazily as xarray for notebooks.

>>> from workbench import history
>>> coating = history.open("var/history", station="coating", start="2026-01-05", end="2026-01-06")  # doctest: +SKIP
>>> coating.areal_mass          # lazy (dask) over time x lane, mg/cm^2, schema-valid   # doctest: +SKIP

The store is a folder (or an fsspec URL) of immutable Parquet chunks; see :mod:`.store` for the layout and
the idempotence rule, :mod:`.gaps` for the one rule for time nobody heard (stored gaps, ``hold_last``),
:mod:`.reader` for lazy reading and corrupt-chunk handling, :mod:`.views` for how per-tag series become
station Datasets, :mod:`.catalog` for genealogy and events.
"""

from workbench.history import views
from workbench.history.catalog import load_events, load_genealogy, load_tables
from workbench.history.gaps import hold_last, load_gaps
from workbench.history.reader import _window, open_array, open_station, station_info, station_tags, variable_names
from workbench.history.store import AppendResult, HistoryError, HistoryStore, TagSpec


def open(url, station: str, *, tags=None, start=None, end=None, raw: bool = False, on_corrupt: str = "raise",
         storage_options: dict | None = None):
    """Open ``station``'s history in the store at ``url`` (a path or an fsspec URL such as ``s3://...``).

    Returns the station's schema Dataset (:mod:`workbench.schema`) built lazily from the stored tags —
    coating ``areal_mass(time, lane)``, dry-room ``dew_frost_point(time, sensor)``, one row per weld, formation
    results per cell (``formation="channels"`` views live channel signals: use :func:`open_channels`) — or,
    with ``raw=True`` (or for a generic station), one variable per tag over ``time``.
    ``start``/``end``: inclusive UTC window. ``tags``: only these tag paths (implies ``raw=True``).
    """
    _window(start, end)  # a bad or reversed window is an error before anything is read
    opts = dict(start=start, end=end, on_corrupt=on_corrupt, storage_options=storage_options)
    info = station_info(url, station, storage_options=storage_options)
    kind = info.get("kind", "generic")
    if raw or tags is not None or kind == "generic":
        return open_station(url, station, tags=tags, **opts)
    if kind == "formation":
        ds = views.formation_results_view(load_tables(url, ["formation_results", "formation_units"],
                                                      storage_options=storage_options))
    else:
        base = open_station(url, station, **opts)
        if kind == "coating":
            tables = _tables_or_empty(url, ["coating_scans", "rolls", "lots"], storage_options)
            ds = views.coating_view(base, tables, info.get("constants", {}))
        elif kind == "dryroom":
            ds = views.dryroom_view(base)
        else:
            ds = views.welding_view(base, _tables_or_empty(url, ["welds"], storage_options))
    ds.attrs.update({"station": kind, "store": str(url), "store_station": station})
    return ds


def open_channels(url, station: str = "formation", *, start=None, end=None, on_corrupt: str = "raise",
                  storage_options: dict | None = None):
    """Formation channel signals (voltage, current, temperature) over (time, rack, channel), lazily."""
    base = open_station(url, station, start=start, end=end, on_corrupt=on_corrupt, storage_options=storage_options)
    return views.formation_channels_view(base)


def _tables_or_empty(url, names, storage_options):
    try:
        return load_tables(url, names, storage_options=storage_options)
    except HistoryError:
        return {}


__all__ = ["open", "open_channels", "open_array", "open_station", "station_tags", "station_info", "variable_names",
           "HistoryStore", "TagSpec", "AppendResult", "HistoryError", "load_genealogy", "load_events",
           "load_tables", "load_gaps", "hold_last"]

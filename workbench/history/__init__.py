"""History: record what the stations report, open it lazily as xarray for notebooks.

>>> from workbench import history
>>> ds = history.open("var/history", station="coating", start="2026-01-05", end="2026-01-06")  # doctest: +SKIP

The store is a folder (or an fsspec URL) of immutable Parquet chunks; see :mod:`.store` for the layout and
the idempotence rule, :mod:`.reader` for lazy reading and corrupt-chunk handling.
"""

from workbench.history.reader import open_station, station_tags, variable_names
from workbench.history.store import AppendResult, HistoryError, HistoryStore, TagSpec


def open(url, station: str, *, tags=None, start=None, end=None, on_corrupt: str = "raise",
         storage_options: dict | None = None):
    """Open ``station``'s history in the store at ``url`` (path or fsspec URL) as a lazy Dataset.

    See :func:`workbench.history.reader.open_station`.
    """
    return open_station(url, station, tags=tags, start=start, end=end, on_corrupt=on_corrupt,
                        storage_options=storage_options)


__all__ = ["open", "open_station", "station_tags", "variable_names", "HistoryStore", "TagSpec",
           "AppendResult", "HistoryError"]

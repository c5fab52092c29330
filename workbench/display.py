"""Which tags a station's tile and trend show: from the station's ``display:`` block in the line config, or
by station kind when it has none. Pure functions of the config (the dashboard and a notebook alike).

A line config may say, per station::

    display:
      tile: {tags: ["frost_point_*"], reduce: max, label: "worst frost point"}
      trends: ["frost_point_s1", "frost_point_s2"]

>>> from workbench.config import load_line_config, default_config_path
>>> line = load_line_config(default_config_path())
>>> tile = tile_choice(line.station("dryroom"))
>>> tile.label, tile.reduce, len(tile.tags)
('worst dew/frost point', 'max', 4)
>>> float(tile.reading([-45.0, -41.5, float("nan"), -44.0]).m), tile.units
(-41.5, 'degC')
>>> [t.short_name for t in trend_tags(line.station("coating"))][:2]
['areal_mass_lane01', 'areal_mass_lane07']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pint

from workbench.config import Station, Tag, display_matches
from workbench.units import ureg

TREND_LIMIT = 8


def tags_named(station: Station, pattern: str) -> list[Tag]:
    """The station's tags a display pattern names, in config order (see :class:`workbench.config.StationDisplay`);
    a bare name also matches as a prefix ('voltage' names every channel's voltage)."""
    pats = [pattern] if any(c in pattern for c in "*?[") else [pattern, pattern + "*"]
    return [t for t in station.tags if any(display_matches(p, t) for p in pats)]


def _named(station: Station, patterns: Iterable[str]) -> list[Tag]:
    wanted = {t.path for p in patterns for t in tags_named(station, p)}
    return [t for t in station.tags if t.path in wanted]


@dataclass(frozen=True)
class TileChoice:
    """What a station tile shows: ``reduce`` ('mean', 'max', 'min' or 'first') of the newest values of ``tags``."""

    label: str
    tags: list[Tag]
    reduce: str = "first"

    @property
    def units(self) -> str:
        return self.tags[0].units if self.tags else ""

    def reading(self, values: Iterable[float]) -> pint.Quantity:
        """The tile's number from the newest values of :attr:`tags` (same order; NaN = none yet)."""
        v = np.asarray(list(values), dtype=float)
        if not np.isfinite(v).any():
            return ureg.Quantity(np.nan, self.units)
        if self.reduce == "first":
            return ureg.Quantity(float(v[0]), self.units)
        return ureg.Quantity(float({"mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}[self.reduce](v)),
                             self.units)


def _default_tile(station: Station) -> TileChoice | None:
    if station.kind == "coating":
        lanes = [t for t in station.tags if t.spec is not None]
        return TileChoice("areal mass, lane mean", lanes, "mean") if lanes else None
    if station.kind == "dryroom":
        sensors = [t for t in station.tags if t.reports]
        return TileChoice("worst dew/frost point", sensors, "max") if sensors else None
    if station.kind == "welding":
        res = [t for t in station.tags if t.spec is not None]
        return TileChoice("last weld resistance", res[:1], "first") if res else None
    if station.kind == "formation":
        volts = tags_named(station, "voltage")
        return TileChoice("mean cell voltage", volts, "mean") if volts else None
    return None


def tile_choice(station: Station) -> TileChoice:
    """The tile of a station: its ``display.tile`` if configured, else the default of its kind, else its
    first tag."""
    d = station.display
    if d is not None and d.tile is not None:
        return TileChoice(d.tile.label, _named(station, d.tile.tags), d.tile.reduce)
    tile = _default_tile(station)
    if tile is not None:
        return tile
    return TileChoice(station.tags[0].short_name, station.tags[:1], "first")


def _default_trends(station: Station, limit: int) -> list[Tag]:
    if station.kind == "coating":
        lanes = [t for t in station.tags if t.spec is not None]
        if len(lanes) > 5:  # edges, quarter points and centre tell the CD story at a glance
            idx = sorted({0, len(lanes) // 4, len(lanes) // 2, 3 * len(lanes) // 4, len(lanes) - 1})
            lanes = [lanes[i] for i in idx]
        return lanes or station.tags[:limit]
    if station.kind == "dryroom":
        return [t for t in station.tags if t.reports] or station.tags[:limit]
    if station.kind == "welding":
        return [t for t in station.tags if t.spec is not None] or station.tags[:1]
    if station.kind == "formation":
        return tags_named(station, "voltage")[:limit] or station.tags[:limit]
    return station.tags[:limit]


def trend_tags(station: Station, limit: int = TREND_LIMIT) -> list[Tag]:
    """The tags a station's trend shows: its ``display.trends`` if configured (at most ``limit``), else the
    default of its kind (coating: edge, quarter and centre lanes; dry room: the dew/frost-point sensors;
    welding: the spec'd resistance; formation: channel voltages)."""
    d = station.display
    if d is not None and d.trends:
        return _named(station, d.trends)[:limit]
    return _default_trends(station, limit)


__all__ = ["TileChoice", "tile_choice", "trend_tags", "tags_named", "TREND_LIMIT"]

"""Map the line config's ISA-95 tag paths onto the simulator's signals.

Tags are matched by station kind and the last path part, so a copied config with other site/area
names still drives the simulator. Unknown tags raise an error naming the tag and what is known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.config import LineConfig

SETPOINTS = {  # tag name -> (station, schedule attribute)
    "pump_rate_setpoint": ("coating", "pump"),
    "line_speed_setpoint": ("coating", "speed"),
    "laser_power_setpoint": ("welding", "power"),
    "frost_point_setpoint": ("dryroom", "setpoint"),
}
_COATING = {"pump_rate", "pump_rate_setpoint", "line_speed", "line_speed_setpoint", "solids_fraction"}
_WELDING = {"weld_resistance", "laser_energy", "laser_power", "laser_power_setpoint"}
_FORMATION = {"voltage", "current", "temperature", "capacity"}


class TagMapError(ValueError):
    """A config tag the simulator does not know how to produce."""


@dataclass(frozen=True)
class Signal:
    """Where a tag's value comes from: station, variable and index (lane, sensor or rack/channel)."""

    path: str
    station: str
    variable: str
    units: str
    lane: int | None = None
    sensor: str | None = None
    rack: int | None = None
    channel: int | None = None


def signal_of(kind: str, path: str, units: str) -> Signal:
    name = path.rsplit("/", 1)[-1]
    if kind == "coating":
        m = re.fullmatch(r"areal_mass_lane(\d+)", name)
        if m:
            return Signal(path, "coating", "areal_mass", units, lane=int(m.group(1)))
        if name in _COATING:
            return Signal(path, "coating", name, units)
    elif kind == "dryroom":
        m = re.fullmatch(r"(frost_point|dew_point)_(s\d+)", name)
        if m:
            return Signal(path, "dryroom", m.group(1), units, sensor=m.group(2))
        if name in ("frost_point_setpoint", "temperature"):
            return Signal(path, "dryroom", name, units)
    elif kind == "welding":
        if name in _WELDING:
            return Signal(path, "welding", name, units)
    elif kind == "formation":
        m = re.search(r"rack(\d+)/ch(\d+)/(\w+)$", path)
        if m and m.group(3) in _FORMATION:
            return Signal(path, "formation", m.group(3), units, rack=int(m.group(1)), channel=int(m.group(2)))
    raise TagMapError(
        f"virtual line: no simulated signal for {kind} tag {path!r}; known names: coating "
        f"areal_mass_laneNN, {sorted(_COATING)}; dryroom frost_point_sN/dew_point_sN, frost_point_setpoint, "
        f"temperature; welding {sorted(_WELDING)}; formation rackR/chCC/{sorted(_FORMATION)}"
    )


def signals(config: LineConfig) -> dict[str, Signal]:
    """Signal for every tag of every station of ``config`` (keyed by path, config order)."""
    return {t.path: signal_of(s.kind, t.path, t.units) for s in config.stations for t in s.tags}

"""What a station reports: one value of one tag with its units, source time and quality.

The vocabulary shared by the station adapters (:mod:`data_adapters`) and the live data model
(:mod:`workbench.live`); no I/O here.

>>> from datetime import datetime, timezone
>>> r = Reading("plant1/dryroom/room1/hygrometer/frost_point_s1", -41.0, "degC",
...             datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc))
>>> r.is_good, round(float(r.quantity.to("K").m), 2)
(True, 232.15)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pint

from workbench.units import ureg


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Quality(str, enum.Enum):
    """OPC UA-style quality of a reading."""

    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"
    STALE = "stale"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class Reading:
    """One value of one tag, as a station reported it.

    ``value`` is in ``units`` (the tag's configured units); ``source_time`` is the station's timestamp
    (UTC); ``received_time`` is when this process got it. ``value`` is NaN when quality is disconnected.
    """

    path: str
    value: float
    units: str
    source_time: datetime
    quality: Quality = Quality.GOOD
    received_time: datetime = field(default_factory=utcnow)

    @property
    def quantity(self) -> pint.Quantity:
        return ureg.Quantity(self.value, self.units)

    @property
    def is_good(self) -> bool:
        return self.quality is Quality.GOOD

    def age(self, now: datetime | None = None) -> float:
        """Seconds since the source timestamp."""
        return ((now or utcnow()) - self.source_time).total_seconds()


__all__ = ["Quality", "Reading", "utcnow"]

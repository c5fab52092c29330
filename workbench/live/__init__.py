"""The live data model of a line, without I/O: readings, ring buffers, the alarm list and the store.

``reading`` (Quality, Reading), ``buffer`` (TagBuffer), ``alarms`` (ISA-18.2 state machine), ``store``
(LiveStore: buffers + freshness + the monitors of :mod:`workbench.spc.monitors` + alarms). The acquisition
task that feeds a store from the stations is :mod:`data_adapters.acquisition`; a notebook can feed one
from any iterable of readings.
"""

from workbench.live.alarms import Alarm, AlarmEvent, AlarmList
from workbench.live.buffer import GOOD, QUALITY_CODES, LiveError, TagBuffer
from workbench.live.reading import Quality, Reading, utcnow
from workbench.live.store import Latest, LiveStore, StationStatus

__all__ = ["Alarm", "AlarmEvent", "AlarmList", "GOOD", "QUALITY_CODES", "LiveError", "TagBuffer",
           "Quality", "Reading", "utcnow", "Latest", "LiveStore", "StationStatus"]

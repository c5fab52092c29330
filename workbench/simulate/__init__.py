"""The virtual line (``workbench.simulate``): a deterministic, causal, traceable simulator of a cell line.

Four stations (slot-die coating with a scanning gauge, dry room, laser tab welding, formation), slurry
lots, mother rolls, genealogy from each cell to its welds, electrode roll/lane/position, slurry lot,
dry-room exposure and formation channel, and injected events with a truth table. Two ways to use it:

>>> from workbench.simulate import virtual_line
>>> vl = virtual_line(seed=0)              # events="default" | None | [Event(...), ...]
>>> h = vl.history(hours=2)                # batch: xarray Datasets with units
>>> live = vl.live(speed=0)                # live clock (speed 0: only advance() moves it)
>>> live.advance(600.0)
>>> v, units, ts = live.read(["plant1/electrode/coat1/gauge/areal_mass_lane01"])[
...     "plant1/electrode/coat1/gauge/areal_mass_lane01"]
>>> units
'mg/cm^2'

Random values are counter-based (a pure function of seed, stream and sample index), so ``history``,
``tag_samples`` and the live clock give the same values at the same timestamps. The line is warm:
every station has been running before ``vl.start``, which is the origin of offsets ("2h") and of the
default events' layout. Times are tz-naive UTC everywhere. See docs in each module: :mod:`.coating`,
:mod:`.dryroom`, :mod:`.welding`, :mod:`.genealogy`, :mod:`.events`, :mod:`.dynamics`, :mod:`.rng`,
:mod:`.live`, :mod:`.samples`; formation cells come from :mod:`.formation` (formation engineer's).
"""

from .events import KINDS as EVENT_KINDS, Event, EventError
from .line import DEFAULT_START, History, VirtualLine, virtual_line
from .live import LiveLine

__all__ = ["virtual_line", "VirtualLine", "History", "LiveLine", "Event", "EventError", "EVENT_KINDS",
           "DEFAULT_START"]

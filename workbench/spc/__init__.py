"""Statistical process control: limits, run rules, capability and online drift detectors.

Phase I / Phase II are explicit: ``fit(baseline)`` estimates center and sigma_within from an
in-control window and returns a :class:`ChartLimits`; ``apply(limits, data)`` charts new data.
The online detectors take ``target``/``sigma`` (e.g. ``limits.center``/``limits.sigma_within``).

Modules: ``constants`` (d2, d3, c4, A2, ... from their definitions), ``limits`` (I-MR, X-bar-R,
X-bar-S), ``rules`` (Western Electric, Nelson), ``capability`` (Cp, Cpk, Pp, Ppk with CIs),
``detectors`` (vectorised CUSUM, EWMA, Shewhart, FOCuS over xarray, lazy on dask),
``streaming`` (the same detectors one sample at a time), ``events`` (alarm events table),
``limitsets`` (limits fitted on history, versioned and approved in the store), ``arl`` (exact CUSUM ARLs), ``montecarlo`` (run-length simulation), ``accessor`` (``da.spc``).

NaN and sampling policy (all detectors, streaming and vectorised alike): a non-finite value is
skipped -- the statistic is held, no alarm, ``missing`` flags it; statistics count samples, not
seconds; an optional ``max_gap`` restarts a detector after a long silence (``restart`` flags it).

>>> import numpy as np, xarray as xr
>>> from workbench import spc
>>> rng = np.random.default_rng(0)
>>> base = xr.DataArray(rng.normal(45.0, 1.0, 200), dims="time", attrs={"units": "uohm"})
>>> lim = spc.fit(base, chart="imr")
>>> new = xr.DataArray(np.r_[rng.normal(45, 1, 50), rng.normal(47, 1, 50)], dims="time",
...                    attrs={"units": "uohm"})
>>> ds = spc.cusum(new, target=lim.center, sigma=lim.sigma_within)
>>> int(ds.alarm_upper.argmax("time"))  # first upward alarm, 3 samples after the 2-sigma shift
52
"""

from workbench.spc.capability import Capability, ProcessNotStableError, capability
from workbench.spc.detectors import FOCUS_THRESHOLD, cusum, ewma, focus, shewhart
from workbench.spc.events import EventTracker, alarm_events, detection_delays
from workbench.spc.limits import ChartLimits, apply, fit
from workbench.spc.rules import NELSON, RULES, WESTERN_ELECTRIC, check_rules
from workbench.spc.streaming import (StreamingCusum, StreamingEwma, StreamingFocus,
                                     StreamingShewhart)
from workbench.spc._inputs import SPCInputError
from workbench.spc import limitsets  # noqa: F401  (persistent, approved limit sets)
from workbench.spc import accessor as _accessor  # noqa: F401  (registers da.spc)

__all__ = [
    "fit", "apply", "ChartLimits", "check_rules", "RULES", "WESTERN_ELECTRIC", "NELSON",
    "capability", "Capability", "ProcessNotStableError", "cusum", "ewma", "shewhart", "focus",
    "FOCUS_THRESHOLD", "StreamingCusum", "StreamingEwma", "StreamingShewhart", "StreamingFocus",
    "alarm_events", "EventTracker", "detection_delays", "SPCInputError",
]

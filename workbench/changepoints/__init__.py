"""Offline change-point detection over every lane, sensor and channel: accurate defaults, compiled, Dask-parallel.

- :func:`detect` -> bool DataArray, True at the first sample of each new segment (defaults: ``policy.py``;
  ``method="shape"`` for changes in pattern: ``shape.py``).
- :func:`segments` -> one row per segment per series (start, end, level).
- :func:`link_events` -> which lot/roll/... began near each change point.
- :func:`noise_level` -> the robust noise profile behind the default penalty.
- :func:`f1_score` -> detected vs true change points within a margin.
- :func:`optimal_breakpoints` -> the exact L2 search on a plain array (ruptures' convention).

>>> import numpy as np, xarray as xr
>>> x = xr.DataArray(np.r_[np.zeros(50), np.ones(50)] * 4 + np.random.default_rng(1).normal(size=100), dims="time")
>>> np.flatnonzero(detect(x).values).tolist()
[50]
"""

from .detect import ChangepointInputError, detect, min_size_from_duration
from .events import link_events
from .noise import auto_penalty, noise_level
from .scoring import f1_score
from .search import optimal_breakpoints
from .segments import segments

__all__ = [
    "ChangepointInputError",
    "auto_penalty",
    "detect",
    "f1_score",
    "link_events",
    "min_size_from_duration",
    "noise_level",
    "optimal_breakpoints",
    "segments",
]

"""Alarm events: runs of alarmed samples as a table (tag, rule, start, end, value, ...).

One row per event: consecutive alarmed samples of one rule or detector on one series. Missing
samples are neutral: they neither end nor extend an event (alarm, NaN, alarm is one event), in
line with the detectors' policy that a missing sample is skipped. Columns:

- ``tag``: the series (a format string filled with the labels of the other dims, e.g.
  ``"plant1/electrode/coat1/gauge/areal_mass_lane{lane:02d}"``);
- ``rule``: the detector (``cusum``, ``ewma``, ``shewhart``, ``focus``), the run rule name, or
  ``<chart>_limits`` / ``<chart>_<moving_range|range|stdev>_limits`` for Phase II charts;
- ``start``, ``end``: first and last alarmed sample (labels along ``dim``, UTC times on the line);
- ``value``: at the sample where the event is most extreme: the CUSUM sum, the EWMA, the
  individual or subgroup value, the dispersion statistic, or FOCuS's estimated mean shift (data
  units); ``direction``: "up"/"down"; ``samples``: alarmed samples; ``open``: still alarmed at
  the last valid sample.

:class:`EventTracker` builds the same rows from streaming ``update()`` results.

>>> import xarray as xr
>>> from workbench.spc import shewhart
>>> ds = shewhart(xr.DataArray([0, 4.0, 5.0, 0, -3.5], dims="time"), target=0, sigma=1)
>>> alarm_events(ds, tag="weld/r")[["rule", "start", "end", "value", "direction"]].values.tolist()
[['shewhart', 1, 2, 5.0, 'up'], ['shewhart', 4, 4, -3.5, 'down']]
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from workbench.spc._inputs import SPCInputError, sample_times

COLUMNS = ["tag", "rule", "start", "end", "value", "direction", "samples", "open"]
_CHARTS = {"imr": "moving_range", "xbar_r": "range", "xbar_s": "stdev"}


def _score(detector: str, get: Callable[[str], Any]) -> tuple[Any, Any, Any]:
    """(extremeness score, reported value, direction sign) for a detector's samples."""
    if detector == "cusum":
        up, lo = get("upper"), get("lower")
        return np.maximum(up, lo), np.maximum(up, lo), np.where(up >= lo, 1, -1)
    if detector == "focus":
        shift = get("mean_shift")
        return get("statistic"), shift, np.where(shift >= 0, 1, -1)
    if detector == "ewma":
        value, center = get("ewma"), get("target")
    elif detector.endswith("_dispersion"):
        value = get(_CHARTS[detector.removesuffix("_dispersion")])
        return value, value, np.ones(np.shape(value), dtype=int)
    else:  # shewhart, run rules, chart location
        value, center = get("value"), get("center")
    d = value - center
    return np.abs(d), value, np.where(d >= 0, 1, -1)


def _runs(alarm: np.ndarray, missing: np.ndarray) -> list[tuple[int, int, bool]]:
    """(first, last, open) index of each run of alarms over the non-missing samples."""
    idx = np.flatnonzero(~missing)
    a = alarm[idx]
    if not a.any():
        return []
    edges = np.diff(np.concatenate(([0], a.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(int(idx[s]), int(idx[e]), bool(e == len(a) - 1)) for s, e in zip(starts, ends)]


def _alarm_vars(ds: xr.Dataset) -> list[tuple[str, str, str]]:
    """(alarm variable, rule name, scoring detector) triples found in a detector Dataset."""
    det = ds.attrs.get("detector")
    if det in ("cusum", "ewma", "shewhart", "focus"):
        return [("alarm", det, det)]
    rules = [r for r in ds.attrs.get("rules", "").split(",") if r]
    if det == "rules":
        return [(r, r, "rules") for r in rules]
    if det in _CHARTS:
        return ([("alarm_location", f"{det}_limits", "chart"),
                 ("alarm_dispersion", f"{det}_{_CHARTS[det]}_limits", f"{det}_dispersion")]
                + [(r, r, "rules") for r in rules if r in ds])
    raise SPCInputError(f"alarm_events: Dataset has attrs['detector']={det!r}; pass the output of "
                        f"cusum/ewma/shewhart/focus/check_rules/apply")


def alarm_events(ds: xr.Dataset, *, tag: str = "{name}", dim: str | None = None) -> pd.DataFrame:
    """The alarm events of a detector, rule or chart Dataset as a DataFrame (see module doc).

    ``tag`` may use ``{name}`` (the Dataset's ``attrs["name"]`` or "series"), the other dims'
    labels and any coordinate that is a single value per series, e.g.
    ``"coat1/areal_mass_lane{lane:02d}"`` or ``"{tag}"`` with a ``tag(sensor)`` coord. ``start`` and
    ``end`` are labels of ``dim``, or of a datetime ``time`` coord along it (``time(weld)``).
    Computes dask-backed input.
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"alarm_events: expected an xr.Dataset from a detector, got {type(ds).__name__}")
    dim = dim or ds.attrs.get("dim", "time")
    if dim not in ds.dims:
        raise SPCInputError(f"alarm_events: dim {dim!r} not in the Dataset dims {tuple(ds.dims)}")
    ds = ds.compute()
    ds = ds.transpose(..., dim)
    others = [d for d in ds["alarm"].dims if d != dim]
    times = sample_times(ds, dim)
    labels = (times if times is not None else ds[dim]).values
    rows = []
    for var, rule, det in _alarm_vars(ds):
        for pos in itertools.product(*(range(ds.sizes[d]) for d in others)):
            sel = dict(zip(others, pos))
            cur = ds.isel(sel)
            name = {c: cur[c].item() for c in cur.coords if cur[c].ndim == 0}
            name.update({d: cur[d].item() if d in cur.coords else p for d, p in zip(others, pos)})

            def get(v: str, cur: xr.Dataset = cur) -> np.ndarray:
                return np.broadcast_to(cur[v].values, (len(labels),))

            missing = get("missing").astype(bool)
            runs = _runs(get(var).astype(bool), missing)
            if not runs:
                continue
            score, value, sign = _score(det, get)
            the_tag = tag.format(name=ds.attrs.get("name", "series"), **name)
            for first, last, is_open in runs:
                seg = slice(first, last + 1)
                alarmed = np.flatnonzero(get(var)[seg] & ~missing[seg]) + first
                peak = alarmed[int(np.argmax(np.asarray(score)[alarmed]))]
                rows.append([the_tag, rule, labels[first], labels[last], float(value[peak]),
                             "up" if sign[peak] > 0 else "down", len(alarmed), is_open])
    return pd.DataFrame(rows, columns=COLUMNS)


class EventTracker:
    """Build alarm events from streaming ``update()`` results, as :func:`alarm_events` would.

    >>> from workbench.spc.streaming import StreamingShewhart
    >>> s, ev = StreamingShewhart(target=0, sigma=1), EventTracker("shewhart", tag="t")
    >>> for i, v in enumerate([0, 4.0, 5.0, 0]):
    ...     closed = ev.update(s.update(v, i))
    >>> closed["start"], closed["end"], closed["value"]
    (Timestamp('1970-01-01 00:00:00.000000001'), Timestamp('1970-01-01 00:00:00.000000002'), 5.0)
    """

    def __init__(self, detector: str, *, tag: str, rule: str | None = None):
        if detector not in ("cusum", "ewma", "shewhart", "focus"):
            raise SPCInputError(f"EventTracker: detector={detector!r}; use cusum, ewma, shewhart "
                                f"or focus")
        self.detector, self.tag, self.rule = detector, tag, rule or detector
        self.closed: list[dict] = []
        self.current: dict | None = None
        self._best = -np.inf

    def update(self, result: Mapping[str, Any]) -> dict | None:
        """Feed one ``update()`` result; returns the event that just ended, if any."""
        if result["missing"]:
            return None
        if result["alarm"]:
            score, value, sign = _score(self.detector, lambda v: np.asarray(result[v]))
            if self.current is None:
                self.current = {"tag": self.tag, "rule": self.rule, "start": result["time"],
                                "samples": 0}
                self._best = -np.inf
            self.current.update(end=result["time"], samples=self.current["samples"] + 1)
            if float(score) > self._best:
                self._best = float(score)
                self.current.update(value=float(value), direction="up" if sign > 0 else "down")
            return None
        if self.current is not None:
            done, self.current = {**self.current, "open": False}, None
            self.closed.append(done)
            return done
        return None

    def events(self) -> pd.DataFrame:
        """Closed events plus the open one (``open=True``), in :data:`COLUMNS` order."""
        rows = self.closed + ([{**self.current, "open": True}] if self.current else [])
        return pd.DataFrame(rows, columns=COLUMNS)


def detection_delays(events: pd.DataFrame, truth: pd.DataFrame, *, start: str = "observed_start",
                     end: str = "observed_end", match_tags: bool = True) -> pd.DataFrame:
    """Score alarm events against a truth table of injected events (e.g. the virtual line's).

    For each truth row, the first event that *starts* inside [``start``, ``end``] on a matching
    tag (shell pattern in the truth's ``target`` column, e.g. ``.../areal_mass_lane*``, when
    ``match_tags``) is its detection; an event already running before ``start`` does not count.
    Returns kind, target, truth_start, truth_end, detected, rule, tag, first_alarm, delay.

    >>> ev = pd.DataFrame({"tag": ["a/x"], "rule": ["cusum"], "start": [pd.Timestamp("2026-01-05 07:10")]})
    >>> truth = pd.DataFrame({"kind": ["drift"], "target": ["a/*"],
    ...                       "observed_start": [pd.Timestamp("2026-01-05 07:00")],
    ...                       "observed_end": [pd.Timestamp("2026-01-05 08:00")]})
    >>> detection_delays(ev, truth).delay.tolist()
    [Timedelta('0 days 00:10:00')]
    """
    import fnmatch

    rows = []
    for _, t in truth.iterrows():
        cand = events[(events["start"] >= t[start]) & (events["start"] <= t[end])]
        if match_tags and "target" in truth.columns:
            cand = cand[[fnmatch.fnmatchcase(str(tag), str(t["target"])) for tag in cand["tag"]]]
        first = cand.sort_values("start").head(1)
        hit = not first.empty
        rows.append({
            "kind": t.get("kind"), "target": t.get("target"), "truth_start": t[start],
            "truth_end": t[end], "detected": hit,
            "rule": first["rule"].iloc[0] if hit else None,
            "tag": first["tag"].iloc[0] if hit else None,
            "first_alarm": first["start"].iloc[0] if hit else pd.NaT,
            "delay": first["start"].iloc[0] - t[start] if hit else pd.NaT,
        })
    return pd.DataFrame(rows)

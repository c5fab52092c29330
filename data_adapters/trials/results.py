"""What a trial recorded, as an xarray Dataset aligned in time, and its effect estimates.

The :class:`Recorder` collects (in station time) every reading of the watched tags, every write
attempt, the start of each held segment and the pauses. :class:`TrialResult` turns that into:

* :meth:`TrialResult.to_xarray` — one ``time`` axis (union of the response samples); each response as
  sampled (NaN between samples), each setpoint as the value in force; coords ``segment``,
  ``segment_kind``, ``paused`` and ``settled`` (past ``transient_s`` since the segment began, not paused);
* :meth:`TrialResult.effects` — per response and segment, settled mean minus the baseline's settled
  mean with a confidence interval (:func:`data_adapters.trials.effects.mean_difference`);
* :meth:`TrialResult.main_effects` — per DOE, per response, per factor.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import xarray as xr

from data_adapters.trials.effects import main_effects, mean_difference


def _ts(t: datetime) -> np.datetime64:
    return np.datetime64(pd.Timestamp(t).tz_convert("UTC").tz_localize(None).asm8, "ns")


class Recorder:
    """Thread-safe collector of readings, writes, segments and pauses (times are station time, UTC)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.readings: dict[str, list[tuple]] = {}
        self.writes: list[dict] = []
        self.segments: list[dict] = []
        self.pauses: list[list] = []

    def reading(self, r, received: datetime | None = None) -> None:
        """Keep a reading: (source time, value, good?, received time on the trial's clock)."""
        with self._lock:
            self.readings.setdefault(r.path, []).append(
                (r.source_time, float(r.value), bool(r.is_good), received or r.source_time))

    def aligned(self, path: str) -> list[tuple]:
        """(time, value, good) on the trial's clock.

        A station's clock may be offset from ours (a PLC, a server) or even run at another rate (a
        simulator), and readings reach us after a variable delay (more under load). So the station's
        source times are mapped onto our clock by ``t = a + b * source`` (:func:`station_clock_map`):
        a line under every (source, receipt) point, as close to them as it can be -- a delay only ever
        adds to a receipt, so the fastest arrivals tell the clocks apart and late ones do not pull the
        map. Source order and spacing are kept; delivery jitter is not imported."""
        with self._lock:
            rows = list(self.readings.get(path, []))
        if not rows:
            return []
        ref = rows[0][0]
        src = np.array([(r[0] - ref).total_seconds() for r in rows])
        rec = np.array([(r[3] - ref).total_seconds() for r in rows])
        a, b = station_clock_map(src, rec)
        return [(ref + timedelta(seconds=a + b * x), v, good) for x, (_, v, good, _) in zip(src, rows)]

    def write(self, result, when: datetime, exc: Exception | None) -> None:
        row = {"time": when, "path": getattr(result, "path", None), "requested": getattr(result, "requested", None),
               "written": getattr(result, "written", None), "readback": getattr(result, "readback", None),
               "result": getattr(result, "result", "failed"), "message": getattr(result, "message", str(exc))}
        with self._lock:
            self.writes.append(row)

    def segment(self, seg, when: datetime) -> None:
        with self._lock:
            self.segments.append({"name": seg.name, "kind": seg.kind, "start": when, "levels": dict(seg.levels),
                                  "factors": dict(seg.factors)})

    def pause(self, when: datetime, reason: str) -> None:
        with self._lock:
            if not self.pauses or self.pauses[-1][1] is not None:
                self.pauses.append([when, None, reason])

    def resume(self, when: datetime) -> None:
        with self._lock:
            if self.pauses and self.pauses[-1][1] is None:
                self.pauses[-1][1] = when

    def latest(self, path: str):
        with self._lock:
            rows = self.readings.get(path)
            return rows[-1] if rows else None


RATE_EVIDENCE = 0.05  # a station clock whose rate differs from ours by less is taken to run at ours


def station_clock_map(src, rec) -> tuple[float, float]:
    """``(a, b)`` with ``receipt ≈ a + b * source``: the lower envelope of the points (a linear program:
    the line under every point with the least total gap above it; Moon, Skelly & Towsley 1999, for
    one-way network delays). Clocks of real stations tick at our rate: ``b`` is 1 unless the points
    show a rate off by more than ``RATE_EVIDENCE`` (a simulator at speed), with 5 points or more.

    >>> a, b = station_clock_map(np.arange(10.0), np.arange(10.0) + 2 + np.r_[0, 3, 0.5, 4, 0, 2, 5, 1, 0, 3])
    >>> round(a, 6), b
    (2.0, 1.0)
    """
    from scipy.optimize import linprog

    src, rec = np.asarray(src, dtype=float), np.asarray(rec, dtype=float)
    b = 1.0
    if src.size >= 5 and np.ptp(src) > 0:
        x = src - src.mean()  # centred: a well-conditioned program
        fit = linprog([-src.size, 0.0], A_ub=np.column_stack([np.ones_like(x), x]), b_ub=rec,
                      bounds=[(None, None), (0.1, 10.0)], method="highs")
        if fit.success and abs(fit.x[1] - 1.0) > RATE_EVIDENCE:
            b = float(fit.x[1])
    return float(np.min(rec - b * src)), b


@dataclass
class TrialResult:
    """A finished (or running) trial's record. Build with ``controller.result()``."""

    trial_id: str
    plan: object
    baseline: dict
    units: dict
    recorder: Recorder
    state: str = ""
    exit_reason: str = ""
    doe_orders: dict = field(default_factory=dict)

    # --- alignment ---------------------------------------------------------------------------------
    def to_xarray(self) -> xr.Dataset:
        """Responses and setpoints on one ``time`` axis with segment labels (see module doc).

        Variables are named by the tag's last path part; ``attrs`` carry ``units`` and ``path``."""
        rec = self.recorder
        resp = [p for p in self.plan.responses if rec.readings.get(p)]
        aligned = {p: rec.aligned(p) for p in resp}
        times = sorted({_ts(t) for p in resp for (t, _, _) in aligned[p]})
        time = np.asarray(times, dtype="datetime64[ns]")
        data = {}
        for p in resp:
            s = pd.Series({_ts(t): (v if good else math.nan) for t, v, good in aligned[p]})
            data[_name(p)] = xr.DataArray(s.reindex(time).to_numpy(), dims="time",
                                          attrs={"units": self.units.get(p, ""), "path": p, "role": "response"})
        for p, b in self.baseline.items():
            ok = [(_ts(w["time"]), w["written"]) for w in rec.writes if w["path"] == p and w["result"] == "written"]
            sched = pd.Series([b] + [v for _, v in ok],
                              index=pd.DatetimeIndex([np.datetime64("1970-01-01", "ns")] + [t for t, _ in ok]))
            sched = sched[~sched.index.duplicated(keep="last")].sort_index()
            vals = sched.reindex(time, method="ffill").to_numpy() if time.size else np.array([])
            data[_name(p)] = xr.DataArray(vals, dims="time",
                                          attrs={"units": self.units.get(p, ""), "path": p, "role": "setpoint"})
        seg_name, seg_kind, settled, paused = self._labels(time)
        ds = xr.Dataset(data, coords={"time": time, "segment": ("time", seg_name), "segment_kind": ("time", seg_kind),
                                      "settled": ("time", settled), "paused": ("time", paused)})
        ds.attrs.update(trial_id=self.trial_id, plan=self.plan.name, state=self.state, exit_reason=self.exit_reason,
                        transient_s=self.plan.transient_s, baseline=json.dumps(self.baseline),
                        doe=json.dumps(self.doe_orders))
        return ds

    def _labels(self, time: np.ndarray):
        n = time.size
        name = np.full(n, "", dtype=object)
        kind = np.full(n, "", dtype=object)
        since = np.full(n, -np.inf)
        for seg in self.recorder.segments:
            t0 = _ts(seg["start"])
            m = time >= t0
            name[m], kind[m] = seg["name"], seg["kind"]
            since[m] = (time[m] - t0) / np.timedelta64(1, "s")
        paused = np.zeros(n, dtype=bool)
        for start, end, _ in self.recorder.pauses:
            m = time >= _ts(start)
            if end is not None:
                m &= time < _ts(end) + np.timedelta64(int(self.plan.transient_s * 1e9), "ns")
            paused |= m
        settled = (since >= self.plan.transient_s) & ~paused & (kind != "restore") & (kind != "")
        return name.astype(str), kind.astype(str), settled, paused

    # --- effects -----------------------------------------------------------------------------------
    def effects(self, *, level: float = 0.95) -> pd.DataFrame:
        """Per response and segment: settled mean minus baseline settled mean, with CI (tag units)."""
        ds = self.to_xarray()
        rows = []
        for p in self.plan.responses:
            v = _name(p)
            if v not in ds:
                continue
            ok = ds.settled.values
            base = ds[v].values[ok & (ds.segment_kind.values == "baseline")]
            for seg in dict.fromkeys(ds.segment.values[ok]):
                kind = ds.segment_kind.values[ds.segment.values == seg][0]
                if kind == "baseline":
                    continue
                after = ds[v].values[ok & (ds.segment.values == seg)]
                row = {"response": p, "segment": seg, "kind": kind, "units": ds[v].attrs["units"]}
                try:
                    d = mean_difference(after, base, level=level)
                    row.update(effect=d.effect, ci_low=d.lo, ci_high=d.hi, n=d.n_after, n_eff=d.n_eff_after)
                except ValueError as exc:
                    row.update(effect=math.nan, ci_low=math.nan, ci_high=math.nan, n=0, n_eff=0.0, note=str(exc))
                rows.append(row)
        return pd.DataFrame(rows)

    def run_means(self, response: str) -> pd.DataFrame:
        """Settled mean of ``response`` per DOE run (one row per segment of kind doe)."""
        ds = self.to_xarray()
        v = _name(response)
        rows = []
        for seg in self.recorder.segments:
            if seg["kind"] != "doe":
                continue
            m = ds.settled.values & (ds.segment.values == seg["name"])
            rows.append({"segment": seg["name"], **seg["factors"],
                         "mean": float(np.nanmean(ds[v].values[m])) if m.any() else math.nan})
        return pd.DataFrame(rows)

    def main_effects(self, *, level: float = 0.95) -> pd.DataFrame:
        """DOE main effects per response and factor (highest minus lowest level, CI over runs)."""
        rows = []
        factor_runs = [s for s in self.recorder.segments if s["kind"] == "doe"]
        if not factor_runs:
            return pd.DataFrame(rows)
        for p in self.plan.responses:
            rm = self.run_means(p)
            for r in main_effects(list(rm["mean"]), [s["factors"] for s in factor_runs], level=level):
                rows.append({"response": p, **r})
        return pd.DataFrame(rows)


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


__all__ = ["Recorder", "TrialResult", "station_clock_map"]

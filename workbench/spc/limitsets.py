"""Control limits that persist: Phase I limits fitted on a chosen history window, versioned and approved.

A *limit set* is one Phase I fit (:func:`workbench.spc.fit`) of one tag over one window of the history
store, with who fitted it, when, on which window and why. It is written once and never changed; an
approval (who, when) is a second record beside it. Only approved sets are used: :func:`in_force` returns
the most recently approved set of a tag, so a restart loads the same limits, and recomputing is always an
explicit :func:`fit_limit_set` + :func:`save` + :func:`approve`, never a side effect.

Layout in the store (next to ``stations/`` and ``ts/``, see :mod:`workbench.history.store`)::

    STORE/limits/<id>.json            the fitted set (immutable)
    STORE/limits/<id>.approval.json   its approval (written once)

>>> import tempfile, numpy as np, pandas as pd
>>> from workbench.history import HistoryStore, TagSpec
>>> root = tempfile.mkdtemp(); store = HistoryStore(root)
>>> tag = "plant1/assembly/weld1/welder/weld_resistance"
>>> store.declare_station("welding", [TagSpec(tag, "uohm")], kind="generic")
>>> t = pd.date_range("2026-01-05", periods=60, freq="1min", tz="UTC")
>>> _ = store.append("welding", t, {tag: 45 + np.random.default_rng(0).normal(0, 1, 60)})
>>> ls = save(root, fit_limit_set(root, tag, start="2026-01-05", end="2026-01-05 00:59",
...                                by="anna", why="baseline after tip change"))
>>> in_force(root, tag) is None          # fitted, not yet approved
True
>>> _ = approve(root, ls.id, by="ben")
>>> in_force(root, tag).version, in_force(root, tag).approved_by
(1, 'ben')
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import xarray as xr

from workbench.spc._inputs import SPCInputError
from workbench.spc.limits import CHARTS, ChartLimits, fit

LIMITS_DIR = "limits"
_LIMIT_FIELDS = ("center", "lcl", "ucl", "dispersion_center", "dispersion_lcl", "dispersion_ucl", "sigma_within")


class LimitSetError(ValueError):
    """A limit set that cannot be fitted, found or approved; the message names the set or tag and the fix."""


@dataclass(frozen=True)
class LimitSet:
    """One versioned Phase I fit of one tag: the limits and where they came from.

    ``id``: unique name of the set (``ls-`` + 8 hex digits), ``version``: 1, 2, ... per tag in the order
    saved. ``window_start``/``window_end``: the history window fitted (UTC, ISO 8601), ``samples``: how many
    values (or subgroups) it held. ``fitted_by``/``fitted_at``/``why``: who, when (UTC) and the reason.
    ``approved_by``/``approved_at``: None until approved; only approved sets are used (:func:`in_force`).
    ``limits`` holds the :class:`~workbench.spc.limits.ChartLimits` numbers (center, lcl, ucl,
    dispersion_center/lcl/ucl, sigma_within, units, chart, subgroup_size, sigma_method), and the live
    monitors' yardsticks of the window: ``long_run_sd`` and ``level_sd`` (:mod:`workbench.spc.design`).
    """

    id: str
    tag: str
    station: str
    version: int
    chart: str
    subgroup_size: int
    units: str | None
    limits: dict
    window_start: str
    window_end: str
    samples: int
    fitted_by: str
    fitted_at: str
    why: str
    approved_by: str | None = None
    approved_at: str | None = None
    store: str | None = None

    @property
    def approved(self) -> bool:
        return self.approved_by is not None

    @property
    def center(self) -> float:
        return self.limits["center"]

    @property
    def lcl(self) -> float:
        return self.limits["lcl"]

    @property
    def ucl(self) -> float:
        return self.limits["ucl"]

    def chart_limits(self) -> ChartLimits:
        """The limits as :class:`ChartLimits`, ready for :func:`workbench.spc.apply` (data over ``time``)."""
        return ChartLimits(chart=self.chart, subgroup_size=self.subgroup_size, units=self.units, dim="time",
                           subgroup_dim=None if self.chart == "imr" else "sample",
                           sigma_method=self.limits["sigma_method"],
                           baseline={"start": self.window_start, "end": self.window_end, "samples": self.samples,
                                     "limit_set": self.id, "version": self.version},
                           **{k: self.limits[k] for k in _LIMIT_FIELDS})

    def describe(self) -> str:
        """One line for a dashboard or a log: which set, which window, who approved it."""
        state = f"approved by {self.approved_by} {self.approved_at}" if self.approved else "NOT approved"
        return (f"{self.id} v{self.version} {self.chart} of {self.tag}: center {self.center:.4g}, "
                f"limits [{self.lcl:.4g}, {self.ucl:.4g}] {self.units or ''} from {self.window_start} .. "
                f"{self.window_end} ({self.samples} samples), fitted by {self.fitted_by} ({self.why}); {state}")


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat()


def _iso(ts) -> str:
    t = pd.Timestamp(ts)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).isoformat()


def station_of_tag(store, tag: str, *, storage_options: dict | None = None) -> str:
    """The store station that keeps ``tag`` (from ``STORE/stations/*.json``)."""
    fs, root = fsspec.core.url_to_fs(str(store), **(storage_options or {}))
    root = root.rstrip("/")
    for path in sorted(fs.glob(f"{root}/stations/*.json")):
        with fs.open(path, "r") as fh:
            doc = json.load(fh)
        if any(t["path"] == tag for t in doc.get("tags", [])):
            return doc["station"]
    raise LimitSetError(f"{store}: no station of this store keeps tag {tag!r}; import or record it first "
                        f"(workbench import / workbench record), or check the ISA-95 path")


def _subgroups(values: np.ndarray, times: np.ndarray, n: int) -> xr.DataArray:
    """Consecutive valid values in subgroups of ``n`` (a trailing partial subgroup is left out)."""
    ok = np.isfinite(values)
    v, t = values[ok], times[ok]
    k = len(v) // n
    return xr.DataArray(v[: k * n].reshape(k, n), dims=("time", "sample"),
                        coords={"time": t[: k * n: n] if k else t[:0]})


def fit_limit_set(store, tag: str, *, start, end, by: str, why: str, chart: str = "imr",
                  subgroup_size: int = 1, storage_options: dict | None = None) -> LimitSet:
    """Phase I: fit ``chart`` limits of ``tag`` on the store's history from ``start`` to ``end`` (inclusive, UTC).

    Returns an unsaved, unapproved :class:`LimitSet` (``version`` 0, ``id`` assigned); :func:`save` it,
    then :func:`approve` it. ``chart``: ``imr`` (individual values), or ``xbar_r``/``xbar_s`` over
    subgroups of ``subgroup_size`` consecutive values. ``by`` and ``why`` are required: a limit set
    without an owner and a reason cannot be reviewed.
    """
    from workbench.history.reader import open_station

    if not by or not str(by).strip():
        raise LimitSetError(f"limit set of {tag}: say who fits it (by=..., --by USER)")
    if not why or not str(why).strip():
        raise LimitSetError(f"limit set of {tag}: say why it is fitted (why=..., --why 'baseline after ...')")
    if chart not in CHARTS:
        raise LimitSetError(f"limit set of {tag}: chart {chart!r}; use one of {CHARTS}")
    if (chart == "imr") != (subgroup_size == 1):
        raise LimitSetError(f"limit set of {tag}: chart {chart!r} with subgroup size {subgroup_size}; "
                            f"imr takes single values (1), xbar_r/xbar_s subgroups of 2..25")
    t0, t1 = pd.Timestamp(_iso(start)), pd.Timestamp(_iso(end))
    if t1 <= t0:
        raise LimitSetError(f"limit set of {tag}: window end {t1} is not after its start {t0}; swap them")
    station = station_of_tag(store, tag, storage_options=storage_options)
    ds = open_station(store, station, tags=[tag], start=t0, end=t1, storage_options=storage_options)
    var = next(iter(ds.data_vars.values())).compute()
    values, times = var.values.astype(float), var["time"].values
    if chart == "imr":
        data = xr.DataArray(values[np.isfinite(values)], dims="time",
                            coords={"time": times[np.isfinite(values)]})
    else:
        data = _subgroups(values, times, subgroup_size)
    data.attrs["units"] = var.attrs.get("units")
    if data.sizes["time"] < 3:
        raise LimitSetError(f"{store}: tag {tag} has {data.sizes['time']} valid samples (or subgroups) from {t0} "
                            f"to {t1}; Phase I needs at least 20-25: choose a longer window of in-control history")
    try:
        lim = fit(data, chart=chart, subgroup_dim=None if chart == "imr" else "sample")
    except SPCInputError as exc:
        raise LimitSetError(f"{store}: tag {tag} from {t0} to {t1}: {exc}; choose a window with more "
                            f"in-control history") from None
    numbers = {k: float(getattr(lim, k)) for k in _LIMIT_FIELDS}
    if not all(np.isfinite(list(numbers.values()))):
        raise LimitSetError(f"{store}: tag {tag} from {t0} to {t1}: the fit gave non-finite limits {numbers}; "
                            f"the window holds no usable values")
    return LimitSet(id=f"ls-{uuid.uuid4().hex[:8]}", tag=tag, station=station, version=0, chart=chart,
                    subgroup_size=lim.subgroup_size, units=lim.units,
                    limits={**numbers, "sigma_method": lim.sigma_method,
                            "overall_sd": float(lim.baseline.get("overall_sd", np.nan)),
                            "lag1_autocorrelation": float(lim.baseline.get("lag1_autocorrelation", np.nan)),
                            **_monitor_design(values)},
                    window_start=t0.isoformat(), window_end=t1.isoformat(), samples=int(lim.baseline["samples"]),
                    fitted_by=str(by), fitted_at=_now(), why=str(why), store=str(store))


def _monitor_design(values: np.ndarray) -> dict:
    """The live monitors' in-control yardsticks of the window (:func:`workbench.spc.design.phase1_statistics`):
    long-run sd and level wander sd of the individual values, NaN if the window cannot give them."""
    from workbench.spc.design import phase1_statistics

    try:
        p = phase1_statistics(values)
    except ValueError:
        return {"long_run_sd": float("nan"), "level_sd": float("nan")}
    return {"long_run_sd": p["long_run_sd"], "level_sd": p["level_sd"]}


def _dir(store) -> Path:
    folder = Path(store) / LIMITS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_once(path: Path, doc: dict) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # fails if the record exists: a limit set and its approval are written once
    except FileExistsError:
        raise LimitSetError(f"{path} exists already; limit sets are never overwritten") from None
    finally:
        tmp.unlink()


def save(store, limit_set: LimitSet) -> LimitSet:
    """Write a fitted set into the store as the tag's next version; returns it with its version number."""
    if limit_set.approved:
        raise LimitSetError(f"limit set {limit_set.id}: save it before approving it (approve() records who)")
    version = 1 + max((s.version for s in list_limit_sets(store, tag=limit_set.tag)), default=0)
    saved = replace(limit_set, version=version, store=str(store))
    doc = {k: v for k, v in asdict(saved).items() if k not in ("approved_by", "approved_at", "store")}
    _write_once(_dir(store) / f"{saved.id}.json", doc)
    return saved


def approve(store, limit_set_id: str, *, by: str, when=None) -> LimitSet:
    """Approve a saved set (it is in force from then on, until a later set of its tag is approved)."""
    if not by or not str(by).strip():
        raise LimitSetError(f"approving {limit_set_id}: say who approves (by=..., --by USER)")
    current = load(store, limit_set_id)
    if current.approved:
        raise LimitSetError(f"limit set {limit_set_id} was approved already by {current.approved_by} at "
                            f"{current.approved_at}; fit and approve a new set to change limits")
    at = _iso(when) if when is not None else _now()
    _write_once(_dir(store) / f"{limit_set_id}.approval.json", {"id": limit_set_id, "approved_by": str(by),
                                                                 "approved_at": at})
    return replace(current, approved_by=str(by), approved_at=at)


def _read_json(fs, path: str) -> dict:
    with fs.open(path, "r") as fh:
        return json.load(fh)


def list_limit_sets(store, *, tag: str | None = None, storage_options: dict | None = None) -> list[LimitSet]:
    """Every saved set of the store (or of ``tag``), oldest version first, with its approval if any."""
    fs, root = fsspec.core.url_to_fs(str(store), **(storage_options or {}))
    root = root.rstrip("/")
    out = []
    for path in fs.glob(f"{root}/{LIMITS_DIR}/ls-*.json"):
        if path.endswith(".approval.json"):
            continue
        doc = _read_json(fs, path)
        if tag is not None and doc["tag"] != tag:
            continue
        approval = path[: -len(".json")] + ".approval.json"
        extra = _read_json(fs, approval) if fs.exists(approval) else {}
        out.append(LimitSet(**doc, approved_by=extra.get("approved_by"), approved_at=extra.get("approved_at"),
                            store=str(store)))
    return sorted(out, key=lambda s: (s.tag, s.version))


def load(store, limit_set_id: str, *, storage_options: dict | None = None) -> LimitSet:
    """One saved set by id."""
    for s in list_limit_sets(store, storage_options=storage_options):
        if s.id == limit_set_id:
            return s
    raise LimitSetError(f"{store}: no limit set {limit_set_id!r}; `workbench limits list --store {store}` "
                        f"shows the saved sets")


def in_force(store, tag: str, *, storage_options: dict | None = None) -> LimitSet | None:
    """The limit set in force for ``tag``: the most recently approved one, or None (no approved set yet).

    This is what a dashboard loads at start; it never fits anything.
    """
    approved = [s for s in list_limit_sets(store, tag=tag, storage_options=storage_options) if s.approved]
    if not approved:
        return None
    return max(approved, key=lambda s: (pd.Timestamp(s.approved_at), s.version))


def in_force_for(store, tags, *, storage_options: dict | None = None) -> dict[str, LimitSet]:
    """{tag: its set in force} for those of ``tags`` that have an approved set (one listing of the store)."""
    wanted, out = set(tags), {}
    for s in list_limit_sets(store, storage_options=storage_options):
        if s.approved and s.tag in wanted:
            best = out.get(s.tag)
            if best is None or (pd.Timestamp(s.approved_at), s.version) > (pd.Timestamp(best.approved_at), best.version):
                out[s.tag] = s
    return out


__all__ = ["LimitSet", "LimitSetError", "fit_limit_set", "save", "approve", "load", "list_limit_sets",
           "in_force", "in_force_for", "station_of_tag"]

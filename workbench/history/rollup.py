"""Rollups: per-tag summaries of fixed time buckets, so long windows are drawn and summarised without raw samples.

A rollup holds, for each time bucket (``bucket``: its start, ns since the epoch) and tag, the samples'
count, mean and sum of squared deviations (``m2``), extremes and their times, first and last sample and
their times, the sum and count of moving ranges between consecutive samples inside the bucket, and the
largest spacing between consecutive samples inside it (``max_dt``). Those merge exactly into coarser
buckets (:func:`combine`), the moving range across a bucket boundary included (it is the last sample of
one bucket against the first of the next), so a week reads ~10^4 rows per tag instead of ~10^6 samples and
still gives the same mean, standard deviation, average moving range (capability's sigma within), extremes
and gaps. NaN values are "no sample" and are skipped; moving ranges join consecutive samples of a tag.

The store keeps the rollup of every chunk it writes (``HistoryStore``; :data:`BUCKET_NS`, one minute);
the dashboard combines them to the pixel width (:func:`combine`), draws them as a min/max envelope that
breaks at gaps (:func:`envelope`) and computes Cpk and the heatmap from them.

>>> t = np.arange(0, 240, 1, dtype=np.int64) * 1_000_000_000          # 4 min of 1 Hz samples
>>> v = np.sin(np.arange(240.0))[:, None]
>>> r = rollup(t, v, ["x"])
>>> r["n"][:, 0].tolist(), len(combine(r, 240 * 10**9)["bucket"])
([60, 60, 60, 60], 1)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BUCKET_NS = 60 * 1_000_000_000  # the stored rollups' bucket: one minute
FIELDS = ("n", "mean", "m2", "min", "max", "t_min", "t_max", "first", "last", "t_first", "t_last",
          "mr_sum", "mr_n", "max_dt")
_INT = {"n", "t_min", "t_max", "t_first", "t_last", "mr_n", "max_dt"}


def _empty(n_buckets: int, n_tags: int) -> dict[str, np.ndarray]:
    out = {}
    for f in FIELDS:
        out[f] = (np.zeros((n_buckets, n_tags), dtype=np.int64) if f in _INT
                  else np.full((n_buckets, n_tags), np.nan))
    return out


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start index of each run of equal keys, run id of each element) of a sorted key array."""
    new = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, bool)
    return np.flatnonzero(new), np.cumsum(new) - 1


def _first_where(mask: np.ndarray, seg: np.ndarray, n_seg: int) -> np.ndarray:
    """Index of the first element of each segment where ``mask`` holds (-1 if none)."""
    idx = np.flatnonzero(mask)
    out = np.full(n_seg, -1, dtype=np.int64)
    s = seg[idx]
    keep = np.r_[True, s[1:] != s[:-1]] if len(s) else np.zeros(0, bool)
    out[s[keep]] = idx[keep]
    return out


def rollup(t_ns: np.ndarray, values: np.ndarray, tags: list[str], bucket_ns: int = BUCKET_NS) -> dict:
    """The rollup of samples ``values`` [row, tag] at times ``t_ns`` (int64 ns, sorted ascending; NaN = no
    sample): a dict of FIELDS arrays [bucket, tag], ``bucket`` (start of each bucket, ns) and ``tags``.

    >>> r = rollup(np.array([0, 10, 20, 70]) * 10**9, np.array([[1.0], [3.0], [2.0], [5.0]]), ["a"])
    >>> r["bucket"].tolist(), r["n"][:, 0].tolist(), r["mr_sum"][:, 0].tolist(), r["max_dt"][:, 0].tolist()
    ([0, 60000000000], [3, 1], [3.0, 0.0], [10000000000, 0])
    """
    t_ns = np.asarray(t_ns, dtype=np.int64)
    values = np.asarray(values, dtype=float).reshape(len(t_ns), len(tags))
    if len(t_ns) > 1 and np.any(np.diff(t_ns) < 0):
        raise ValueError("rollup: times must be sorted ascending (sort the rows first)")
    buckets = np.unique(t_ns[np.isfinite(values).any(axis=1)] // bucket_ns * bucket_ns)
    out = _empty(len(buckets), len(tags))
    for j in range(len(tags)):
        ok = np.isfinite(values[:, j])
        tt, vv = t_ns[ok], values[ok, j]
        if not len(tt):
            continue
        b = tt // bucket_ns * bucket_ns
        starts, seg = _segments(b)
        rows = np.searchsorted(buckets, b[starts])
        n = np.diff(np.r_[starts, len(tt)])
        mean = np.add.reduceat(vv, starts) / n
        dev = vv - np.repeat(mean, n)
        lo, hi = np.minimum.reduceat(vv, starts), np.maximum.reduceat(vv, starts)
        ends = np.r_[starts[1:], len(tt)] - 1
        same = seg[1:] == seg[:-1]  # consecutive samples inside one bucket
        mr = np.abs(np.diff(vv))[same]
        dt = np.diff(tt)[same]
        col = {"n": n, "mean": mean, "m2": np.add.reduceat(dev * dev, starts), "min": lo, "max": hi,
               "t_min": tt[_first_where(vv == np.repeat(lo, n), seg, len(starts))],
               "t_max": tt[_first_where(vv == np.repeat(hi, n), seg, len(starts))],
               "first": vv[starts], "last": vv[ends], "t_first": tt[starts], "t_last": tt[ends],
               "mr_sum": np.bincount(seg[1:][same], weights=mr, minlength=len(starts)),
               "mr_n": np.bincount(seg[1:][same], minlength=len(starts))}
        max_dt = np.zeros(len(starts), dtype=np.int64)
        np.maximum.at(max_dt, seg[1:][same], dt)
        col["max_dt"] = max_dt
        for f in FIELDS:
            out[f][rows, j] = col[f]
    return {**out, "bucket": buckets, "tags": list(tags)}


def concat(parts: list[dict]) -> dict:
    """Rollups of the same tags (e.g. one per stored chunk, in time order) as one, rows kept as they are
    (the same bucket may appear twice: :func:`combine` merges it)."""
    parts = [p for p in parts if len(p["bucket"])]
    if not parts:
        return None
    tags = parts[0]["tags"]
    if any(p["tags"] != tags for p in parts):
        raise ValueError("rollup.concat: the parts hold different tags; select the same tags in each")
    out = {f: np.concatenate([p[f] for p in parts]) for f in (*FIELDS, "bucket")}
    if np.all(np.diff(out["bucket"]) >= 0):  # parts in time order (the usual case): no second copy
        return {**out, "tags": list(tags)}
    order = np.argsort(out["bucket"], kind="stable")
    return {**{k: v[order] for k, v in out.items()}, "tags": list(tags)}


def combine(r: dict, bucket_ns: int) -> dict:
    """Merge a rollup's rows into buckets of ``bucket_ns`` (a multiple of its own; rows of the same bucket,
    as from two chunks, merge too). Exact: the result is the rollup of the same samples at ``bucket_ns``.

    >>> t = np.arange(0, 600, 7, dtype=np.int64) * 10**9; v = np.cos(t / 1e11)[:, None]
    >>> fine, coarse = combine(rollup(t, v, ["a"], 60 * 10**9), 300 * 10**9), rollup(t, v, ["a"], 300 * 10**9)
    >>> all(np.allclose(fine[f], coarse[f]) for f in ("n", "mean", "m2", "mr_sum", "mr_n", "max_dt", "t_min"))
    True
    """
    keys = r["bucket"] // bucket_ns * bucket_ns
    if np.array_equal(keys, r["bucket"]) and np.all(np.diff(keys) > 0):
        return r  # already one row per bucket of that size
    if np.all(np.diff(keys) >= 0):  # rows in time order (as concat gives): a row alone in its bucket stays
        repeat = np.r_[keys[1:] == keys[:-1], False] | np.r_[False, keys[1:] == keys[:-1]]
        alone = ~repeat & (keys == r["bucket"])
        if alone.any() and not alone.all():  # e.g. a day of hour files and the chunks of the current hour
            return concat([_rows(r, alone), combine(_rows(r, ~alone), bucket_ns)])
    buckets = np.unique(keys)
    out = _empty(len(buckets), len(r["tags"]))
    # every tag at once: the (tag, row) cells holding samples, tag-major, ordered by tag, bucket, time
    tag_of, row = np.nonzero(r["n"].T > 0)
    if not len(row):
        return {**out, "bucket": buckets, "tags": list(r["tags"])}
    col = {f: r[f][row, tag_of] for f in FIELDS}
    order = np.lexsort((col["t_first"], keys[row], tag_of))
    col = {f: v[order] for f, v in col.items()}
    tag_of, k = tag_of[order], keys[row][order]
    seg_key = np.searchsorted(buckets, k) + tag_of.astype(np.int64) * len(buckets)
    starts, seg = _segments(seg_key)
    sizes = np.diff(np.r_[starts, len(k)])
    n = np.add.reduceat(col["n"], starts)
    mean = np.add.reduceat(col["n"] * col["mean"], starts) / n
    spread = col["n"] * (col["mean"] - np.repeat(mean, sizes)) ** 2
    lo, hi = np.minimum.reduceat(col["min"], starts), np.maximum.reduceat(col["max"], starts)
    ends = np.r_[starts[1:], len(k)] - 1
    same = seg[1:] == seg[:-1]  # consecutive cells merged into one bucket of one tag: the range between them
    edge_mr = np.abs(col["first"][1:] - col["last"][:-1])[same]
    edge_dt = (col["t_first"][1:] - col["t_last"][:-1])[same]
    nseg = len(starts)
    max_dt = np.maximum.reduceat(col["max_dt"], starts)
    np.maximum.at(max_dt, seg[1:][same], edge_dt)
    new = {"n": n, "mean": mean, "m2": np.add.reduceat(col["m2"] + spread, starts), "min": lo, "max": hi,
           "t_min": col["t_min"][_first_where(col["min"] == np.repeat(lo, sizes), seg, nseg)],
           "t_max": col["t_max"][_first_where(col["max"] == np.repeat(hi, sizes), seg, nseg)],
           "first": col["first"][starts], "last": col["last"][ends],
           "t_first": col["t_first"][starts], "t_last": col["t_last"][ends],
           "mr_sum": np.add.reduceat(col["mr_sum"], starts) + np.bincount(seg[1:][same], weights=edge_mr,
                                                                          minlength=nseg),
           "mr_n": np.add.reduceat(col["mr_n"], starts) + np.bincount(seg[1:][same], minlength=nseg),
           "max_dt": max_dt}
    rows, tags = seg_key[starts] % len(buckets), seg_key[starts] // len(buckets)
    for f in FIELDS:
        out[f][rows, tags] = new[f]
    return {**out, "bucket": buckets, "tags": list(r["tags"])}


def _rows(r: dict, keep: np.ndarray) -> dict:
    return {**{f: r[f][keep] for f in (*FIELDS, "bucket")}, "tags": list(r["tags"])}


def select(r: dict, tags: list[str] | None = None, start_ns: int | None = None, end_ns: int | None = None) -> dict:
    """The rows of buckets starting in [start_ns, end_ns) and the columns of ``tags`` (in that order)."""
    b = r["bucket"]
    if len(b) < 2 or np.all(np.diff(b) >= 0):  # sorted (as rollups are): a slice, no copy of the rows
        keep = slice(0 if start_ns is None else int(np.searchsorted(b, start_ns, "left")),
                     len(b) if end_ns is None else int(np.searchsorted(b, end_ns, "left")))
    else:
        keep = np.ones(len(b), bool)
        if start_ns is not None:
            keep &= b >= start_ns
        if end_ns is not None:
            keep &= b < end_ns
    cols = [r["tags"].index(t) for t in tags] if tags is not None else list(range(len(r["tags"])))
    whole = cols == list(range(len(r["tags"])))
    out = {f: r[f][keep] if whole else r[f][keep][:, cols] for f in FIELDS}
    return {**out, "bucket": b[keep], "tags": [r["tags"][c] for c in cols]}


def window_summary(r: dict) -> dict:
    """Per tag over the whole rollup: n, mean, standard deviation (ddof 1), average moving range."""
    whole = combine(r, np.iinfo(np.int64).max) if len(r["bucket"]) else None
    if whole is None or not len(whole["bucket"]):
        nan = np.full(len(r["tags"]), np.nan)
        return {"n": np.zeros(len(r["tags"]), dtype=np.int64), "mean": nan, "std": nan, "mr_mean": nan}
    n, m2, mr_n = whole["n"][0], whole["m2"][0], whole["mr_n"][0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"n": n, "mean": whole["mean"][0], "std": np.sqrt(m2 / (n - 1)),
                "mr_mean": whole["mr_sum"][0] / mr_n}


def typical_spacing(r: dict, j: int) -> float:
    """The median spacing of tag ``j``'s samples (ns), from buckets holding at least 2 samples."""
    n = r["n"][:, j]
    ok = n >= 2
    if not ok.any():
        return np.nan
    return float(np.median((r["t_last"][ok, j] - r["t_first"][ok, j]) / (n[ok] - 1)))


def envelope(r: dict, j: int, gap_factor: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Tag ``j`` of a rollup as a line to draw: each bucket's minimum and maximum at their times (in time
    order), with a NaN (a break in the line) wherever samples are more than ``gap_factor`` x the usual
    spacing apart, between buckets or inside one. Times in ns.

    >>> t = np.r_[np.arange(0, 120), np.arange(600, 720)].astype(np.int64) * 10**9   # a 8-min hole
    >>> tt, vv = envelope(rollup(t, np.ones((240, 1)), ["a"]), 0)
    >>> int(np.isnan(vv).sum())
    1
    """
    n = r["n"][:, j]
    has = n > 0
    if not has.any():
        return np.empty(0, dtype=np.int64), np.empty(0)
    limit = gap_factor * typical_spacing(r, j) if np.isfinite(typical_spacing(r, j)) else np.inf
    t_lo, t_hi = r["t_min"][has, j], r["t_max"][has, j]
    lo, hi = r["min"][has, j], r["max"][has, j]
    first_t = np.minimum(t_lo, t_hi)
    a_t, b_t = np.where(t_lo <= t_hi, t_lo, t_hi), np.where(t_lo <= t_hi, t_hi, t_lo)
    a_v, b_v = np.where(t_lo <= t_hi, lo, hi), np.where(t_lo <= t_hi, hi, lo)
    inner = r["max_dt"][has, j] > limit  # a gap inside the bucket: break between its two points
    before = np.r_[False, (r["t_first"][has, j][1:] - r["t_last"][has, j][:-1]) > limit]  # gap from the previous
    m = int(has.sum())
    # per bucket: [NaN if a gap precedes], a, [NaN if a gap inside], b
    t_out = np.stack([first_t, a_t, a_t, b_t], axis=1).astype(np.int64)
    v_out = np.stack([np.where(before, np.nan, 0.0), a_v, np.where(inner, np.nan, 0.0), b_v], axis=1)
    keep = np.stack([before, np.ones(m, bool), inner, a_t != b_t], axis=1)
    return t_out[keep], v_out[keep]


def to_frame(r: dict) -> pd.DataFrame:
    """A rollup in long form (one row per bucket and tag holding samples), as the store keeps it."""
    b, j = np.nonzero(r["n"] > 0)
    cols = {"bucket": r["bucket"][b], "tag": np.asarray(r["tags"], dtype=object)[j]}
    cols.update({f: r[f][b, j] for f in FIELDS})
    return pd.DataFrame(cols)


def from_frame(df: pd.DataFrame, tags: list[str]) -> dict:
    """The rollup of ``tags`` from its long form (tags absent from ``df`` hold no samples)."""
    tag = df["tag"]
    if isinstance(tag.dtype, pd.CategoricalDtype):  # as read from a file: map the categories only
        known = pd.Index(tags).get_indexer(tag.cat.categories)
        cols = np.where(tag.cat.codes.to_numpy() >= 0, known[tag.cat.codes.to_numpy()], -1)
    else:
        cols = pd.Index(tags).get_indexer(tag)
    mine = cols >= 0
    cols, b = cols[mine], df["bucket"].to_numpy(np.int64)[mine]
    buckets = np.unique(b)
    out = _empty(len(buckets), len(tags))
    rows = np.searchsorted(buckets, b)
    for f in FIELDS:
        out[f][rows, cols] = df[f].to_numpy()[mine]
    return {**out, "bucket": buckets, "tags": list(tags)}


__all__ = ["BUCKET_NS", "FIELDS", "rollup", "concat", "combine", "select", "window_summary", "envelope",
           "typical_spacing", "to_frame", "from_frame"]

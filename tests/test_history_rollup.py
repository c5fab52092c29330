"""Rollups (workbench.history.rollup): exact per-bucket summaries that merge into coarser buckets and across
stored chunks, give the window's mean, sigma and average moving range without the raw samples, and are
drawn as a min/max envelope that breaks at gaps. Generated series with known answers; the store keeps a
rollup beside every chunk it writes and reads it back for long windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.history import HistoryStore, TagSpec
from workbench.history.rollup import (
    BUCKET_NS,
    combine,
    concat,
    envelope,
    from_frame,
    rollup,
    select,
    to_frame,
    window_summary,
)

S = 1_000_000_000


def series(seed: int = 0, n: int = 5000, tags: int = 3, holes: float = 0.1):
    """Irregular 1-5 s samples with NaN holes per tag and one long outage."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(1, 6, n)).astype(np.int64) * S
    t[n // 2:] += 3600 * S  # an hour without samples
    v = rng.normal(17.2, 0.1, (n, tags)) + np.linspace(0, 0.3, n)[:, None]
    v[rng.random((n, tags)) < holes] = np.nan
    return t, v, [f"tag{j}" for j in range(tags)]


def exact(t, v):
    """Mean, sd (ddof 1), average moving range of consecutive samples, per tag, from the raw samples."""
    out = []
    for j in range(v.shape[1]):
        x = v[np.isfinite(v[:, j]), j]
        out.append((len(x), x.mean(), x.std(ddof=1), np.abs(np.diff(x)).mean()))
    return np.array(out)


def summary_array(r):
    s = window_summary(r)
    return np.column_stack([s["n"], s["mean"], s["std"], s["mr_mean"]])


def test_window_summary_equals_the_raw_statistics():
    t, v, tags = series()
    np.testing.assert_allclose(summary_array(rollup(t, v, tags)), exact(t, v), rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chunks_split_anywhere_combine_to_the_rollup_of_the_whole(seed):
    t, v, tags = series(seed)
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, len(t)), 12, replace=False))  # mid-bucket splits, as 5 s flushes
    parts = [rollup(tc, vc, tags) for tc, vc in zip(np.split(t, cuts), np.split(v, cuts))]
    merged = combine(concat(parts), BUCKET_NS)
    whole = rollup(t, v, tags)
    assert merged["bucket"].tolist() == whole["bucket"].tolist()
    for f in ("n", "mean", "m2", "min", "max", "t_min", "t_max", "first", "last", "t_first", "t_last",
              "mr_sum", "mr_n", "max_dt"):
        np.testing.assert_allclose(np.nan_to_num(merged[f]), np.nan_to_num(whole[f]), rtol=1e-9, atol=1e-9,
                                   err_msg=f)
    np.testing.assert_allclose(summary_array(merged), exact(t, v), rtol=1e-9)


def test_coarser_buckets_equal_a_direct_rollup_at_that_size():
    t, v, tags = series(3)
    coarse = combine(rollup(t, v, tags), 10 * BUCKET_NS)
    direct = rollup(t, v, tags, 10 * BUCKET_NS)
    for f in ("n", "mean", "m2", "min", "max", "mr_sum", "mr_n", "max_dt", "t_max"):
        np.testing.assert_allclose(np.nan_to_num(coarse[f]), np.nan_to_num(direct[f]), rtol=1e-9, err_msg=f)


def test_envelope_keeps_extremes_and_breaks_at_gaps_never_joining_across():
    t = np.arange(0, 6 * 3600, 1, dtype=np.int64) * S
    v = np.sin(np.arange(len(t)) / 500.0)
    v[7000] = 5.0  # a one-sample spike
    hole = (t >= 2 * 3600 * S) & (t < 3 * 3600 * S)
    v[hole] = np.nan  # an hour-long hole
    r = combine(rollup(t, v[:, None], ["a"]), 5 * BUCKET_NS)
    tt, vv = envelope(r, 0)
    assert np.nanmax(vv) == 5.0 and np.nanmin(vv) == pytest.approx(v[np.isfinite(v)].min())
    assert np.all(np.diff(tt) >= 0)
    # the line breaks once, between the last sample before the hole and the first after it
    breaks = np.flatnonzero(np.isnan(vv))
    assert len(breaks) == 1
    before, after = tt[breaks[0] - 1], tt[breaks[0] + 1]
    assert before < 2 * 3600 * S and after >= 3 * 3600 * S
    # a short outage inside one bucket (30 s in 1 Hz data) is a break too
    v2 = np.ones(600)
    v2[100:130] = np.nan
    t2 = np.arange(600, dtype=np.int64) * S
    assert np.isnan(envelope(combine(rollup(t2, v2[:, None], ["a"]), 600 * S), 0)[1]).sum() == 1


def test_long_form_round_trip_and_select():
    t, v, tags = series(4)
    r = rollup(t, v, tags)
    back = from_frame(to_frame(r), ["tag2", "tag0"])
    np.testing.assert_array_equal(back["n"], r["n"][:, [2, 0]])
    part = select(r, ["tag1"], int(t[100]), int(t[-100]))
    assert part["tags"] == ["tag1"] and part["bucket"].min() >= t[100] and part["bucket"].max() < t[-100]


def test_unsorted_times_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="sorted ascending"):
        rollup(np.array([2, 1]) * S, np.ones((2, 1)), ["a"])


def test_the_store_keeps_a_rollup_of_every_chunk_and_reads_a_window_from_it(tmp_path):
    t, v, tags = series(5, n=4000)
    paths = [f"plant1/x/y/z/{name}" for name in tags]
    store = HistoryStore(tmp_path)
    store.declare_station("coating", [TagSpec(p, "mg/cm^2", 0.01) for p in paths])
    times = pd.to_datetime(t, utc=True)
    for lo, hi in ((0, 1000), (1000, 2500), (2500, 4000)):  # three flushes, split mid-bucket
        store.append("coating", times[lo:hi], {p: v[lo:hi, j] for j, p in enumerate(paths)})
    from workbench.history.rollups import read_rollup

    r = read_rollup(tmp_path, "coating", paths[::-1])
    stored = np.round(v / 0.01) * 0.01  # the store keeps counts of the tag's resolution
    np.testing.assert_allclose(summary_array(r), exact(t, stored[:, ::-1]), rtol=1e-9)
    window = read_rollup(tmp_path, "coating", paths, start=times[1500], end=times[3000])
    assert window["bucket"].min() >= (t[1500] // BUCKET_NS) * BUCKET_NS and window["bucket"].max() <= t[3000]

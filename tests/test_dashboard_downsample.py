"""What the dashboard draws of a long window (apps.dashboard.history.downsample after mark_gaps): of every pixel
column (an equal time bucket) the lowest and the highest sample, nothing that was not measured, and every gap
a break in the line, never bridged. Generated series: random walks with spikes, outages and bad samples."""

from __future__ import annotations

import numpy as np
import pytest

from apps.dashboard.history import downsample, mark_gaps


def series(seed: int, n: int = 28_800):
    """A 1 Hz random walk over ``n`` s with two outages, 30 spikes and a few bad samples (NaN)."""
    rng = np.random.default_rng(seed)
    t = 1.7e9 + np.arange(n, dtype=float)
    v = np.cumsum(rng.standard_normal(n))
    keep = np.ones(n, bool)
    for start in rng.integers(0, n - 2000, 2):
        keep[start:start + rng.integers(300, 1500)] = False  # an outage: no samples at all
    t, v = t[keep], v[keep]
    v[rng.integers(0, len(v), 30)] += 40 * rng.choice([-1.0, 1.0], 30)  # one-sample spikes and dips
    v[rng.integers(0, len(v), 5)] = np.nan  # bad samples: drawn as breaks
    return mark_gaps(t, v)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_out", [400, 2000])
def test_each_pixel_column_keeps_its_lowest_and_highest_sample(seed, n_out):
    t, v = series(seed)
    ts, vs = downsample(t, v, n_out)
    buckets = n_out // 2
    edges = np.linspace(t[0], t[-1], buckets + 1)
    column = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, buckets - 1)
    drawn = set(zip(ts[np.isfinite(vs)].tolist(), vs[np.isfinite(vs)].tolist()))
    checked = 0
    for k in np.unique(column[np.isfinite(v)]):
        sel = (column == k) & np.isfinite(v)
        for pick in (np.argmin, np.argmax):
            i = pick(v[sel])
            assert (t[sel][i], v[sel][i]) in drawn, f"column {k}: its {pick.__name__[3:]} {v[sel][i]} is not drawn"
            checked += 1
    assert checked > buckets  # (nearly) every column holds samples
    # only measured samples, in time order, and not many more than 2 a column (a break adds one each side)
    assert drawn <= set(zip(t.tolist(), v.tolist()))
    assert np.all(np.diff(ts) > 0)
    assert len(ts) <= n_out + 3 * np.isnan(v).sum()


@pytest.mark.parametrize("seed", range(6))
def test_a_gap_stays_a_break_in_the_drawn_line(seed):
    t, v = series(seed)
    ts, vs = downsample(t, v, 2000)
    breaks = t[np.isnan(v)]
    assert len(breaks) >= 2
    # every break is drawn where it was
    assert set(breaks.tolist()) <= set(ts[np.isnan(vs)].tolist())
    # and no two neighbouring drawn points are joined across one
    finite = np.isfinite(vs)
    joined = finite[:-1] & finite[1:]
    for a, b in zip(ts[:-1][joined], ts[1:][joined]):
        assert not np.any((breaks > a) & (breaks < b)), f"the line from {a} to {b} bridges a gap"


def test_a_short_series_is_drawn_as_it_is():
    t, v = np.arange(10.0), np.array([1.0, 2, np.nan, 4, 5, 6, 7, 8, 9, 10])
    ts, vs = downsample(t, v, 2000)
    np.testing.assert_array_equal(ts, t)
    np.testing.assert_array_equal(vs, v)

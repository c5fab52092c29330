"""The speed-ups of issue 14 change no result: the bracketed selection returns the exact order statistic
(its bracket pass by AVX-512 compress or by the scalar loop alike), the 4-way running minima/maxima the same
extremes, the absurd-value screen leaves a clean series untouched without copying it, the spike rule in
chunks replaces the same samples, and the lockstep search on 4 or 8 series (1/k by division, where the
one-series search reads a table of 1/k) the same flags as the one-series search, on the generator rigs and
on every TSSB series."""

import math

import numpy as np
import pytest

from workbench.changepoints import _order
from workbench.changepoints._order import _select_bracketed
from workbench.changepoints._robust import _min_step, mask_absurd, mask_gaps, standardise
from workbench.changepoints.rows import detect_rows
from workbench.changepoints.synthetic import process_noise


def _arrays(rng):
    for n in (1023, 1024, 1500, 4096, 4999, 20_000):
        yield rng.normal(size=n)
        yield np.round(rng.normal(size=n) * 2) / 2  # quantised: many ties (and -0.0 beside 0.0)
        yield np.zeros(n)  # one value: the bracket cannot narrow
        yield np.sort(rng.normal(size=n))[::-1].copy()
        yield np.r_[np.zeros(n // 2), rng.normal(size=n - n // 2) * 1e-3]
        yield rng.integers(0, 3, n).astype(float)
        yield np.r_[rng.normal(size=n - 40), np.full(40, 1e12)]  # outliers beyond the sample's bracket


def test_bracketed_selection_is_the_exact_order_statistic():
    rng = np.random.default_rng(0)
    checked = 0
    for a in _arrays(rng):
        n = a.size
        for k in (0, 1, n // 100, n // 4, n // 2, int(0.98 * n), n - 2, n - 1):
            assert _select_bracketed(a.copy(), k) == np.partition(a, k)[k], (n, k)
            checked += 1
    assert checked == 6 * 7 * 8


def test_the_bracket_pass_keeps_the_values_inside_in_order_with_or_without_avx512():
    rng = np.random.default_rng(5)
    paths = [_order._keep_between, _order._keep_between_loop]  # (compress where the CPU has it), scalar
    for n in (0, 1, 7, 8, 9, 63, 64, 65, 1000, 4096):
        a = np.round(rng.normal(size=n) * 3) / 3
        if n > 3:
            a[[1, n // 2]] = np.nan, np.inf
        lo, hi = -0.5, 1.0
        want = a[(a >= lo) & (a <= hi)]
        for keep_between in paths:
            keep = np.full(n, -99.0)
            m = keep_between(a, lo, hi, keep)
            assert m == want.size and np.array_equal(keep[:m], want), (n, keep_between)


def test_a_clean_series_is_screened_without_a_copy_and_a_dirty_one_on_a_copy():
    x = np.random.default_rng(6).normal(size=5000)
    out, count, gaps = mask_gaps(x)
    assert (count, gaps) == (0, 0) and np.shares_memory(out, x)
    y = x.copy()
    y[[10, 20]] = np.nan, 3.4e38
    out, count, gaps = mask_gaps(y)
    assert (count, gaps) == (1, 2) and not np.shares_memory(out, y) and y[20] == 3.4e38 and np.isnan(out[20])


def _standardise_sample_by_sample(x, lim, half):
    """The spike rule's definition, one sample at a time, with no pre-test (the reference for the chunked pass
    and its neighbour tests): a sample more than lim off the median of the 2 half + 1 around it becomes it."""
    z = x.copy()
    for i in range(half, x.size - half):
        med = np.median(x[i - half: i + half + 1])
        if abs(x[i] - med) > lim:
            z[i] = med
    return z


@pytest.mark.parametrize("half", [1, 2, 3, 4])
def test_the_chunked_spike_rule_replaces_the_samples_the_sample_by_sample_rule_does(half):
    rng = np.random.default_rng(7)
    for n in (3, 5, 9, 64, 65, 66, 129, 1000):
        x = rng.normal(size=n)
        hits = rng.integers(0, n, max(1, n // 20))
        x[hits] += rng.choice([-1, 1], hits.size) * 8  # spikes, some adjacent, some at chunk edges
        x[np.arange(63, n, 64)] += 6
        for p in rng.integers(0, n, max(1, n // 100)):  # pulses of 2-4 samples (a dropout of a few scans)
            x[p: p + rng.integers(2, 5)] -= 9
        z, s = np.empty(n), np.empty((2, n + 1))
        standardise(x, 0.0, 0.0, 1.0, 3.0, half, z, s[0], s[1])
        np.testing.assert_array_equal(z, _standardise_sample_by_sample(x, 3.0, half) if n > 2 * half else x)
        np.testing.assert_array_equal(s[0][1:], np.cumsum(z))


def test_smallest_step_is_the_smallest_nonzero_difference():
    rng = np.random.default_rng(1)
    for n in range(2, 12):  # every remainder of the 4-way loop
        for _ in range(20):
            x = np.round(rng.normal(size=n) * 4) / 4
            g = np.abs(np.diff(x))
            assert _min_step(x) == (g[g > 0].min() if (g > 0).any() else np.inf)


@pytest.mark.parametrize("where", range(8))
def test_the_range_screen_sees_an_absurd_value_at_every_position_of_the_4_way_loop(where):
    x = np.random.default_rng(2).normal(size=4001)
    x[2000 + where] = 1e9  # far outside the robust range, below the PLC-code limit
    out, count = mask_absurd(x)
    assert count == 1 and np.isnan(out[2000 + where]) and np.isfinite(np.delete(out, 2000 + where)).all()


def _lockstep_equals_alone(block, min_size=5):
    together = detect_rows(block, min_size, 1.0, math.nan, 5.0)
    alone = np.vstack([detect_rows(block[r: r + 1], min_size, 1.0, math.nan, 5.0) for r in range(len(block))])
    np.testing.assert_array_equal(together, alone)
    return int(together.sum())


@pytest.mark.parametrize("lanes", [4, 8])
@pytest.mark.parametrize("kind", ["white", "ar1", "quantised", "ar1_quantised", "trend", "sine", "heteroscedastic"])
def test_lockstep_search_equals_the_one_series_search_on_the_generator_rigs(kind, lanes, monkeypatch):
    from workbench.changepoints import rows

    monkeypatch.setattr(rows, "LANES", lanes)  # both widths, whatever this CPU's default
    rng = np.random.default_rng(3)
    x = process_noise(kind, (8, 10_000), rng)
    for r in range(8):
        for p in np.sort(rng.choice(np.arange(400, 9600, 400), 5, replace=False)):
            x[r, p:] += 3.0 * rng.choice([-1.0, 1.0])
    assert _lockstep_equals_alone(np.ascontiguousarray(x)) >= 8 * 5  # not vacuous


def test_lockstep_search_equals_the_one_series_search_on_every_tssb_series(shared_data):
    desc = shared_data / "changepoints" / "tssb" / "desc.txt"
    assert desc.exists(), f"TSSB missing: expected {desc} (see ../shared/data/NOTICE.md)"
    found = 0
    for line in desc.read_text().splitlines():
        if not line.strip():
            continue
        x = np.loadtxt(desc.parent / f"{line.split(',')[0]}.txt")
        # 8 lanes of one length (4 where the CPU has no AVX-512, then 4 more): the series, reversed, negated,
        # shifted by a quarter, and the same four in another unit (x 1e3 + 20: other rounding)
        four = np.vstack([x, x[::-1], -x, np.roll(x, x.size // 4)])
        block = np.vstack([four, four * 1e3 + 20.0])
        found += _lockstep_equals_alone(np.ascontiguousarray(block))
    assert found > 75  # not vacuous

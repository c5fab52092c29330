"""The shape option's parts against their definitions: the O(m) split profile, the rank-sum z, SuSS, and
pattern changes from our own generators (``synthetic.pattern_changes``: every regime has mean 0, sd 1)."""

import numpy as np
import pytest
import xarray as xr
from scipy.stats import ranksums

from workbench.changepoints import detect
from workbench.changepoints._shape import split_profile
from workbench.changepoints.shape import _votes, label_inflation, split_z, suss_window
from workbench.changepoints.synthetic import ar1_noise, pattern_changes


def test_split_profile_counts_match_the_definition():
    rng = np.random.default_rng(0)
    for _ in range(100):  # bounded: 100 random neighbour tables
        m, w = int(rng.integers(5, 80)), int(rng.integers(1, 9))
        vote = rng.integers(-1, m, size=m)
        lo = int(rng.integers(0, m))
        hi = int(rng.integers(lo, m + 1))
        out = split_profile(vote, lo, hi, w)
        i = np.arange(m)
        for s in range(lo, hi):
            pred = (vote >= s) | ((i >= s - w) & (i < s))  # the w windows overlapping the split: "right"
            assert out[s - lo, 0] == np.sum(pred & (i < s))
            assert out[s - lo, 1] == np.sum(pred & (i >= s))


def test_votes_are_the_majority_threshold_of_the_neighbours():
    neighbours = np.array([[5, 1, 9], [0, 0, 3], [-1, 7, 2]])
    # window 0 has 2 of 3 neighbours at >= s for s <= 5, window 1 for s <= 0, window 2 for s <= 2
    assert _votes(neighbours).tolist() == [5, 0, 2]


def test_split_z_is_the_wilcoxon_rank_sum_z():
    rng = np.random.default_rng(1)
    for _ in range(20):
        left = rng.integers(0, 2, size=int(rng.integers(20, 200)))
        right = (rng.random(int(rng.integers(20, 200))) < rng.uniform(0.2, 0.9)).astype(int)
        z = split_z(left.size, right.size, left.sum(), right.sum())
        # scipy's ranksums has no tie correction either: the same z
        assert z == pytest.approx(abs(ranksums(left, right).statistic), rel=1e-9)


def test_label_inflation_is_one_for_independent_labels_and_large_for_runs():
    rng = np.random.default_rng(2)
    m, w = 4000, 20
    independent = np.where(rng.random(m) < 0.5, m, -1)  # each window votes right (m) or left (-1) at random
    assert label_inflation(independent, m // 2, w) < 1.3
    runs = np.repeat(np.where(rng.random(m // w) < 0.5, m, -1), w)  # the same vote over w windows in a row
    assert label_inflation(runs, m // 2, w) > 5


@pytest.mark.parametrize("period", [20, 50, 100])
def test_suss_window_follows_the_period_of_a_pattern(period):
    t = np.arange(40 * period)
    w = suss_window(np.sin(2 * np.pi * t / period))
    assert period / 4 <= w <= period


def test_suss_window_is_short_on_noise_and_the_floor_on_a_constant():
    assert 10 <= suss_window(np.random.default_rng(3).normal(size=5000)) <= 30
    assert suss_window(np.full(500, 2.0)) == 10


@pytest.mark.parametrize("kinds, period", [
    (["sine", "square", "sawtooth"], 40),  # waveform changes at the same level and spread
    (["sine", "fast_sine"], 50),  # frequency change
    (["smooth_ar", "white"], 40),  # texture: slow wander to white noise of the same sd
])
def test_pattern_changes_are_found_where_they_are(kinds, period):
    for seed in range(3):
        x, truth = pattern_changes(kinds, 1500, period=period, noise=0.3, seed=seed)
        found = np.flatnonzero(detect(xr.DataArray(x, dims="time"), method="shape").values)
        assert found.size == truth.size, (seed, found, truth)
        assert np.all(np.abs(found - truth) <= 2 * period), (seed, found, truth)


def test_smooth_noise_of_one_texture_has_no_change_of_pattern():
    values = ar1_noise((10, 3000), 0.9, np.random.default_rng(4))
    flags = detect(xr.DataArray(values, dims=("series", "time")), method="shape").values
    assert np.mean(~flags.any(axis=1)) >= 0.9

"""The default's principles, each on its own generator (issue 14): no crying wolf on plant-like noise
without changes, steps of 3 long-run sigma found to +-5 samples, a drift is one drift, absurd values are
gaps, periodic segments are not cut, joint detection is one segmentation, and the attrs say why."""

import numpy as np
import pytest
import xarray as xr

from workbench.changepoints import detect, f1_score
from workbench.changepoints.synthetic import process_noise

N = 10_000
SERIES = 40
QUIET = ["white", "ar1", "quantised", "ar1_quantised", "trend", "sine"]
LONG_RUN = {"ar1": np.sqrt(1.7 / 0.3), "ar1_quantised": np.sqrt(1.5 / 0.5)}  # long-run / marginal sd


def _detect(values, **kw):
    return detect(xr.DataArray(np.atleast_2d(values), dims=("series", "time")), **kw)


@pytest.mark.parametrize("kind", QUIET)
def test_no_change_found_on_at_least_95_percent_of_series_without_changes(kind):
    flags = _detect(process_noise(kind, (SERIES, N), np.random.default_rng(7))).values
    assert np.mean(~flags.any(axis=1)) >= 0.95


@pytest.mark.parametrize("kind", QUIET)
def test_steps_of_3_long_run_sigma_found_to_5_samples(kind):
    rng = np.random.default_rng(8)
    values = process_noise(kind, (SERIES, N), rng)
    truth = []
    for r in range(SERIES):  # 5 steps at least 400 samples (8 cycles of the sine) apart
        pos = np.sort(rng.choice(np.arange(400, N - 399, 400), 5, replace=False))
        for p in pos:
            values[r, p:] += 3.0 * LONG_RUN.get(kind, 1.0) * rng.choice([-1.0, 1.0])
        truth.append(pos)
    flags = _detect(values).values
    assert np.mean([f1_score(t, np.flatnonzero(f), margin=5) for t, f in zip(truth, flags)]) >= 0.95


def _slow_signal_through_an_adc(rng, series, n, phi=0.9, step=1.0):
    """AR(1) of unit marginal sd (phi 0.9: a temperature read once a second) rounded to ``step``: an ADC of
    a few counts, most first differences 0, the rest +-1 count around a code boundary."""
    e = rng.normal(size=(series, n)) * np.sqrt(1.0 - phi * phi)
    x = np.empty((series, n))
    x[:, 0] = rng.normal(size=series)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x, np.sqrt((1.0 + phi) / (1.0 - phi)), lambda v: np.round(v / step) * step


def _quiet_share_and_step_f1(rng, x, long_run, read=lambda v: v):
    """(share of the quiet series ``read(x)`` with no change, mean F1 (margin 10) of one 3 long-run sigma step
    added at a random sample in the middle three fifths of each series)."""
    series, n = x.shape
    quiet = _detect(read(x)).values
    at = rng.integers(n // 5, 4 * n // 5, series)
    flags = _detect(read(x + 3.0 * long_run * (np.arange(n)[None, :] >= at[:, None]))).values
    return np.mean(~quiet.any(axis=1)), np.mean([f1_score([a], np.flatnonzero(f), margin=10) for a, f in zip(at, flags)])


def test_a_slow_signal_read_through_a_few_adc_counts_is_not_cut_and_its_steps_are_found():
    """1,000 samples of AR(1) phi 0.9 rounded to 1 marginal sd: the first differences are mostly 0 and
    alternate +-1 count, so the AR(1) estimate from differences read a short memory (long-run sigma a
    quarter of the truth) and 98 % of series got false changes (100 series); a 3 long-run sigma step was
    found with F1 0.27. The levels a few samples apart still show the memory: the semivariogram estimate
    (``_robust.variogram_profile``, used when most first differences are 0) gives 4 % and F1 0.99."""
    rng = np.random.default_rng(12)
    x, long_run, adc = _slow_signal_through_an_adc(rng, 60, 1000)
    assert np.mean(np.diff(adc(x), axis=1) == 0) > 0.5  # the regime: most first differences are 0
    quiet, f1 = _quiet_share_and_step_f1(rng, x, long_run, adc)
    assert quiet >= 0.9 and f1 >= 0.9


@pytest.mark.parametrize("step", [2.0, 3.0])
def test_a_slow_signal_read_through_three_adc_codes_is_not_cut_and_its_steps_are_found(step):
    """The same signal rounded to 2 or 3 marginal sds: three codes, most samples on the middle one. At no lag
    do half of the differences move (the plateau is 48 % and 23 %), so the semivariogram estimate has no lag
    to work at, and 73 % and 100 % of quiet series got false changes (60 each). The block estimate
    down to 32 blocks with its 1/b bias extrapolated away (``_robust.block_extrapolated``) reads the memory:
    7 % and 8 %, and 3 long-run sigma steps F1 0.95 and 1.00 (were 0.94 and 0.45)."""
    rng = np.random.default_rng(13)
    x, long_run, adc = _slow_signal_through_an_adc(rng, 60, 1000, step=step)
    assert np.mean(np.diff(adc(x[:, ::64]), axis=1) != 0) < 0.5  # even 64 samples apart, most codes are the same
    quiet, f1 = _quiet_share_and_step_f1(rng, x, long_run, adc)
    assert quiet >= 0.85 and f1 >= 0.9


def test_a_two_valued_state_signal_keeps_its_flips():
    """A 0/1 state (a valve, a heater) flipping every 30-120 samples: its first differences are mostly 0 like a
    slow signal on three ADC codes, but a state's flips are level changes. The extrapolated block estimate,
    which reads such a series as slow wander, is not used for two-valued series: F1 0.9 (with it: 0.004)."""
    rng = np.random.default_rng(15)
    x, truth = np.zeros((40, 1000)), []
    for r in range(40):
        at = np.cumsum(rng.integers(30, 120, 30))
        at = at[at < 970]
        for a in at:
            x[r, a:] = 1.0 - x[r, a:]
        truth.append(at)
    flags = _detect(x).values
    assert np.mean([f1_score(t, np.flatnonzero(f), margin=2) for t, f in zip(truth, flags)]) >= 0.85


def test_a_slow_wander_is_cut_less_often_and_its_steps_are_found():
    """AR(1) phi 0.99 over 3,000 samples (a temperature that wanders over a shift): the AR(1) inflation is
    capped at phi 0.95 and the block estimate's 128 blocks of 23 samples are far shorter than the memory,
    so the long-run sigma read low: 44 % of quiet series got false changes, 3 long-run sigma steps F1 0.69
    (100 series). With the extrapolated block estimate added for phi >= 0.9: 21 % and 0.89. Still not the
    95 % the issue asks of phi <= 0.7: on 3,000 samples such a series holds ~15 independent values."""
    rng = np.random.default_rng(14)
    x, long_run, _ = _slow_signal_through_an_adc(rng, 60, 3000, phi=0.99)
    quiet, f1 = _quiet_share_and_step_f1(rng, x, long_run)
    assert quiet >= 0.7 and f1 >= 0.8


def test_a_trend_plus_two_steps_gives_two_change_points_not_a_staircase():
    rng = np.random.default_rng(9)
    values = process_noise("trend", (SERIES, N), rng)
    values[:, 3000:] += 4.0
    values[:, 7000:] -= 4.0
    res = _detect(values)
    counts = res.values.sum(axis=1)
    assert np.mean(counts == 2) >= 0.95
    hits = [f1_score([3000, 7000], np.flatnonzero(f), margin=5) for f in res.values]
    assert np.mean(hits) >= 0.95
    assert "trend" in res.attrs["model"] and "drift" in res.attrs["model_reason"]


def test_a_pure_staircase_is_not_called_a_trend():
    rng = np.random.default_rng(10)
    values = rng.normal(size=(SERIES, 2000)) + np.repeat(np.arange(8.0) * 3.0, 250)  # 7 equal up-steps
    res = _detect(values)
    assert res.attrs["model"] == f"mean-shift: {SERIES}"
    assert np.mean(res.values.sum(axis=1) == 7) >= 0.95


@pytest.mark.parametrize("sentinel", [3.4e38, -9.9e37, 1e10, 1e160])
@pytest.mark.parametrize("where", [100, 200, 300])  # before, at and after the real step
def test_a_sentinel_is_masked_counted_and_neither_creates_nor_hides_a_change(sentinel, where):
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=400) + np.r_[np.zeros(200), np.full(200, 3.0)]
        gap = x.copy()
        gap[where] = np.nan
        x[where] = sentinel
        res = _detect(x)
        assert res.attrs["masked_absurd"] == 1
        np.testing.assert_array_equal(res.values, _detect(gap).values)  # exactly as if the sample were missing
        found = np.flatnonzero(res.values[0])
        assert found.size == 1 and abs(found[0] - 200) <= 5


@pytest.mark.parametrize("samples", [3, 4])
def test_dropouts_shorter_than_a_segment_are_not_level_changes_and_a_real_step_is_kept(samples):
    # a reading that drops to 0 (or half) for a few scans, 20 times in 10,000 samples: within 20 robust ranges,
    # so not absurd; the spike rule's window of 5 left 3-4 sample dropouts whole, and each was cut in and out
    # (29-39 changes a series); the window now reaches min_size - 1 (up to 4) samples each side
    rng = np.random.default_rng(3)
    rows, truth = [], 5_000
    for _ in range(20):
        x = 100.0 + rng.normal(size=N) + np.where(np.arange(N) >= truth, 3.0, 0.0)
        for p in rng.choice(np.r_[10:4_990, 5_010:N - 10], 20, replace=False):
            x[p: p + samples] = rng.choice([0.0, 50.0])
        rows.append(x)
    res = _detect(np.array(rows))
    f1 = np.mean([f1_score([truth], np.flatnonzero(f), margin=5) for f in res.values])
    print(f"\ndropouts of {samples} samples: {res.values.sum(axis=1).mean():.1f} changes a series, F1 {f1:.2f}")
    assert res.values.sum(axis=1).mean() <= 2.0 and f1 >= 0.8


def test_absurd_values_do_not_mask_a_real_excursion():
    rng = np.random.default_rng(3)
    x = rng.normal(size=2000)
    x[1000:1100] += 40.0  # 5 % of the series at a new level: real, however large
    res = _detect(x)
    assert res.attrs["masked_absurd"] == 0
    assert f1_score([1000, 1100], np.flatnonzero(res.values[0]), margin=5) == 1.0


@pytest.mark.parametrize("spread", [(0.5, 2.0), (1.0, 3.0)])
def test_noise_that_grows_along_the_series_is_judged_by_its_noisiest_part(spread):
    # noise sd growing linearly without a change in mean: judged by the median piece's spread, about 1 in 5
    # such series got a false change; the yardstick now follows the noisiest 1/16 of the series
    rng = np.random.default_rng(7)
    flags = _detect(rng.normal(size=(SERIES, N)) * np.linspace(*spread, N)).values
    assert np.mean(~flags.any(axis=1)) >= 0.95


def test_steps_are_still_found_where_the_noise_is_quiet_and_where_it_is_loud():
    rng = np.random.default_rng(11)
    sd = np.linspace(0.5, 2.0, N)
    values = rng.normal(size=(SERIES, N)) * sd
    values[:, 2500:] += 3.0 * 2.0  # 3 sigma of the noisiest part, early (12 sigma of the local noise)
    values[:, 7500:] -= 3.0 * 2.0  # and late (3.4 sigma of the local noise)
    flags = _detect(values).values
    assert np.mean([f1_score([2500, 7500], np.flatnonzero(f), margin=5) for f in flags]) >= 0.95


def test_periodic_segments_are_not_cut_and_the_model_says_why():
    rng = np.random.default_rng(4)
    t = np.arange(6000)
    traverse = 5.0 * np.abs(((t % 120) / 60.0) - 1.0)  # a scanning gauge's triangle traverse, 120 samples
    x = traverse + 0.2 * rng.normal(size=t.size)
    x[3000:] = 2.0 * traverse[3000:] + 0.2 * rng.normal(size=3000)  # the profile's amplitude changes
    res = _detect(x)
    assert res.attrs["model"] == "cycle: 1" and "120 samples per cycle" in res.attrs["model_reason"]
    found = np.flatnonzero(res.values[0])
    assert found.size == 1 and abs(found[0] - 3000) <= 120


def test_joint_detection_is_one_segmentation_not_the_union_of_eight():
    rng = np.random.default_rng(5)
    quiet = process_noise("ar1_quantised", (SERIES, 8, 4000), rng)
    da = xr.DataArray(quiet, dims=("rig", "sensor", "time"))
    single = detect(da).values.any(axis=-1)  # per sensor
    union_false = np.mean(single.any(axis=1))  # a rig "changed" if any of its 8 sensors did
    joint_false = np.mean(detect(da, joint="sensor").values.any(axis=(1, 2)))
    assert joint_false <= 0.05 and joint_false <= union_false
    step = quiet.copy()
    step[:, :, 2000:] += 1.5 * np.sqrt(3.0)  # 1.5 long-run sigma in every sensor: weak alone, clear together
    res = detect(xr.DataArray(step, dims=("rig", "sensor", "time")), joint="sensor").values
    per_rig = [np.flatnonzero(r[0]) for r in res]
    assert all((res[:, k] == res[:, 0]).all() for k in range(8))  # one segmentation, repeated along sensor
    assert np.mean([f1_score([2000], f, margin=5) for f in per_rig]) >= 0.95

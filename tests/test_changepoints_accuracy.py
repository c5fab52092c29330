"""Accuracy of the default detect() on generated data with truth: hits at jump/noise 3, no crying wolf on
white, autocorrelated and quantised noise, and a noise estimate that steps and spikes do not inflate."""

import numpy as np
import pytest
import ruptures as rpt
import xarray as xr

from workbench.changepoints import detect, f1_score, noise_level
from workbench.changepoints.synthetic import ar1_noise, piecewise_constant, quantise

SEEDS = 40
N = 10_000


def _flags(values):
    da = xr.DataArray(np.atleast_2d(values), dims=("series", "time"))
    return detect(da).values


def test_f1_on_ruptures_pw_constant_at_jump_to_noise_3():
    scores = []
    for seed in range(SEEDS):
        signal, bkps = rpt.pw_constant(2000, 1, 6, noise_std=1.0, delta=(3, 3), seed=seed)
        found = np.flatnonzero(_flags(signal[:, 0])[0])
        scores.append(f1_score(bkps[:-1], found, margin=5))
    assert np.mean(scores) >= 0.95
    assert np.min(scores) >= 0.8


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.7])
def test_f1_at_jump_to_noise_3_in_white_and_ar1_noise(phi):
    # jump measured in marginal noise sd; under AR(1) the search sees a long-run sd sqrt((1+phi)/(1-phi)) larger
    values, truth = piecewise_constant(SEEDS, 2000, 5, jump=3.0 * np.sqrt((1 + phi) / (1 - phi)), phi=phi, min_gap=100, seed=3)
    flags = _flags(values)
    scores = [f1_score(t, np.flatnonzero(f), margin=5) for t, f in zip(truth, flags)]
    assert np.mean(scores) >= 0.95


def _share_without_false_breaks(values):
    return float(np.mean(~_flags(values).any(axis=1)))


def test_no_false_break_in_white_noise():
    rng = np.random.default_rng(11)
    assert _share_without_false_breaks(rng.normal(size=(SEEDS, N))) >= 0.95


@pytest.mark.parametrize("phi", [0.3, 0.5, 0.7])
def test_no_false_break_in_ar1_noise(phi):
    values = ar1_noise((SEEDS, N), phi, np.random.default_rng(int(phi * 100)))
    assert _share_without_false_breaks(values) >= 0.95


@pytest.mark.parametrize("step", [0.1, 1.0, 2.0])
def test_no_false_break_in_quantised_noise(step):
    # 0.1: resolution a tenth of the noise sd (the requirement); 1 and 2: coarse gauges where the MAD collapses
    values = quantise(10.0 + np.random.default_rng(5).normal(size=(SEEDS, N)), step)
    assert _share_without_false_breaks(values) >= 0.95


def test_no_false_break_in_quantised_ar1_noise():
    values = quantise(ar1_noise((SEEDS, N), 0.7, np.random.default_rng(8)), 0.1)
    assert _share_without_false_breaks(values) >= 0.95


def test_iid_penalty_would_cry_wolf_on_ar1_noise():
    # the reason for the long-run scaling: with an i.i.d. noise estimate and BIC-like penalty PELT over-segments
    x = ar1_noise((1, N), 0.7, np.random.default_rng(2))[0]
    sigma = float(noise_level(xr.DataArray(x, dims="time")).sigma)
    naive = detect(xr.DataArray(x, dims="time"), penalty=2 * np.log(N) * sigma**2, spike_threshold=None)
    assert int(naive.sum()) >= 10
    assert int(detect(xr.DataArray(x, dims="time")).sum()) == 0


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.7])
def test_noise_level_recovers_sigma_and_phi_despite_steps_and_spikes(phi):
    rng = np.random.default_rng(4)
    x = ar1_noise((1, N), phi, rng, sigma=2.0)[0] + np.repeat(rng.normal(0, 20, 10), N // 10)
    x[rng.choice(N, 30, replace=False)] += 50.0  # spikes
    nl = noise_level(xr.DataArray(x, dims="time", attrs={"units": "uohm"}))
    assert float(nl.sigma) == pytest.approx(2.0, rel=0.08)
    assert float(nl.phi) == pytest.approx(phi, abs=0.06)
    assert float(nl.long_run_sigma) == pytest.approx(2.0 * np.sqrt((1 + phi) / (1 - phi)), rel=0.15)
    assert nl.sigma.attrs["units"] == "uohm"


def test_noise_floor_is_the_resolution_for_a_signal_pinned_at_one_code():
    x = np.full(2000, 5.0)
    x[::97] = 5.5  # occasional one-code flicker
    nl = noise_level(xr.DataArray(x, dims="time"))
    assert float(nl.resolution) == pytest.approx(0.5)
    assert float(nl.sigma) == pytest.approx(0.5 / np.sqrt(12), rel=1e-6)
    assert int(detect(xr.DataArray(x, dims="time")).sum()) == 0


def test_isolated_spikes_do_not_create_segments_but_a_real_step_does():
    rng = np.random.default_rng(9)
    x = rng.normal(size=3000)
    x[[400, 1200, 2500]] += [15.0, -12.0, 20.0]
    x[1800:] += 2.0
    found = np.flatnonzero(detect(xr.DataArray(x, dims="time")).values)
    assert len(found) == 1 and abs(found[0] - 1800) <= 5
    raw = np.flatnonzero(detect(xr.DataArray(x, dims="time"), spike_threshold=None, min_size=1).values)
    assert len(raw) > 1  # without despiking the spikes become segments


def test_scale_free_same_changes_in_any_unit():
    values, _ = piecewise_constant(5, 3000, 4, jump=2.0, phi=0.4, seed=12)
    a = _flags(values)
    b = _flags(values * 1e4 + 35.0)  # e.g. mg/cm^2 -> g/m^2 with an offset; or degC -> K
    c = _flags(values * 1e-6)
    assert a.any() and np.array_equal(a, b) and np.array_equal(a, c)

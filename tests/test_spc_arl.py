"""Zero-state ARLs of the detectors vs the published tables (DOMAIN.md), by bounded Monte Carlo.

Each case runs 20,000 independent runs with a fixed seed through the same numba kernels the
vectorised and streaming detectors use. A run length's sd is about its mean, so the standard error
is about ARL/sqrt(20,000) = 0.7 % of the ARL: the 5 % band is more than 6 standard errors wide,
which the test also asserts from the sample it drew (it could not pass by luck of a noisy estimate).
"""

import pytest

from workbench.spc.arl import cusum_arl, cusum_h_for_arl0
from workbench.spc.montecarlo import (cusum_run_lengths, ewma_run_lengths, focus_run_lengths,
                                      shewhart_run_lengths)

RUNS = 20_000
TOL = 0.05


def _check(rl, published):
    assert rl.censored == 0 and rl.false_alarms == 0
    assert 3 * rl.se < TOL * published, "too few runs for a safe 5 % check"
    assert rl.arl == pytest.approx(published, rel=TOL)


@pytest.mark.parametrize("h, delta, published", [
    (5.0, 0.0, 465.0), (5.0, 0.5, 38.0), (5.0, 1.0, 10.4), (5.0, 2.0, 4.01), (5.0, 3.0, 2.57),
    (4.0, 0.0, 168.0), (4.0, 1.0, 8.38),
])
def test_cusum_k05_arl_matches_published(h, delta, published):
    _check(cusum_run_lengths(k=0.5, h=h, delta=delta, n_runs=RUNS, seed=101), published)


@pytest.mark.parametrize("delta, published", [(0.0, 371.0), (1.0, 9.8), (2.0, 3.59)])
def test_ewma_asymptotic_limits_arl_matches_published(delta, published):
    _check(ewma_run_lengths(lam=0.2, L=2.86, delta=delta, n_runs=RUNS, seed=202), published)


@pytest.mark.parametrize("delta, published", [(0.0, 370.4), (1.0, 43.9)])
def test_shewhart_individuals_arl_matches_published(delta, published):
    _check(shewhart_run_lengths(L=3.0, delta=delta, n_runs=RUNS, seed=303), published)


def test_ewma_exact_limits_alarm_sooner_than_asymptotic():
    # exact limits are narrower at the start, so the zero-state ARL1 is shorter
    exact = ewma_run_lengths(lam=0.2, L=2.86, delta=1.0, exact=True, n_runs=RUNS, seed=5)
    asym = ewma_run_lengths(lam=0.2, L=2.86, delta=1.0, exact=False, n_runs=RUNS, seed=5)
    assert exact.arl < asym.arl - 4 * max(exact.se, asym.se)


@pytest.mark.parametrize("h, delta, published", [
    (5.0, 0.0, 465.0), (5.0, 0.5, 38.0), (5.0, 1.0, 10.4), (5.0, 2.0, 4.01), (5.0, 3.0, 2.57),
    (4.0, 0.0, 168.0), (4.0, 1.0, 8.38),
])
def test_cusum_integral_equation_matches_published_to_the_digit(h, delta, published):
    # the printed tables have 3-4 significant digits
    assert cusum_arl(k=0.5, h=h, delta=delta) == pytest.approx(published, rel=0.003)


def test_integral_equation_agrees_with_monte_carlo_for_other_k():
    h = cusum_h_for_arl0(0.25, 465.0)
    assert cusum_arl(k=0.25, h=h) == pytest.approx(465.0, rel=1e-6)
    rl = cusum_run_lengths(k=0.25, h=h, delta=0.5, n_runs=RUNS, seed=7)
    assert cusum_arl(k=0.25, h=h, delta=0.5) == pytest.approx(rl.arl, abs=4 * rl.se)


def test_steady_state_delay_excludes_false_alarms():
    rl = cusum_run_lengths(k=0.5, h=5.0, delta=1.0, n_runs=2000, seed=9, change_at=200)
    assert rl.false_alarms > 0  # ~35 % of runs alarm in 200 in-control samples at ARL0 465
    assert len(rl.lengths) + rl.false_alarms == 2000
    assert 7.0 < rl.arl < 10.4  # steady-state delay is shorter than the zero-state ARL1


@pytest.mark.parametrize("bad", [dict(n_runs=1), dict(max_len=5, change_at=10)])
def test_monte_carlo_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        focus_run_lengths(threshold=6.0, **bad)


def test_cusum_arl_rejects_bad_design():
    with pytest.raises(ValueError, match="h > 0"):
        cusum_arl(k=0.5, h=0.0)

"""Joint (multi-series) exact search: the same optimum as a brute-force dynamic programme, and work that
stays near-linear on quiet multi-sensor data (counted in candidate costs, not timed)."""

import zlib
from itertools import pairwise

import numpy as np
import pytest

from workbench.changepoints import auto_penalty
from workbench.changepoints._kernels import _backtrack
from workbench.changepoints._joint import (
    NEVER,
    _first_useful_end,
    _sums_tree,
    joint_search,
    pelt_l2_joint,
)
from workbench.changepoints.rows import prepare
from workbench.changepoints.synthetic import process_noise


def _brute_force(x, pen, m):
    """Optimal partitioning without any pruning: (flags, penalised cost); among equal costs the earliest
    start wins, as in the kernel."""
    n, d = x.shape
    s1 = np.vstack([np.zeros(d), np.cumsum(x, axis=0)])
    q = np.concatenate([[0.0], np.cumsum((x * x).sum(axis=1))])
    f = np.full(n + 1, np.inf)
    f[0] = 0.0
    last = np.zeros(n + 1, int)
    for s in range(m, n + 1):
        starts = np.array([0, *range(m, s - m + 1)])
        dd = s1[s] - s1[starts]
        v = f[starts] + (q[s] - q[starts]) - (dd * dd).sum(axis=1) / (s - starts)
        i = int(np.argmin(v))
        f[s] = v[i] + pen
        last[s] = starts[i]
    flags = np.zeros(n, bool)
    s = n
    while s > 0:
        if last[s] > 0:
            flags[last[s]] = True
        s = last[s]
    return flags, f[n]


def _cost(x, flags, pen):
    edges = [0, *np.flatnonzero(flags), x.shape[0]]
    return sum(((x[a:b] - x[a:b].mean(0)) ** 2).sum() + pen for a, b in pairwise(edges))


def _rig(kind, steps, n, d, rng):
    x = process_noise(kind, (d, n), rng)
    for p in rng.choice(np.arange(20, n - 20), steps, replace=False):
        x[rng.random(d) < 0.5, p:] += rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 3.0)
    return np.ascontiguousarray(x.T)


CASES = [(kind, steps, d, m, scale)
         for kind in ("white", "ar1", "ar1_quantised", "trend", "sine")
         for steps, d, m, scale in ((0, 8, 5, 1.0), (3, 8, 1, 1.0), (4, 3, 5, 0.3), (2, 2, 12, 2.0))]


@pytest.mark.parametrize("kind, steps, d, m, scale", CASES)
def test_joint_search_finds_the_brute_force_optimum(kind, steps, d, m, scale):
    rng = np.random.default_rng(zlib.crc32(repr((kind, steps, d, m)).encode()))  # hash() differs per process
    n = 400
    x = _rig(kind, steps, n, d, rng)
    pen = auto_penalty(n, d) * scale
    flags = pelt_l2_joint(x, pen, m)
    ref, best = _brute_force(x, pen, m)
    assert _cost(x, flags, pen) == pytest.approx(best, rel=1e-9, abs=1e-9)
    if kind != "ar1_quantised":  # quantised values can tie exactly; elsewhere the optimum is unique
        assert np.array_equal(flags, ref)


def test_joint_search_matches_brute_force_on_a_long_stepped_rig():
    rng = np.random.default_rng(3)
    x = _rig("white", 6, 3000, 8, rng)
    pen = auto_penalty(3000, 8)
    flags = pelt_l2_joint(x, pen, 5)
    assert np.array_equal(flags, _brute_force(x, pen, 5)[0])
    assert flags.sum() >= 4


@pytest.mark.parametrize("kind", ["white", "ar1", "ar1_quantised", "sine"])
def test_joint_search_work_is_near_linear_on_quiet_sensors(kind):
    # exact functional/PELT pruning keeps every start alive on quiet 8-sensor data (about n^2 / 2
    # candidate costs); starts whose merge with their previous segment can never pay stay out.
    # The series are standardised as detect(joint=...) hands them to the search.
    rng = np.random.default_rng(11)
    n = 20_000
    x = process_noise(kind, (8, n), rng)
    z = np.stack([prepare(np.ascontiguousarray(r), 5, 1.0, np.nan, 5.0)[0] for r in x], axis=1)
    _, work = joint_search(np.ascontiguousarray(z), auto_penalty(n, 8), 5)
    assert work <= 3 * n


def test_joint_search_work_stays_near_linear_between_steps():
    rng = np.random.default_rng(12)
    n = 20_000
    x = _rig("white", 6, n, 8, rng)
    _, work = joint_search(x, auto_penalty(n, 8), 5)
    assert work <= 30 * n


def test_the_first_useful_end_is_the_first_where_a_merge_would_cost_the_penalty():
    rng = np.random.default_rng(5)
    n = 700
    x = _rig("white", 3, n, 4, rng)
    _, _, pc, bmin, bmax, big = _sums_tree(x)
    for t, a, thr in ((50, 0, 8.0), (300, 120, 20.0), (400, 260, 12.0), (650, 600, 30.0), (200, 0, 1e6)):
        ends = np.arange(t + 1, n + 1)
        m1 = (pc[t] - pc[a]) / (t - a)
        dev = pc[ends] - pc[t] - (ends - t)[:, None] * m1
        gain = (t - a) * (dev * dev).sum(1) / ((ends - t) * (ends - a))
        hit = np.flatnonzero(gain >= thr)
        expected = int(ends[hit[0]]) if hit.size else NEVER
        assert _first_useful_end(t, a, t + 1, n, pc, bmin, bmax, big, thr) == expected


def _trending_rig(n, d, rng, *, rise, curvature=0.0, noise="white"):
    """d sensors drifting by ``rise`` noise sds over the series (each its own share of it, 0.5-1.5x), along
    a line (curvature 0) or an exponential exp(curvature t / n): no change in level anywhere."""
    t = np.arange(n) / n
    shape = t if curvature == 0.0 else np.expm1(curvature * t) / np.expm1(curvature)
    return process_noise(noise, (d, n), rng) + rise * shape * rng.uniform(0.5, 1.5, (d, 1))


@pytest.mark.parametrize("noise", ["white", "ar1"])
def test_joint_detection_does_not_cut_a_trending_rig_into_a_staircase(noise):
    # the single-series default removes a drift its segments all slope with (trend model); the joint
    # search must make the same choice per series, or 8 drifting sensors come out as a staircase
    import xarray as xr

    from workbench.changepoints import detect

    rng = np.random.default_rng(21)
    n, d = 4000, 8
    for rig in range(3):
        x = _trending_rig(n, d, rng, rise=8.0, noise=noise)
        quiet = detect(xr.DataArray(x, dims=("sensor", "time")), joint="sensor")
        assert int(quiet.isel(sensor=0).sum()) == 0, f"rig {rig}: {np.flatnonzero(quiet.isel(sensor=0).values)}"
        assert "drift removed" in quiet.attrs["model"] and "drift removed" in quiet.attrs["model_reason"]
        x[: d // 2, 2500:] += 3.0  # one real step in half the sensors
        stepped = detect(xr.DataArray(x, dims=("sensor", "time")), joint="sensor")
        found = np.flatnonzero(stepped.isel(sensor=0).values)
        assert found.size == 1 and abs(int(found[0]) - 2500) <= 5, f"rig {rig}: {found}"


@pytest.mark.parametrize("level", [1e3, 1e6])
def test_joint_search_work_stays_near_linear_at_a_huge_level(level):
    # the rounding tolerance grows with the sum of squares: on raw values at 1e6 it let every start in
    # (O(n^2) candidate costs); the kernel centres each channel on its median, same segmentation
    rng = np.random.default_rng(13)
    n = 4000
    quiet = np.ascontiguousarray(process_noise("white", (8, n), rng).T)
    stepped = _rig("white", 4, n, 8, rng)
    pen = auto_penalty(n, 8)
    for x in (quiet, stepped):
        last, work = joint_search(np.ascontiguousarray(x + level * np.arange(1, 9)), pen, 5)
        assert work <= 30 * n
        assert np.array_equal(_backtrack(last, n), pelt_l2_joint(x, pen, 5))
    assert joint_search(np.ascontiguousarray(quiet + level), pen, 5)[1] <= 3 * n

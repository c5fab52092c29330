"""Offline change points of coating lanes (workbench.models.coating_shifts.lane_shifts)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.models.coating_shifts import lane_shifts

T = pd.date_range("2026-01-05 06:00", periods=600, freq="15s")


def lanes(n_lanes=6, seed=0, units="mg/cm^2", lane_numbers=None):
    rng = np.random.default_rng(seed)
    m = 17.2 + rng.normal(0, 0.03, (len(T), n_lanes))
    return xr.DataArray(m, dims=("time", "lane"), attrs={"units": units},
                        coords={"time": T, "lane": lane_numbers if lane_numbers is not None else np.arange(1, n_lanes + 1)})


def test_each_shift_is_found_on_its_lane_with_its_size_and_units():
    da = lanes()
    da[300:, 1] -= 0.4   # lane 2 drops
    da[450:, 4] += 0.25  # lane 5 rises later
    cp = lane_shifts(da)
    assert cp.lane.tolist() == [2, 5]  # oldest first
    assert cp.time.tolist() == [T[300], T[450]]
    assert cp["shift"].to_numpy() == pytest.approx([-0.4, 0.25], abs=0.02)
    assert cp.attrs["units"] == {"shift": "mg/cm^2"}


def test_lanes_are_named_by_their_coordinate_and_dim_order_does_not_matter():
    da = lanes(n_lanes=3, lane_numbers=[7, 12, 18])
    da[200:, 2] -= 0.5
    cp = lane_shifts(da.transpose("lane", "time"))
    assert cp.lane.tolist() == [18] and cp.time.tolist() == [T[200]]


def test_a_quiet_window_has_no_shift_and_a_short_one_is_not_searched():
    assert lane_shifts(lanes(seed=3)).empty
    short = lane_shifts(lanes().isel(time=slice(0, 5)))
    assert short.empty and list(short.columns) == ["lane", "time", "shift"]


def test_gaps_are_skipped_not_filled():
    da = lanes()
    da[300:, 3] += 0.4
    da[100:140, 3] = np.nan  # a gauge dropout on the same lane
    cp = lane_shifts(da)
    assert cp.lane.tolist() == [4] and cp["shift"][0] == pytest.approx(0.4, abs=0.02)


def test_the_coating_page_says_when_a_listed_shift_is_a_step_on_a_drift():
    # the default merges shifts below min_shift measured against the drift its model removed; a kept step
    # whose plain segment means differ by less (quiet virtual line: lane 15, +0.075 against 0.085) is marked
    from apps.dashboard.coating import offline_rows

    cp = pd.DataFrame({"lane": [15, 3], "time": pd.to_datetime(["2026-01-05 10:53", "2026-01-05 11:00"]),
                       "shift": [0.075, -0.3]})
    cp.attrs.update(min_shift=0.085, merged_small_shifts=4)
    html = offline_rows(cp, "mg/cm^2", 1000)
    rows = html.split("<tr ")[1:]  # newest first: lane 3, then lane 15
    assert 'data-lane="3"' in rows[0] and "against-drift" not in rows[0]
    assert 'data-lane="15"' in rows[1] and "(a step on a drift)" in rows[1]

"""Alarm events table: one row per run of alarms, per series and rule."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.spc import alarm_events, apply, check_rules, cusum, fit, focus
from workbench.spc.events import COLUMNS

TIMES = pd.date_range("2026-01-05 06:00", periods=200, freq="30s")


def _lanes():
    x = np.zeros((200, 3))  # noise-free deviations from target, so the events are known exactly
    x[120:124, 1] = 3.0  # lane 2: a 3-sigma step for 4 samples, then back
    x[190:, 2] = -2.0    # lane 3: a drop that is still on at the end
    return xr.DataArray(x, dims=("time", "lane"), coords={"time": TIMES, "lane": [1, 2, 3]},
                        attrs={"units": "mg/cm^2"})


def test_cusum_events_per_lane_with_tags():
    ds = cusum(_lanes(), target=0.0, sigma=1.0, k=0.5, h=4.0)
    ev = alarm_events(ds, tag="plant1/electrode/coat1/gauge/areal_mass_lane{lane:02d}")
    assert list(ev.columns) == COLUMNS
    assert ev.tag.tolist() == ["plant1/electrode/coat1/gauge/areal_mass_lane02",
                               "plant1/electrode/coat1/gauge/areal_mass_lane03"]
    up, down = ev.iloc[0], ev.iloc[1]
    # C+ grows 2.5 per shifted sample (5 > 4 at the 2nd), peaks at 10, then drains 0.5 per sample
    # and stays above 4 for 11 more samples
    assert up.start == TIMES[121] and up.direction == "up" and not up.open
    assert up.value == 10.0 and up.end == TIMES[134] and up.samples == 14
    # C- grows 1.5 per sample: 4.5 > 4 at the 3rd
    assert down.start == TIMES[192] and down.end == TIMES[199] and down.open
    assert down.samples == 8 and down.direction == "down"


def test_missing_samples_bridge_an_event_but_do_not_count():
    x = xr.DataArray([0, 5, 5, np.nan, 5, 0, 0, 5], dims="time", coords={"time": TIMES[:8]})
    ev = alarm_events(cusum(x, target=0.0, sigma=1.0, k=0.5, h=4.0, reset_on_alarm=True))
    assert ev[["start", "end", "samples"]].values.tolist() == [
        [TIMES[1], TIMES[4], 3], [TIMES[7], TIMES[7], 1]]


def test_rule_and_chart_events_are_named_by_rule():
    base = xr.DataArray(np.tile([10.0, 10.2], 20), dims="time", coords={"time": TIMES[:40]})
    lim = fit(base, chart="imr")
    new = xr.DataArray(np.r_[[10.0] * 5, [12.0], [10.15] * 9, [10.0]], dims="time",
                       coords={"time": TIMES[:16]})
    ev = alarm_events(apply(lim, new, rules=["nelson1_beyond_3sigma", "nelson2_9_same_side"]),
                      tag="weld/r")
    assert set(ev.rule) == {"imr_limits", "imr_moving_range_limits", "nelson1_beyond_3sigma",
                            "nelson2_9_same_side"}
    spike = ev[ev.rule == "imr_limits"].iloc[0]
    assert spike.start == TIMES[5] and spike.value == 12.0 and spike.direction == "up"
    mr = ev[ev.rule == "imr_moving_range_limits"]
    assert mr.start.tolist() == [TIMES[5]] and mr.end.tolist() == [TIMES[6]]
    rules = alarm_events(check_rules(new, center=lim.center, sigma=lim.sigma_within), tag="weld/r")
    assert set(rules.rule) == {"nelson1_beyond_3sigma", "nelson2_9_same_side"}


def test_focus_event_reports_the_estimated_shift():
    x = xr.DataArray(np.r_[np.zeros(30), np.full(20, -1.5)], dims="time",
                     coords={"time": TIMES[:50]}, attrs={"units": "degC"})
    ev = alarm_events(focus(x, target=0.0, sigma=0.5), tag="dryroom/frost_point")
    assert len(ev) == 1 and ev.value.iloc[0] == pytest.approx(-1.5) and ev.direction.iloc[0] == "down"


def test_no_alarm_gives_an_empty_table_with_the_columns():
    ev = alarm_events(cusum(xr.DataArray(np.zeros(10), dims="time"), target=0.0, sigma=1.0))
    assert ev.empty and list(ev.columns) == COLUMNS


def test_not_a_detector_dataset_is_refused():
    with pytest.raises(ValueError, match="attrs\\['detector'\\]"):
        alarm_events(xr.Dataset({"alarm": ("time", [True])}))
    with pytest.raises(TypeError):
        alarm_events(xr.DataArray([True], dims="time"))


def test_events_use_the_time_coord_of_per_weld_data():
    x = xr.DataArray([0.0, 5.0, 0.0], dims="weld", coords={"weld": [10, 11, 12], "time": ("weld", TIMES[:3])})
    ev = alarm_events(cusum(x, target=0.0, sigma=1.0, k=0.5, h=4.0, dim="weld"), tag="weld1/r")
    assert ev.start.tolist() == [TIMES[1]]


def test_detection_delays_scores_events_against_truth():
    events = pd.DataFrame({"tag": ["dry/s1", "dry/s2", "coat/lane03", "coat/lane03"],
                           "rule": ["shewhart", "shewhart", "cusum", "cusum"],
                           "start": [TIMES[10], TIMES[12], TIMES[2], TIMES[30]]})
    truth = pd.DataFrame({"kind": ["excursion", "streak", "gauge_drift"],
                          "target": ["dry/*", "coat/lane03", "coat/lane07"],
                          "observed_start": [TIMES[8], TIMES[5], TIMES[0]],
                          "observed_end": [TIMES[20], TIMES[40], TIMES[50]]})
    from workbench.spc import detection_delays
    table = detection_delays(events, truth)
    assert table.detected.tolist() == [True, True, False]
    assert table.tag.tolist()[:2] == ["dry/s1", "coat/lane03"]
    # the lane-3 alarm already running before the streak does not count; the next one does
    assert table.delay.tolist()[:2] == [TIMES[10] - TIMES[8], TIMES[30] - TIMES[5]]
    assert pd.isna(table.delay.iloc[2])

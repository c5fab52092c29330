"""Streaming detectors give exactly the vectorised statistics and alarms; events match too."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.spc import (EventTracker, SPCInputError, StreamingCusum, StreamingEwma,
                           StreamingFocus, StreamingShewhart, alarm_events, cusum, ewma, focus,
                           shewhart)
from workbench.units import ureg

CASES = {
    "cusum": (lambda **kw: StreamingCusum(target=45.0, sigma=0.8, k=0.5, h=4.0, **kw),
              lambda x, **kw: cusum(x, target=45.0, sigma=0.8, k=0.5, h=4.0, **kw)),
    "ewma": (lambda **kw: StreamingEwma(target=45.0, sigma=0.8, lam=0.2, L=2.86, **kw),
             lambda x, **kw: ewma(x, target=45.0, sigma=0.8, lam=0.2, L=2.86, **kw)),
    "ewma_exact": (lambda **kw: StreamingEwma(target=45.0, sigma=0.8, limits="exact", **kw),
                   lambda x, **kw: ewma(x, target=45.0, sigma=0.8, limits="exact", **kw)),
    "shewhart": (lambda **kw: StreamingShewhart(target=45.0, sigma=0.8, L=2.5),
                 lambda x, **kw: shewhart(x, target=45.0, sigma=0.8, L=2.5)),
    "focus": (lambda **kw: StreamingFocus(target=45.0, sigma=0.8, **kw),
              lambda x, **kw: focus(x, target=45.0, sigma=0.8, **kw)),
}


def _weld_resistance(n=400, seed=0):
    """Weld resistance with a window-contamination drift, holes and an irregular clock."""
    rng = np.random.default_rng(seed)
    x = rng.normal(45.0, 0.8, n) + np.clip(np.arange(n) - 250, 0, None) * 0.02
    x[[3, 100, 101, 102, 260]] = np.nan
    x[150] = np.inf
    step = rng.choice([1, 2, 5, 90], size=n, p=[0.6, 0.3, 0.09, 0.01])
    times = pd.Timestamp("2026-01-05 06:00") + pd.to_timedelta(np.cumsum(step), unit="s")
    return xr.DataArray(x, dims="time", coords={"time": times}, attrs={"units": "uohm"})


def _stream(obj, da):
    return [obj.update(v, t) for v, t in zip(da.values, pd.DatetimeIndex(da.time.values))]


# shewhart has no state, so no gap restart or reset to compare
OPTIONS = [(c, o) for c in CASES for o in ({}, {"max_gap": "60s"}, {"reset_on_alarm": True})
           if c != "shewhart" or not o]


@pytest.mark.parametrize("case, options", OPTIONS)
def test_streaming_equals_vectorised_bit_for_bit(case, options):
    make_stream, vectorised = CASES[case]
    da = _weld_resistance()
    ds = vectorised(da, **options)
    rows = _stream(make_stream(**options), da)
    assert ds.alarm.any() and ds.missing.sum() == 6
    for key in rows[0]:
        if key == "time":
            continue
        got = np.array([r[key] for r in rows])
        want = np.broadcast_to(ds[key].values, got.shape)
        assert np.array_equal(got, want, equal_nan=True), key
    if "max_gap" in options:
        assert ds.restart.any()


def test_focus_hull_grows_past_its_initial_room():
    # a steady ramp keeps every point on the convex hull, beyond the 64 preallocated slots
    da = xr.DataArray(0.02 * np.arange(300.0), dims="time",
                      coords={"time": pd.date_range("2026-01-05", periods=300, freq="s")})
    ds = focus(da, target=0.0, sigma=1.0, threshold=1e9)
    obj = StreamingFocus(target=0.0, sigma=1.0, threshold=1e9)
    rows = _stream(obj, da)
    assert len(obj._hulls[0]) > 64
    assert np.array_equal([r["statistic"] for r in rows], ds.statistic.values)


@pytest.mark.parametrize("case", ["cusum", "ewma", "shewhart", "focus"])
def test_event_tracker_gives_the_same_table_as_alarm_events(case):
    make_stream, vectorised = CASES[case]
    da = _weld_resistance(seed=3)
    da[300:320] = 49.0  # a hard excursion so every detector has events
    ds = vectorised(da)
    tracker = EventTracker(case, tag="plant1/cell/weld1/welder/weld_resistance")
    for row in _stream(make_stream(), da):
        tracker.update(row)
    got = tracker.events()
    want = alarm_events(ds, tag="plant1/cell/weld1/welder/weld_resistance")
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_timestamps_must_not_go_backwards_and_tz_is_utc():
    c = StreamingCusum(target=0.0, sigma=1.0)
    first = c.update(0.0, pd.Timestamp("2026-01-05 08:00", tz="Europe/Berlin"))
    assert first["time"] == pd.Timestamp("2026-01-05 07:00")
    c.update(0.0, "2026-01-05T07:00:00")  # equal time is accepted
    with pytest.raises(SPCInputError, match="earlier than the previous sample"):
        c.update(0.0, "2026-01-05T06:59:59")
    with pytest.raises(SPCInputError, match="not a date/time"):
        c.update(0.0, "yesterday-ish")


def test_quantity_values_are_converted_and_none_is_missing():
    c = StreamingCusum(target=20.0, sigma=0.5, units="mg/cm^2", h=4.0)
    r = c.update(ureg.Quantity(230.0, "g/m^2"), "2026-01-05T06:00")  # 23 mg/cm^2: C+ = 3 - 0.25
    assert r["upper"] == pytest.approx(2.75)
    gap = c.update(None, "2026-01-05T06:01")
    assert gap["missing"] and gap["upper"] == r["upper"] and not gap["alarm"]
    with pytest.raises(SPCInputError, match="sigma must be finite"):
        StreamingEwma(target=0.0, sigma=-1.0)

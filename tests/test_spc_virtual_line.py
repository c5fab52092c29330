"""On the virtual line: the SPC detectors raise the injected events, delays reported vs the truth.

Each signal gets the chart an engineer would put on it, with Phase I limits from a stated
in-control window before the event:

- gauge drift: the lane-mean slot-die mass-balance residual (measured - w_s*m/(W*U), which cancels
  pump wear and lot changes), as 1-min means of the ~15 s scans; EWMA lam=0.2 L=4 with the
  baseline's overall sd (the residual is autocorrelated, so MR-bar/d2 would understate it).
- laser window contamination: weld resistance per weld, I-MR Phase I, CUSUM k=0.5 h=5.
- dew-point excursion: every hygrometer (frost and dew point sensors), Shewhart 3.5 sigma on the
  overall sd of each sensor's baseline (10 s samples with a 12-min desiccant cycle).

L=4 rather than 3.5 on the residual: with 3.5 the slow wander of the residual (AR(1) noise and
drift in the simulator) alone brings the EWMA to its limit just before the event, so an "early"
detection there would be luck. The line is seed 0; on other seeds these fixed designs also give
pre-event false alarms from that wander (the charts assume independent samples).

Run with ``-s`` to see the delay table.
"""

import numpy as np
import pandas as pd
import pytest

import workbench.coating  # noqa: F401  (registers the ds.coating accessor)
from workbench import spc
from workbench.simulate import virtual_line

WELD_TAG = "plant1/assembly/weld1/welder/weld_resistance"
RESIDUAL_TAG = "plant1/electrode/coat1/gauge/areal_mass_lane_mean"


@pytest.fixture(scope="module")
def line():
    vl = virtual_line(seed=0)
    return vl.history(hours=8)


def _truth(h, kind):
    rows = h.truth[h.truth.kind == kind]
    assert len(rows) == 1, f"expected one {kind} in the truth table"
    return rows


def _gauge_drift(h):
    resid = h.coating.coating.mass_balance().residual_mean.resample(time="1min").mean()
    resid.attrs["units"] = "mg/cm^2"
    base_start, base_end = pd.Timestamp("2026-01-05 06:05"), pd.Timestamp("2026-01-05 09:00")
    lim = spc.fit(resid, chart="imr", start=base_start, end=base_end)
    ds = spc.ewma(resid, target=lim.center, sigma=lim.baseline["overall_sd"], lam=0.2, L=4.0)
    return spc.alarm_events(ds, tag=RESIDUAL_TAG), base_end, pd.Timedelta("30min")


def _laser_window(h):
    w = h.welding.weld_resistance
    base_end = pd.Timestamp("2026-01-05 07:15")
    lim = spc.fit(w.isel(weld=np.flatnonzero(w.time.values < base_end)), chart="imr", dim="weld")
    ds = spc.cusum(w, target=lim.center, sigma=lim.sigma_within, k=0.5, h=5.0, dim="weld")
    return spc.alarm_events(ds, tag=WELD_TAG), base_end, pd.Timedelta("60min")


def _dewpoint(h):
    x = h.dryroom.dew_frost_point
    base_end = pd.Timestamp("2026-01-05 06:45")
    lim = spc.fit(x, chart="imr", end=base_end)  # per sensor
    # the desiccant cycle makes successive 10 s samples nearly equal: MR-bar/d2 would be ~8x too small
    assert (lim.baseline["lag1_autocorrelation"] > 0.9).all()
    ds = spc.shewhart(x, target=lim.center, sigma=lim.baseline["overall_sd"], L=3.5)
    return spc.alarm_events(ds, tag="{tag}"), base_end, pd.Timedelta("5min")


CASES = {"gauge_drift": _gauge_drift, "laser_window_contamination": _laser_window,
         "dewpoint_excursion": _dewpoint}


@pytest.mark.parametrize("kind", CASES)
def test_detector_raises_the_injected_event_in_time(line, kind):
    events, base_end, max_delay = CASES[kind](line)
    truth = _truth(line, kind)
    scored = spc.detection_delays(events, truth)
    print(f"\n{kind}:\n" + scored[["kind", "truth_start", "rule", "tag", "first_alarm", "delay"]]
          .to_string(index=False))
    assert scored.detected.all(), f"{kind} not detected; events:\n{events}"
    assert (scored.delay >= pd.Timedelta(0)).all() and (scored.delay <= max_delay).all()
    # no false alarm on those tags between the end of Phase I and the start of the event
    early = events[(events.start > base_end) & (events.start < truth.observed_start.iloc[0])]
    assert early.empty, f"false alarms before {kind}:\n{early}"


def test_delay_table_for_all_three_events(line):
    events = pd.concat([CASES[k](line)[0] for k in CASES], ignore_index=True)
    truth = line.truth[line.truth.kind.isin(list(CASES))]
    table = spc.detection_delays(events, truth)
    print("\n" + table[["kind", "truth_start", "first_alarm", "delay", "rule"]].to_string(index=False))
    assert table.detected.all() and len(table) == 3
    # the dew-point excursion is a 12 K jump, the others are slow ramps: it is caught first
    delays = table.set_index("kind").delay
    assert delays["dewpoint_excursion"] < min(delays["gauge_drift"], delays["laser_window_contamination"])

"""The virtual line's physics, determinism and events (workbench.simulate)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.simulate import EVENT_KINDS, Event, EventError, virtual_line

PUMP_SP = "plant1/electrode/coat1/coater/pump_rate_setpoint"
warnings.filterwarnings("ignore", message="virtual line: formation results unavailable")


@pytest.fixture(scope="module")
def h8():
    return virtual_line(seed=0).history(hours=8)


def lane_mean(ds):
    return ds.areal_mass.mean("lane")


# --- setpoint dynamics --------------------------------------------------------------------------------
def test_pump_step_gives_two_percent_after_dead_time_batch():
    base = virtual_line(seed=3, events=None)
    step = virtual_line(seed=3, events=None)
    sp0 = base.schedules["pump"].initial
    assert step.write(PUMP_SP, sp0 * 1.02, at="2h") == pytest.approx(sp0 * 1.02)
    hb, hs = base.history(start="1h", end="3h"), step.history(start="1h", end="3h")
    hs, hb = hs.coating, hb.coating
    ratio = (lane_mean(hs) / lane_mean(hb)).values
    coated = hs.coated_at.values
    write = np.datetime64("2026-01-05T08:00:00")
    before = coated < write + np.timedelta64(3, "s")  # pump dead time 3 s, then lag τ = 10 s
    settled = coated > write + np.timedelta64(3 + 60, "s")
    # Same seed: identical noise, so the ratio isolates the physics (up to the 0.01 mg/cm² quantisation).
    np.testing.assert_array_equal(ratio[before], 1.0)
    np.testing.assert_allclose(ratio[settled], 1.02, atol=0.0012)
    # The gauge sees it one transport delay (36 m at 20 m/min = 108 s) after the write, not earlier.
    first_change = hs.time.values[np.argmax(ratio > 1.001)]
    delay = (first_change - write) / np.timedelta64(1, "s")
    assert 108 + 3 <= delay <= 108 + 3 + 20
    # And as an engineer would check it: window means of one run, before vs after.
    pre = lane_mean(hs).sel(time=slice("2026-01-05T07:30", "2026-01-05T07:59")).mean()
    post = lane_mean(hs).sel(time=slice("2026-01-05T08:05", "2026-01-05T08:35")).mean()
    assert float(post / pre) == pytest.approx(1.02, abs=0.003)


def test_pump_step_live_matches_batch_and_lags():
    vl = virtual_line(seed=4, events=None)
    ref = virtual_line(seed=4, events=None).live(speed=0, start="2h")
    live = vl.live(speed=0, start="2h")
    lanes = [f"plant1/electrode/coat1/gauge/areal_mass_lane{i:02d}" for i in range(1, 25)]
    sp0 = vl.schedules["pump"].initial
    assert live.write(PUMP_SP, sp0 * 1.02) == pytest.approx(sp0 * 1.02)
    live.advance(60)   # inside the transport delay: no change yet
    ref.advance(60)
    a, b = live.read(lanes), ref.read(lanes)
    assert [a[p][0] for p in lanes] == [b[p][0] for p in lanes]
    live.advance(540)  # 10 min after the write: settled
    ref.advance(540)
    a, b = live.read(lanes), ref.read(lanes)
    ratio = np.mean([a[p][0] for p in lanes]) / np.mean([b[p][0] for p in lanes])
    assert ratio == pytest.approx(1.02, abs=0.0015)
    pv = live.read(["plant1/electrode/coat1/coater/pump_rate"])["plant1/electrode/coat1/coater/pump_rate"][0]
    assert pv == pytest.approx(sp0 * 1.02, rel=0.006)
    # The batch history of the same line (which saw the live write) has the same value at that scan.
    ts = a[lanes[0]][2]
    h = vl.history(start=ts - pd.Timedelta("1min"), end=ts + pd.Timedelta("1s"))
    assert float(h.coating.areal_mass.sel(time=ts, lane=1)) == a[lanes[0]][0]


def test_setpoint_write_is_clamped_and_guarded():
    vl = virtual_line(seed=0, events=None)
    assert vl.write(PUMP_SP, 9999.0, at="1h") == 3400.0  # config max
    with pytest.raises(KeyError, match="not a writable setpoint"):
        vl.write("plant1/electrode/coat1/coater/pump_rate", 3000.0, at="1h")
    with pytest.raises(KeyError, match="no tag"):
        vl.write("plant1/electrode/coat1/coater/nope", 1.0, at="1h")
    with pytest.raises(ValueError, match="finite"):
        vl.write(PUMP_SP, float("nan"), at="1h")


def test_line_speed_step_lowers_weight_and_moves_position_faster():
    vl = virtual_line(seed=5, events=None)
    vl.write("plant1/electrode/coat1/coater/line_speed_setpoint", 22.0, at="1h")
    h = vl.history(start="1h", end="2h")
    late = h.coating.sel(time=slice("2026-01-05T07:20", None))
    # m_A ∝ 1/U: 20 -> 22 m/min gives 10/11 of the weight.
    assert float(lane_mean(late).mean()) == pytest.approx(17.2 * 20 / 22, rel=0.004)
    dpos = np.diff(late.position.values)
    dt = np.diff(late.time.values) / np.timedelta64(1, "s")
    ok = dpos > 0  # ignore roll changes
    assert np.median(dpos[ok] / dt[ok] * 60) == pytest.approx(22.0, rel=0.002)


# --- determinism ---------------------------------------------------------------------------------------
def test_same_seed_identical_different_seed_different():
    a, b = virtual_line(seed=7).history(hours=2), virtual_line(seed=7).history(hours=2)
    c = virtual_line(seed=8).history(hours=2)
    for st in ("coating", "dryroom", "welding"):
        xr.testing.assert_identical(getattr(a, st), getattr(b, st))
    pd.testing.assert_frame_equal(a.genealogy.cells, b.genealogy.cells)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    n = 400  # scan times jitter with the seed too, so compare the first scans
    assert not np.allclose(a.coating.areal_mass[:n], c.coating.areal_mass[:n])
    assert (a.coating.time[:n].values != c.coating.time[:n].values).any()
    assert not np.allclose(a.dryroom.dew_frost_point, c.dryroom.dew_frost_point)
    assert not np.allclose(a.welding.weld_resistance, c.welding.weld_resistance)
    assert not a.truth.start.equals(c.truth.start)


def test_history_windows_agree():
    """A window cut out of a longer history equals the history of that window (pure functions of time)."""
    vl = virtual_line(seed=2)
    long = vl.history(hours=4)
    part = vl.history(start="1h", end="3h")
    xr.testing.assert_identical(_per_window(long.coating.sel(time=slice(part.coating.time[0], part.coating.time[-1]))),
                                _per_window(part.coating))
    xr.testing.assert_identical(_per_window(long.dryroom.sel(time=slice("2026-01-05T07:00", "2026-01-05T08:59:59"))),
                                _per_window(part.dryroom))


def _per_window(ds):
    """Without the attrs that count over the window asked for (bad values masked, link drop-outs)."""
    ds = ds.copy()
    for v in [ds, *ds.data_vars.values()]:
        v.attrs.pop("bad_values", None), v.attrs.pop("gaps", None)
    return ds


# --- physics -------------------------------------------------------------------------------------------
def test_mass_balance_holds():
    vl = virtual_line(seed=11, events=None)
    h = vl.history(hours=3)
    c = h.coating.sel(time=slice("2026-01-05T06:10", None))
    W = float(c.coated_width)
    # The gauge scans material laid down one transport delay earlier: shift the process values.
    shift = int(round(float(np.median((c.time - c.coated_at) / np.timedelta64(1, "s"))) / 15))
    expected = (c.solids_fraction * c.pump_rate / (W * c.line_speed) / 10).shift(time=shift)
    resid = (lane_mean(c) - expected).dropna("time")
    assert abs(float(resid.mean())) < 0.02           # mg/cm² out of 17.2: the balance closes to 0.1 %
    assert float(resid.std()) < 0.08
    assert float(lane_mean(c).mean()) == pytest.approx(17.2, rel=0.005)


def test_cd_profile_has_heavy_edges_and_realistic_noise(h8):
    c = h8.coating.sel(time=slice(None, "2026-01-05T08:30"))
    prof = c.areal_mass.mean("time")
    assert float(prof.sel(lane=1)) > float(prof.sel(lane=12)) * 1.01
    assert float(prof.sel(lane=24)) > float(prof.sel(lane=12)) * 1.01
    # Quantised at the gauge resolution (0.01 mg/cm²) and autocorrelated (AR(1)-like, not white).
    vals = c.areal_mass.values
    np.testing.assert_allclose(vals * 100, np.round(vals * 100), atol=1e-6)
    x = (c.areal_mass.sel(lane=10) - lane_mean(c)).values
    x = x - x.mean()
    r1 = np.corrcoef(x[1:], x[:-1])[0, 1]
    assert 0.3 < r1 < 0.9


def test_dryroom_sensor_kinds_and_conversion(h8):
    d = h8.dryroom
    assert list(d.reports.values) == ["frost_point", "frost_point", "frost_point", "dew_point"]
    quiet = d.sel(time=slice("2026-01-05T10:00", "2026-01-05T12:00")).dew_frost_point.median("time")
    # s4 reads the dew point over water: ~3.5-4 K below the frost point at -47 °C (Hardy), plus its location.
    diff = float(quiet.sel(sensor="s1") - quiet.sel(sensor="s4"))
    assert 3.0 + 1.2 - 0.6 < diff < 4.2 + 1.2 + 0.6
    assert -48.5 < float(quiet.sel(sensor="s1")) < -44.0
    # The desiccant wheel shows as a 12-minute cycle in the frost point.
    x = d.dew_frost_point.sel(sensor="s3", time=slice("2026-01-05T10:00", "2026-01-05T13:00")).values
    spec = np.abs(np.fft.rfft(x - x.mean()))
    freq = np.fft.rfftfreq(x.size, d=10.0)
    assert abs(1 / freq[np.argmax(spec[5:]) + 5] - 720) < 60
    assert bool(d.door_open.any())


def test_welds_resistance_near_45_uohm(h8):
    w = h8.welding.sel(weld=h8.welding.time < np.datetime64("2026-01-05T07:30"))
    assert 42 < float(w.weld_resistance.median()) < 48
    assert float(w.laser_energy.median()) == pytest.approx(2500 * 0.008 * 0.97, rel=0.02)
    assert set(np.unique(h8.welding.tab.values)) == {"pos", "neg"}


# --- events --------------------------------------------------------------------------------------------
def test_truth_table_lists_every_kind_once_in_eight_hours(h8):
    t = h8.truth[h8.truth.kind.isin(list(EVENT_KINDS))]  # then the instrument faults (test_simulate_instruments)
    assert h8.truth.kind.iloc[:len(t)].isin(list(EVENT_KINDS)).all()
    assert sorted(t.kind) == sorted(["pump_wear", "slurry_lot_step", "die_lip_streak", "gauge_drift",
                                     "dewpoint_excursion", "laser_window_contamination",
                                     "weak_formation_channel"])
    assert (t.end > t.start).all() and (t.observed_start >= t.start).all()
    assert t.start.dtype == "datetime64[ns]"


def test_streak_lane_is_light_by_the_magnitude(h8):
    ev = h8.truth.set_index("kind").loc["die_lip_streak"]
    lane = int(ev.lane)
    c = h8.coating
    rel = c.areal_mass / lane_mean(c)
    during = rel.sel(time=slice(ev.observed_start + pd.Timedelta("2min"), ev.observed_end))
    before = rel.sel(time=slice(ev.observed_start - pd.Timedelta("60min"), ev.observed_start))
    drop = float(during.sel(lane=lane).mean() / before.sel(lane=lane).mean() - 1) * 100
    assert drop == pytest.approx(ev.magnitude, abs=0.4)
    # Neighbours get the slurry the streak lane misses; lanes further away are unchanged.
    for nb in (lane - 1, lane + 1):
        gain = float(during.sel(lane=nb).mean() / before.sel(lane=nb).mean() - 1) * 100
        assert gain == pytest.approx(-ev.magnitude / 2, abs=0.4)
    far = lane + 5 if lane + 5 <= 24 else lane - 5
    assert abs(float(during.sel(lane=far).mean() / before.sel(lane=far).mean() - 1) * 100) < 0.4
    # The streak lane is the lightest lane only during the event.
    assert int(c.areal_mass.sel(time=during.time).mean("time").argmin("lane")) + 1 == lane


def test_custom_streak_event_exact_against_counterfactual():
    ev = [Event("die_lip_streak", start="1h", end="2h", magnitude=-4.0, lane=9)]
    a = virtual_line(seed=1, events=ev).history(start="30min", end="2h30min")
    b = virtual_line(seed=1, events=None).history(start="30min", end="2h30min")
    ratio = (a.coating.areal_mass / b.coating.areal_mass).sel(lane=9)
    t = a.truth.iloc[0]
    inside = (a.coating.time > t.observed_start) & (a.coating.time < t.observed_end - pd.Timedelta("20s"))
    np.testing.assert_allclose(ratio.where(inside, drop=True).dropna("time"), 0.96, atol=0.0015)  # NaN: bad values
    outside = (a.coating.time < t.observed_start - pd.Timedelta("20s")) | (
        a.coating.time > t.observed_end + pd.Timedelta("20s"))
    np.testing.assert_array_equal(ratio.where(outside, drop=True).dropna("time"), 1.0)


def test_slurry_lot_step_is_one_lot_with_lower_solids(h8):
    ev = h8.truth.set_index("kind").loc["slurry_lot_step"]
    lots = h8.genealogy.lots.set_index("lot_id")
    c = h8.coating
    lot_seen = np.unique(c.lot_id.sel(time=slice(ev.observed_start + pd.Timedelta("30s"),
                                                 ev.observed_end - pd.Timedelta("30s"))).values)
    assert len(lot_seen) == 1
    lot = lot_seen[0]
    assert lots.loc[lot, "start"] == ev.start and lots.loc[lot, "end"] == ev.end
    others = lots.drop(index=lot).solids_fraction
    assert float(lots.loc[lot, "solids_fraction"] - others.mean()) == pytest.approx(ev.magnitude, abs=0.004)
    sf = c.solids_fraction.sel(time=slice(ev.start + pd.Timedelta("1s"), ev.end - pd.Timedelta("1s")))
    assert np.allclose(sf, lots.loc[lot, "solids_fraction"])


def test_gauge_drift_shows_in_the_mass_balance_residual():
    ev = [Event("gauge_drift", start="1h", end="2h", magnitude=0.2)]
    a = virtual_line(seed=2, events=ev).history(hours=2.5)
    b = virtual_line(seed=2, events=None).history(hours=2.5)
    diff = lane_mean(a.coating) - lane_mean(b.coating)
    assert float(diff.sel(time=slice("2026-01-05T07:50", "2026-01-05T07:59:59")).mean()) == pytest.approx(
        0.2 * 0.95, abs=0.01)
    assert float(abs(diff.sel(time=slice(None, "2026-01-05T06:59:59"))).max()) == 0.0
    assert float(abs(diff.sel(time=slice("2026-01-05T08:00:01", None))).max()) < 0.006  # recalibrated
    # Gauge drift is a measurement error: the product (pump, solids) did not change.
    xr.testing.assert_identical(a.coating.pump_rate, b.coating.pump_rate)


def test_dewpoint_excursion_peak_and_timing(h8):
    ev = h8.truth.set_index("kind").loc["dewpoint_excursion"]
    s1 = h8.dryroom.dew_frost_point.sel(sensor="s1")
    base = float(s1.sel(time=slice(ev.start - pd.Timedelta("40min"), ev.start)).median())
    peak = float(s1.sel(time=slice(ev.start, ev.observed_end)).max())
    assert peak - base == pytest.approx(ev.magnitude, abs=2.5)
    over = s1.time.where(s1 > -40.0, drop=True)  # frost-point alarm limit
    assert over.size > 0
    assert ev.start <= pd.Timestamp(over.values[0]) <= ev.end
    assert pd.Timestamp(over.values[-1]) <= ev.observed_end
    # Cells in the dry room during the excursion carry the exposure.
    cells = h8.genealogy.cells
    hit = (cells.dryroom_in < ev.end) & (cells.dryroom_out > ev.start)
    assert hit.sum() > 20
    assert cells[hit].moisture_exposure.median() > 4 * cells[~hit].moisture_exposure.median()


def test_laser_window_contamination_lowers_energy_raises_resistance(h8):
    ev = h8.truth.set_index("kind").loc["laser_window_contamination"]
    w = h8.welding.swap_dims(weld="time")
    late = w.sel(time=slice(ev.end - pd.Timedelta("20min"), ev.end - pd.Timedelta("1s")))
    after = w.sel(time=slice(ev.end, ev.end + pd.Timedelta("60min")))
    e_ratio = float(late.laser_energy.median() / after.laser_energy.median())
    assert e_ratio == pytest.approx(1 + ev.magnitude / 100 * 0.967, abs=0.01)
    r_ratio = float(late.weld_resistance.median() / after.weld_resistance.median())
    assert r_ratio == pytest.approx(e_ratio ** -2.2, rel=0.03)


def test_pump_wear_ramp_shows_in_flow(h8):
    ev = h8.truth.set_index("kind").loc["pump_wear"]
    pr = h8.coating.pump_rate
    start = pr.sel(time=slice(ev.start, ev.start + pd.Timedelta("15min"))).mean()
    end = pr.sel(time=slice(ev.end - pd.Timedelta("15min"), ev.end)).mean()
    assert float(end / start - 1) * 100 == pytest.approx(ev.magnitude * 0.97, abs=0.35)


def test_events_none_and_custom_and_errors():
    assert len(virtual_line(seed=0, events=None, instruments=None).history(hours=1).truth) == 0
    assert not virtual_line(seed=0, events=None).history(hours=1).truth.kind.isin(list(EVENT_KINDS)).any()
    with pytest.raises(EventError, match="unknown event kind"):
        Event("meteor", start="1h", end="2h", magnitude=1.0)
    with pytest.raises(EventError, match="lane"):
        Event("die_lip_streak", start="1h", end="2h", magnitude=-3.0)
    with pytest.raises(EventError, match="not after start"):
        virtual_line(events=[Event("gauge_drift", start="2h", end="1h", magnitude=0.1)])
    with pytest.raises(EventError, match="lane 30"):
        virtual_line(events=[dict(kind="die_lip_streak", start="1h", end="2h", magnitude=-3.0, lane=30)])
    with pytest.raises(TypeError, match="seed"):
        virtual_line(seed="zero")
    with pytest.raises(ValueError, match="hours"):
        virtual_line().history()


def test_truth_targets_and_causes_are_config_tags(h8):
    from workbench.config import default_config_path, load_line_config

    tags = load_line_config(default_config_path()).tags
    t = h8.truth.set_index("kind")
    assert t.loc["die_lip_streak", "target"] == f"plant1/electrode/coat1/gauge/areal_mass_lane{int(t.loc['die_lip_streak', 'lane']):02d}"
    assert t.loc["slurry_lot_step", "target"] == "plant1/electrode/coat1/gauge/areal_mass_lane*"
    assert t.loc["slurry_lot_step", "cause"] == "plant1/electrode/coat1/slurry/solids_fraction"
    assert t.loc["pump_wear", "cause"] == "plant1/electrode/coat1/coater/pump_rate"
    for kind, row in t.iterrows():
        if "*" not in row.target and kind != "weak_formation_channel":
            assert row.target in tags, kind
        assert row.cause == "" or row.cause in tags
    # coating causes at the die reach the gauge one transport delay (≈108 s) later
    lag = (t.loc["slurry_lot_step", "observed_start"] - t.loc["slurry_lot_step", "start"]).total_seconds()
    assert lag == pytest.approx(36 / (20 / 60), abs=1)
    wc = t.loc["weak_formation_channel"]
    assert wc.target == f"plant1/formation/rack{wc.rack}/ch{wc.channel:02d}" and 1 <= wc.rack <= 4


def test_private_hardy_matches_workbench_dewpoint():
    from workbench import dewpoint
    from workbench.simulate import _hardy
    from workbench.units import ureg

    fp = np.array([-70.0, -60.0, -40.0, -20.0])
    ref = dewpoint.dew_point_from_frost_point(ureg.Quantity(fp, "degC")).to("degC").magnitude
    np.testing.assert_allclose(_hardy.dew_from_frost(fp), ref, atol=0.01)
    assert _hardy.ppmv_from_frost(-40.0) == pytest.approx(127, abs=1)
    assert _hardy.e_ice(-60.0) == pytest.approx(1.08, abs=0.01)


def test_quantisation_follows_config_resolution(h8):
    for var, res in (("pump_rate", 0.1), ("line_speed", 0.01), ("solids_fraction", 1e-4)):
        v = h8.coating[var].values / res
        np.testing.assert_allclose(v, np.round(v), atol=1e-6, err_msg=var)
    v = h8.welding.laser_energy.values / 0.01
    np.testing.assert_allclose(v, np.round(v), atol=1e-6)
    v = h8.dryroom.dew_frost_point.values / 0.1
    np.testing.assert_allclose(v, np.round(v), atol=1e-6)


def test_dryroom_setpoint_step_dead_time_and_lag():
    sp = "plant1/dryroom/room1/ahu/frost_point_setpoint"
    a, b = virtual_line(seed=6, events=None), virtual_line(seed=6, events=None)
    assert a.write(sp, -56.0, at="2h") == -56.0
    ha, hb = a.history(start="1h", end="4h"), b.history(start="1h", end="4h")
    diff = (ha.dryroom.dew_frost_point - hb.dryroom.dew_frost_point).sel(sensor="s1")
    write = np.datetime64("2026-01-05T08:00:00")
    t = (diff.time.values - write) / np.timedelta64(1, "s")
    np.testing.assert_array_equal(diff.values[t <= 60], 0.0)  # dead time 60 s: nothing before
    # first-order lag, τ = 600 s: 63 % of the -4 K step after one τ, ~all of it after 6 τ
    one_tau = float(diff.sel(time=slice(write + np.timedelta64(630, "s"), write + np.timedelta64(690, "s"))).mean())
    assert one_tau == pytest.approx(-4 * (1 - np.exp(-1)), abs=0.15)
    assert float(diff.sel(time=slice("2026-01-05T09:10", None)).mean()) == pytest.approx(-4.0, abs=0.1)
    # the dew-point sensor follows through Hardy's conversion (a bit more than 4 K lower at -50 °C)
    d4 = (ha.dryroom.dew_frost_point - hb.dryroom.dew_frost_point).sel(sensor="s4", time=slice("2026-01-05T09:10", None))
    assert float(d4.mean()) == pytest.approx(-4.2, abs=0.25)
    np.testing.assert_array_equal(ha.dryroom.frost_point_setpoint.sel(time=slice("2026-01-05T08:00", None)), -56.0)


def test_laser_power_step_raises_energy_and_lowers_resistance():
    sp = "plant1/assembly/weld1/welder/laser_power_setpoint"
    a, b = virtual_line(seed=6, events=None), virtual_line(seed=6, events=None)
    a.write(sp, 2600.0, at="1h")
    wa, wb = a.history(start="1h", end="2h").welding, b.history(start="1h", end="2h").welding
    ratio_e = (wa.laser_energy / wb.laser_energy).values
    np.testing.assert_allclose(ratio_e[1:], 2600 / 2500, atol=0.001)   # the weld at the write sees the dead time
    ratio_r = float((wa.weld_resistance / wb.weld_resistance)[1:].median())
    assert ratio_r == pytest.approx((2500 / 2600) ** 2.2, abs=0.004)
    assert float(wa.laser_power[1:].mean()) == pytest.approx(2600, abs=2)


def test_local_excursion_only_in_its_zone():
    ev = [Event("dewpoint_excursion", start="1h", end="1h30min", magnitude=8.0, sensor="s3")]
    a = virtual_line(seed=3, events=ev).history(hours=3)
    b = virtual_line(seed=3, events=None).history(hours=3)
    diff = (a.dryroom.dew_frost_point - b.dryroom.dew_frost_point).sel(time=slice("2026-01-05T07:25", "2026-01-05T07:30"))
    assert float(diff.sel(sensor="s3").mean()) == pytest.approx(8.0 * (1 - np.exp(-5)), abs=0.3)
    assert float(abs(diff.drop_sel(sensor="s3")).max()) == 0.0
    assert a.truth.target.iloc[0] == "plant1/dryroom/room1/hygrometer/frost_point_s3"
    # the cells' zone is s2: a leak at s3 does not expose them
    np.testing.assert_array_equal(a.genealogy.cells.moisture_exposure, b.genealogy.cells.moisture_exposure)
    with pytest.raises(EventError, match="sensor 's9'"):
        virtual_line(events=[dict(kind="dewpoint_excursion", start="1h", end="2h", magnitude=5.0, sensor="s9")])


def test_config_driven_tags_and_clear_errors(tmp_path):
    import yaml

    from workbench.config import default_config_path
    from workbench.simulate.tagmap import TagMapError

    raw = yaml.safe_load(default_config_path().read_text())
    raw["site"] = "plant2"
    for st in raw["stations"]:
        for tag in st["tags"]:
            tag["path"] = tag["path"].replace("plant1/", "plant2/")
            if "setpoint" in tag and tag["setpoint"].get("readback"):
                tag["setpoint"]["readback"] = tag["setpoint"]["readback"].replace("plant1/", "plant2/")
    coat = raw["stations"][0]
    coat["tags"][0]["units"] = "g/m^2"   # the lane tags in another unit: live converts
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(raw))
    vl = virtual_line(seed=0, config=path)
    live = vl.live(speed=0, start="1h")
    got = live.read(["plant2/electrode/coat1/gauge/areal_mass_lane01", "plant2/electrode/coat1/gauge/areal_mass_lane02"])
    v1, u1, _ = got["plant2/electrode/coat1/gauge/areal_mass_lane01"]
    assert u1 == "g/m^2" and 150 < v1 < 200   # 17 mg/cm² = 170 g/m²
    coat["tags"].append({"path": "plant2/electrode/coat1/coater/viscosity", "units": "Pa*s"})
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(TagMapError, match="no simulated signal for coating tag 'plant2/electrode/coat1/coater/viscosity'"):
        virtual_line(config=path)


def test_times_accept_aware_and_offsets():
    vl = virtual_line(seed=0, start=pd.Timestamp("2026-03-01T08:00", tz="Europe/Berlin"), events=None)
    assert vl.start == pd.Timestamp("2026-03-01T07:00")   # stored as tz-naive UTC
    a = vl.history(start=pd.Timestamp("2026-03-01T09:00", tz="UTC"), hours=0.5)
    b = vl.history(start="2h", hours=0.5)
    xr.testing.assert_identical(a.coating, b.coating)
    c = vl.history(start="-1h", end="0h")  # the line is warm: before its start works too
    assert c.coating.sizes["time"] == pytest.approx(240, abs=2) and len(c.genealogy.cells) == 90
    with pytest.raises(ValueError, match="end must be after start"):
        vl.history(start="2h", end="1h")


def test_line_pickles_and_keeps_its_writes():
    """Dask workers and subprocesses get a copy of the line: same values, same setpoint history."""
    import pickle

    vl = virtual_line(seed=12)
    vl.write(PUMP_SP, 3000.0, at="30min")
    copy = pickle.loads(pickle.dumps(vl))
    xr.testing.assert_identical(vl.history(hours=1).coating, copy.history(hours=1).coating)


def test_events_act_only_inside_their_truth_windows(h8):
    quiet = virtual_line(seed=0, events=None).history(hours=8)
    t = h8.truth.set_index("kind")

    def outside(times, *rows, pad="30s"):
        keep = np.ones(times.size, dtype=bool)
        for r in rows:
            keep &= ~((times >= r.start - pd.Timedelta(pad)) & (times <= r.observed_end + pd.Timedelta(pad)))
        return keep

    c = outside(h8.coating.time.values, *(t.loc[k] for k in ("pump_wear", "slurry_lot_step", "die_lip_streak",
                                                              "gauge_drift")))
    assert c.sum() > 20
    np.testing.assert_array_equal(h8.coating.areal_mass.values[c], quiet.coating.areal_mass.values[c])
    assert not np.array_equal(h8.coating.areal_mass.values[~c], quiet.coating.areal_mass.values[~c])
    d = outside(h8.dryroom.time.values, t.loc["dewpoint_excursion"], pad="0s")
    np.testing.assert_array_equal(h8.dryroom.dew_frost_point.values[d], quiet.dryroom.dew_frost_point.values[d])
    w = outside(h8.welding.time.values, t.loc["laser_window_contamination"], pad="0s")
    np.testing.assert_array_equal(h8.welding.weld_resistance.values[w], quiet.welding.weld_resistance.values[w])
    assert (h8.welding.weld_resistance.values[~w] != quiet.welding.weld_resistance.values[~w]).mean() > 0.5

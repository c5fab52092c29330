"""The virtual line's formation racks: causal effects, determinism, curves == results == live channels."""

import doctest
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import workbench.formation as fm
import workbench.simulate.formation as sim

T0 = pd.Timestamp("2026-01-05T06:00", tz="UTC")


def _cells(n=4, *, areal_mass=17.2, moisture=0.0, weld=90.0, rack=1, first_channel=1, prefix="C", start=T0):
    return pd.DataFrame({
        "cell_id": [f"{prefix}{k:03d}" for k in range(n)], "rack": rack,
        "channel": first_channel + np.arange(n), "formation_start": start,
        "areal_mass": areal_mass, "moisture_exposure": moisture, "weld_resistance": weld,
    })


def test_docstring_examples_run():
    result = doctest.testmod(sim)
    assert result.attempted > 10 and result.failed == 0


def test_ocv_is_plausible_nmc_graphite():
    s = np.linspace(0, 1, 101)
    v = sim.ocv(s)
    assert np.all(np.diff(v) > 0)
    assert 2.4 < v[0] < 2.6 and 4.15 < v[-1] < 4.22 and 3.6 < sim.ocv(0.5) < 3.8


def test_capacity_is_proportional_to_areal_mass():
    light = sim.formation_results(_cells(16, areal_mass=17.2, prefix="L"), seed=0)
    heavy = sim.formation_results(_cells(16, areal_mass=17.2 * 1.10, prefix="H"), seed=0)
    ratio = float(heavy.charge_capacity.mean() / light.charge_capacity.mean())
    assert ratio == pytest.approx(1.10, abs=0.005)
    assert float(light.discharge_capacity.mean()) == pytest.approx(3.0, abs=0.1)   # a ~3 Ah cell
    assert light.charge_capacity.attrs["units"] == "A*h"


def test_weld_resistance_raises_dcir():
    good = sim.formation_results(_cells(16, weld=90.0, prefix="G"), seed=0)
    cold = sim.formation_results(_cells(16, weld=190.0, prefix="K"), seed=0)
    shift = float(cold.dcir.mean() - good.dcir.mean())               # mΩ for +100 µΩ
    assert shift == pytest.approx(0.100, abs=0.02)
    assert 0.07 < shift / float(good.dcir.mean()) < 0.14             # ~10 % of a ~1 mΩ cell
    assert good.dcir.attrs["dt_s"] == 1.0 and good.dcir.attrs["units"] == "mohm"


def test_moisture_lowers_first_cycle_ce_and_raises_k():
    dry = sim.formation_results(_cells(16, moisture=0.0, prefix="D"), seed=0)
    wet = sim.formation_results(_cells(16, moisture=2000.0, prefix="W"), seed=0)
    assert float(dry.coulombic_efficiency.mean() - wet.coulombic_efficiency.mean()) > 0.025
    assert float(wet.discharge_capacity.mean()) < float(dry.discharge_capacity.mean()) * 0.97
    assert float(wet.k_value.mean() - dry.k_value.mean()) == pytest.approx(6.0, abs=0.3)   # 3e-3 mV/day per ppmv·h
    assert float(wet.dcir.mean()) > float(dry.dcir.mean())
    assert 0.85 < float(dry.coulombic_efficiency.mean()) < 0.90


def _line_cells(n_days=5, seed=7):
    """4 racks x 16 channels, a new cell on every channel each day; areal mass varies like a coater."""
    rows = []
    rng = np.random.default_rng(seed)
    for day in range(n_days):
        for rack in range(1, 5):
            for ch in range(1, 17):
                rows.append({"cell_id": f"D{day}R{rack}C{ch:02d}", "rack": rack, "channel": ch,
                             "formation_start": T0 + pd.Timedelta(days=day) + pd.Timedelta(minutes=ch),
                             "areal_mass": rng.normal(17.2, 0.15), "moisture_exposure": rng.exponential(50.0),
                             "weld_resistance": rng.normal(90.0, 5.0)})
    return pd.DataFrame(rows)


def _weak_event(target="plant1/formation/rack2/ch07", magnitude=-3.0, units="percent"):
    return pd.DataFrame([{"kind": "weak_formation_channel", "station": "formation", "target": target,
                          "start": pd.Timestamp("2026-01-05T00:00"), "end": pd.Timestamp("2026-01-20T00:00"),
                          "magnitude": magnitude, "units": units},
                         {"kind": "pump_wear", "station": "coating", "target": "x", "start": T0, "end": T0,
                          "magnitude": 1.0, "units": "percent"}])


def test_weak_channel_is_the_only_channel_flagged():
    cells = _line_cells()
    res = sim.formation_results(cells, seed=3, events=_weak_event())
    out = fm.channel_imbalance(res, "discharge_capacity")
    flagged = out.flagged.to_series()
    assert flagged[flagged].index.tolist() == [(2, 7)]
    clean = fm.channel_imbalance(sim.formation_results(cells, seed=3, events=None), "discharge_capacity")
    assert not bool(clean.flagged.any())
    # capacity per areal mass (joined from genealogy) removes the coating spread: a sharper z
    per_mass = (res.discharge_capacity / xr.DataArray(cells.areal_mass.to_numpy(), dims="cell")).rename("q_per_mass")
    sharp = fm.channel_imbalance(res, per_mass)
    assert sharp.flagged.to_series().pipe(lambda f: f[f].index.tolist()) == [(2, 7)]
    assert float(sharp.robust_z.sel(rack=2, channel=7)) < float(out.robust_z.sel(rack=2, channel=7)) < -3.5
    # one cell per channel (a single day) is reported but not tested: no false alarms, no verdict
    one_day = cells[cells.cell_id.str.startswith("D0")]
    single = fm.channel_imbalance(sim.formation_results(one_day, seed=3, events=_weak_event()))
    assert int(single.n_cells.max()) == 1 and not bool(single.flagged.any()) and bool(single.p_value.isnull().all())
    # the shortfall is the event's magnitude
    weak = res.discharge_capacity.where((res.rack == 2) & (res.channel == 7), drop=True)
    base = sim.formation_results(cells, seed=3).discharge_capacity.where((res.rack == 2) & (res.channel == 7), drop=True)
    np.testing.assert_allclose((weak / base).values, 0.97, rtol=1e-9)


def test_same_seed_same_results_other_seed_differs():
    cells = _cells(8)
    a, b = sim.formation_results(cells, seed=5), sim.formation_results(cells, seed=5)
    c = sim.formation_results(cells, seed=6)
    assert a.identical(b)
    assert not np.allclose(a.discharge_capacity, c.discharge_capacity)
    # a cell's results do not depend on which other cells are simulated with it
    single = sim.formation_results(cells.iloc[[3]], seed=5)
    assert float(single.dcir[0]) == float(a.dcir[3])


def test_analysing_the_curves_gives_back_the_results():
    cells = pd.concat([_cells(2, prefix="A"), _cells(2, moisture=1500.0, weld=200.0, prefix="B", first_channel=5)])
    events = _weak_event(target="plant1/formation/rack1/ch06")
    res = sim.formation_results(cells, seed=11, events=events)
    curves = sim.formation_curves(cells, seed=11, events=events)
    lengths = {k: v.sizes["sample"] for k, v in curves.items()}
    assert len(set(lengths.values())) > 1                       # ragged: no common length
    got = fm.summarise(curves, dt=1.0, k_t1="1 day", k_t2="3 day")
    assert got.cell_id.values.tolist() == res.cell_id.values.tolist()
    for var in ("charge_capacity", "discharge_capacity", "coulombic_efficiency", "dcir"):
        np.testing.assert_allclose(got[var].values, res[var].values, rtol=1e-9, err_msg=var)
    np.testing.assert_allclose(got.k_value.values, res.k_value.values, atol=1e-9)
    d = fm.dcir(curves["A000"], nominal_capacity=3.0)
    assert float(d.soc[0]) == pytest.approx(50.0, abs=1.0)
    assert float(d.current[0]) == pytest.approx(-9.0, abs=0.01)


def test_simulated_curve_is_physical():
    cur = sim.formation_curves(_cells(1), seed=0)["C000"]
    assert float(cur.voltage.max()) <= 4.2 + 5e-4
    assert 0.2 < float(cur.voltage[0]) < 0.5                      # a fresh, uncharged cell
    steps = fm.step_table(cur)
    assert steps.direction.tolist()[:6] == ["rest", "charge", "charge", "charge", "rest", "discharge"]
    assert steps.current.iloc[1] == pytest.approx(0.3, abs=1e-3) and steps.current.iloc[2] == pytest.approx(0.6, abs=1e-3)
    # dQ/dV of the C/5 discharge: NMC|graphite peaks inside 3.4-4.15 V
    peaks = fm.dqdv_peaks(fm.dqdv(cur, cycle=1, direction="discharge", nominal_capacity=3.0)).values
    assert peaks.size >= 2 and np.all((peaks > 3.4) & (peaks < 4.15))
    # a K-value read right after formation is refused
    with pytest.raises(fm.RestTooShortError, match="relax"):
        fm.k_value(cur, t1="2 h")


def test_live_channel_values_equal_the_curves():
    cells = pd.concat([_cells(2), _cells(1, prefix="N", start=T0 + pd.Timedelta(hours=23))])
    cells.loc[cells.cell_id == "N000", "channel"] = 1           # next cell on channel 1
    line = sim.FormationLine(cells, seed=2)
    for cid in ("C000", "N000"):
        cur = sim.formation_curves(cells, seed=2)[cid]
        row = cells[cells.cell_id == cid].iloc[0]
        on = cur.time.values < cur.attrs["on_channel_s"]
        times = row.formation_start + pd.to_timedelta(np.round(cur.time.values[on] * 10).astype("int64") * 100_000_000)
        got = line.channel_values(row.rack, row.channel, times)
        for var in ("voltage", "current", "temperature", "capacity"):
            np.testing.assert_array_equal(got[var], cur[var].values[on], err_msg=f"{cid} {var}")
    idle = line.channel_values(1, 2, [T0 + pd.Timedelta(hours=22)])      # C001 left, nothing new
    assert np.isnan(idle["voltage"][0]) and idle["current"][0] == 0.0
    assert "plant1/formation/rack1/ch01/voltage" in line.paths()
    # all channels at once (the live read path) equals channel by channel
    t = T0 + pd.Timedelta(hours=7, seconds=30)
    every = line.values_at(t)
    for k, (rack, ch) in enumerate(line.channels):
        one = line.channel_values(rack, ch, [t])
        for var in every:
            np.testing.assert_array_equal(every[var][k], one[var][0])


def test_overlapping_cells_warn_and_the_later_cell_owns_the_channel():
    cells = pd.concat([_cells(1), _cells(1, prefix="X", start=T0 + pd.Timedelta(hours=5))])
    with pytest.warns(UserWarning, match="X000"):
        line = sim.FormationLine(cells, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = line.channel_values(1, 1, [T0 + pd.Timedelta(hours=5, seconds=1)])["voltage"][0]
    assert v < 1.0                                                # the fresh cell X000, not C000 at ~3.6 V


def test_bad_cells_and_events_are_named():
    with pytest.raises(ValueError, match="weld_resistance"):
        sim.formation_results(_cells(2).drop(columns="weld_resistance"), seed=0)
    bad = _cells(3)
    bad.loc[1, "areal_mass"] = np.nan
    with pytest.raises(ValueError, match=r"areal_mass row 1 \(cell 'C001'\)"):
        sim.formation_results(bad, seed=0)
    with pytest.raises(ValueError, match="'rack2/ch07'"):
        sim.formation_results(_cells(2), seed=0, events=_weak_event(target="rack two"))
    ok = _cells(2).assign(rack="rack1", channel=["ch01", "ch02"])
    assert sim.formation_results(ok, seed=0).channel.values.tolist() == [1, 2]


def test_virtual_line_formation_carries_moisture_and_weld_causes():
    from scipy.stats import spearmanr

    from workbench.schema import validate
    from workbench.simulate import virtual_line

    h = virtual_line(seed=0).history(hours=8)
    f = validate(h.formation, station="formation")
    cells = h.genealogy.cells.set_index("cell_id").loc[f.cell_id.values]
    # the dew-point excursion's cells (100-300 ppmv·h) have lower first-cycle CE and higher K
    assert spearmanr(cells.moisture_exposure, f.coulombic_efficiency).statistic < -0.25
    assert spearmanr(cells.moisture_exposure, f.k_value).statistic > 0.25
    # welds in series with the cell: higher weld resistance, higher DCIR (slope ≈ 1 µΩ per µΩ)
    assert spearmanr(cells.weld_resistance, f.dcir).statistic > 0.2
    slope = np.polyfit(cells.weld_resistance.to_numpy(), f.dcir.to_numpy(), 1)[0]
    assert slope == pytest.approx(1e-3, rel=0.35)                 # mΩ per µΩ

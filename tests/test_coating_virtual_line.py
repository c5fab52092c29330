"""Coating model on the virtual line: mass balance holds, the die-lip streak lane has the lowest Cpk."""

import warnings

import numpy as np
import pytest

import workbench.coating  # noqa: F401  (registers ds.coating)
from workbench import simulate
from workbench.units import ureg

Q = ureg.Quantity
LSL, USL = Q(16.86, "mg/cm^2"), Q(17.54, "mg/cm^2")  # virtual_line.yaml spec: 17.2 ± 2 %


@pytest.fixture(scope="module")
def quiet_line():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # formation results may be missing while that part lands
        return simulate.virtual_line(seed=0, events=None).history(hours=3)


@pytest.fixture(scope="module")
def eventful_line():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate.virtual_line(seed=0).history(hours=8)


def test_mass_balance_weight_on_the_virtual_line(quiet_line):
    ds = quiet_line.coating
    mb = ds.coating.mass_balance()  # uses coated_at (die time of each scan)
    # lane-mean measured weight equals w_s * m_dot / (W * U) within gauge noise and lab solids error
    assert abs(float(mb.residual_mean.mean())) < 0.03  # mg/cm², < 0.2 % of 17.2
    assert float(abs(mb.residual_mean).quantile(0.99)) < 0.1
    expected = ds.coating.expected_areal_mass()
    assert float(expected.mean()) == pytest.approx(17.2, abs=0.1)
    # ignoring the die -> gauge delay is measurably worse; the path/speed estimate is as good as coated_at
    naive = ds.coating.mass_balance(transport_delay="0s")
    assert float(naive.residual_mean.std()) > 1.2 * float(mb.residual_mean.std())
    by_path = ds.coating.mass_balance(path_length=Q(ds.attrs["path_m"], "m"))
    assert float(by_path.residual_mean.std()) == pytest.approx(float(mb.residual_mean.std()), rel=0.05)


def test_die_lip_streak_lane_has_the_lowest_cpk(eventful_line):
    h = eventful_line
    streak = h.truth[h.truth.kind == "die_lip_streak"]
    assert len(streak) == 1
    lane = int(streak.lane.iloc[0])
    cap = h.coating.coating.capability(LSL, USL)
    assert int(cap.cpk.idxmin("lane")) == lane
    others = cap.cpk.drop_sel(lane=lane)
    assert float(cap.cpk.sel(lane=lane)) < float(others.min()) - 0.5
    # the CD profile during the streak shows the starved lane as the minimum of the scan
    win = h.coating.areal_mass.sel(time=slice(streak.observed_start.iloc[0], streak.observed_end.iloc[0]))
    assert int(win.mean("time").idxmin("lane")) == lane


def test_heavy_edges_and_md_trend_on_the_virtual_line(quiet_line):
    prof = quiet_line.coating.coating.cd_profile()
    assert float(prof.edge_to_centre.mean()) > 0.1  # heavy edges (bead spreads at the die ends)
    assert float(prof.smile.mean()) > 0
    tr = quiet_line.coating.coating.md_trend(window="10min")
    assert tr.slope.dims == ("lane",) and np.all(np.isfinite(tr.slope.values))
    middle_roll = str(quiet_line.coating.roll_id.values[quiet_line.coating.sizes["time"] // 2])
    web = quiet_line.coating.coating.along_web(middle_roll)
    assert web.position.to_index().is_monotonic_increasing

"""Western Electric and Nelson rules on hand-made sequences that trigger exactly one rule each."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from workbench.spc import NELSON, RULES, SPCInputError, WESTERN_ELECTRIC, check_rules

# sequence in sigma units around center 0 -> (rule that must fire, the samples where it fires)
WE_CASES = {
    "we1_beyond_3sigma": ([0.5, -0.5, 3.5, -0.5], [2]),
    "we2_2of3_beyond_2sigma": ([0.5, 2.5, -0.5, 2.5, -0.5], [3]),
    "we3_4of5_beyond_1sigma": ([1.5, 1.5, -0.5, 1.5, 1.5], [4]),
    "we4_8_same_side": ([-0.5] + [0.5] * 8, [8]),
}
NELSON_CASES = {
    "nelson1_beyond_3sigma": ([0.5, -0.5, -3.5, -0.5], [2]),
    "nelson2_9_same_side": ([0.5] + [-0.5] * 9, [9]),
    "nelson3_6_trending": ([-0.5, -0.3, -0.1, 0.1, 0.3, 0.5], [5]),
    "nelson4_14_alternating": ([0.5, -0.5] * 7, [13]),
    "nelson5_2of3_beyond_2sigma": ([-0.5, -2.5, 0.5, -2.5, 0.5], [3]),
    "nelson6_4of5_beyond_1sigma": ([1.5, 1.5, -0.5, 1.5, 1.5], [4]),
    "nelson7_15_within_1sigma": ([0.5, 0.3, -0.4, -0.2, 0.6] * 3, [14]),
    "nelson8_8_outside_1sigma": ([1.5, 1.5, -1.5, -1.5] * 2, [7]),
}


def _fired(ds, names):
    return {n: np.flatnonzero(ds[n].values).tolist() for n in names if ds[n].any()}


@pytest.mark.parametrize("family, cases", [(WESTERN_ELECTRIC, WE_CASES), (NELSON, NELSON_CASES)])
def test_each_sequence_triggers_exactly_its_rule(family, cases):
    assert set(cases) == set(family)
    for rule, (z, where) in cases.items():
        # on a chart with center 45 uohm and sigma 2 uohm
        x = xr.DataArray(45.0 + 2.0 * np.array(z), dims="time", attrs={"units": "uohm"})
        ds = check_rules(x, center=45.0, sigma=2.0, rules=family)
        assert _fired(ds, family) == {rule: where}, rule
        assert np.flatnonzero(ds.alarm.values).tolist() == where


def test_rules_are_switchable_one_by_one():
    x = xr.DataArray([0.5] * 9, dims="time")
    only_we4 = check_rules(x, center=0, sigma=1, rules="we4_8_same_side")
    assert list(only_we4.attrs["rules"].split(",")) == ["we4_8_same_side"]
    assert "nelson2_9_same_side" not in only_we4
    assert only_we4.alarm.values.tolist() == [False] * 7 + [True] * 2
    nothing = check_rules(x, center=0, sigma=1, rules=["nelson1_beyond_3sigma"])
    assert not nothing.alarm.any()


def test_missing_samples_are_skipped_by_the_patterns():
    z = np.array([-0.5, 0.5, 0.5, np.nan, 0.5, 0.5, np.inf, 0.5, 0.5, 0.5, 0.5])
    ds = check_rules(xr.DataArray(z, dims="time"), center=0, sigma=1, rules=WESTERN_ELECTRIC)
    # 8 valid points in a row above the center, the holes neither break nor count
    assert np.flatnonzero(ds.we4_8_same_side.values).tolist() == [10]
    assert ds.missing.values.tolist() == [i in (3, 6) for i in range(11)]


def test_rules_vectorise_over_lanes_and_stay_lazy():
    z = np.zeros((2, 12))
    z[1, 4:12] = 1.2  # lane 2: 8 in a row above 1 sigma on one side -> WE3 and WE4
    lazy = xr.DataArray(dsa.from_array(z, chunks=(1, 12)), dims=("lane", "time"))
    ds = check_rules(lazy, center=0.0, sigma=1.0, rules=WESTERN_ELECTRIC)
    assert ds.alarm.chunks is not None
    fired = ds.compute()
    assert not fired.alarm[0].any()
    assert np.flatnonzero(fired.we3_4of5_beyond_1sigma[1].values).tolist() == [7, 8, 9, 10, 11]
    assert np.flatnonzero(fired.we4_8_same_side[1].values).tolist() == [11]


def test_every_rule_has_a_description_and_a_family():
    assert len(WESTERN_ELECTRIC) == 4 and len(NELSON) == 8
    assert all(RULES[n].description for n in RULES)


@pytest.mark.parametrize("rules", [["we9_unknown"], [], "nelson9"])
def test_unknown_rule_names_are_listed(rules):
    with pytest.raises(SPCInputError, match="choose from"):
        check_rules(xr.DataArray([0.0], dims="time"), center=0, sigma=1, rules=rules)

"""Control limits that persist: fitted on a history window, versioned, approved before use, loaded at start."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from apps.cli import main as cli
from workbench import spc
from workbench.history import HistoryStore, TagSpec
from workbench.spc import limitsets

TAG = "plant1/assembly/weld1/welder/weld_resistance"
OTHER = "plant1/assembly/weld1/welder/laser_energy"
T0 = pd.Timestamp("2026-03-02 06:00", tz="UTC")


@pytest.fixture()
def store(tmp_path):
    """A welding station: 300 in-control welds (45 uohm, sd 1) then 300 shifted by +3 uohm."""
    root = tmp_path / "store"
    s = HistoryStore(root)
    s.declare_station("welding", [TagSpec(TAG, "uohm", 0.1), TagSpec(OTHER, "J", 0.01)], kind="generic")
    rng = np.random.default_rng(7)
    t = T0 + pd.to_timedelta(np.arange(600) * 30, unit="s")
    r = np.r_[rng.normal(45.0, 1.0, 300), rng.normal(48.0, 1.0, 300)]
    s.append("welding", t, {TAG: r, OTHER: rng.normal(2.0, 0.05, 600)})
    return root, t, np.round(r, 1)


def test_fit_uses_exactly_the_window_and_matches_spc_fit(store):
    root, t, r = store
    end = t[299]
    ls = limitsets.fit_limit_set(root, TAG, start=T0, end=end, by="anna", why="baseline after tip change")
    expect = spc.fit(__import__("xarray").DataArray(r[:300], dims="time", attrs={"units": "uohm"}))
    assert ls.samples == 300
    assert ls.center == pytest.approx(expect.center, abs=1e-9)
    assert ls.ucl == pytest.approx(expect.ucl, abs=1e-9) and ls.lcl == pytest.approx(expect.lcl, abs=1e-9)
    assert ls.units == "uohm" and ls.station == "welding"
    assert (ls.window_start, ls.window_end) == (T0.isoformat(), end.isoformat())
    assert ls.version == 0 and not ls.approved  # not saved, not in force
    # the window after the shift gives other limits: the window really selects the data
    later = limitsets.fit_limit_set(root, TAG, start=t[300], end=t[-1], by="anna", why="after shift")
    assert later.center - ls.center > 2.5


def test_only_approved_sets_are_in_force_and_versions_count_up(store):
    root, t, _ = store
    assert limitsets.in_force(root, TAG) is None
    first = limitsets.save(root, limitsets.fit_limit_set(root, TAG, start=T0, end=t[299], by="anna", why="Phase I"))
    assert first.version == 1 and limitsets.in_force(root, TAG) is None
    limitsets.approve(root, first.id, by="ben", when="2026-03-03T08:00Z")
    assert limitsets.in_force(root, TAG).id == first.id
    second = limitsets.save(root, limitsets.fit_limit_set(root, TAG, start=t[300], end=t[-1], by="anna",
                                                          why="new electrode supplier"))
    assert second.version == 2
    assert limitsets.in_force(root, TAG).id == first.id  # saved is not in force
    limitsets.approve(root, second.id, by="ben", when="2026-03-04T08:00Z")
    now = limitsets.in_force(root, TAG)
    assert (now.id, now.approved_by, now.why) == (second.id, "ben", "new electrode supplier")
    assert limitsets.in_force(root, OTHER) is None  # per tag
    # a chart from the stored set: Phase II with the numbers that were approved
    ds = spc.apply(now.chart_limits(), __import__("xarray").DataArray([now.center, now.ucl + 1], dims="time",
                                                                      attrs={"units": "uohm"}))
    assert ds.alarm.values.tolist() == [False, True]


def test_sets_are_written_once(store):
    root, t, _ = store
    ls = limitsets.save(root, limitsets.fit_limit_set(root, TAG, start=T0, end=t[299], by="a", why="w"))
    limitsets.approve(root, ls.id, by="b")
    with pytest.raises(limitsets.LimitSetError, match="approved already by b"):
        limitsets.approve(root, ls.id, by="c")
    with pytest.raises(limitsets.LimitSetError, match="never overwritten"):
        limitsets.save(root, limitsets.fit_limit_set(root, TAG, start=T0, end=t[299], by="a", why="w").__class__(
            **{**ls.__dict__, "approved_by": None, "approved_at": None}))
    doc = json.loads((root / "limits" / f"{ls.id}.json").read_text())
    assert doc["fitted_by"] == "a" and "approved_by" not in doc


@pytest.mark.parametrize("kwargs, message", [
    (dict(tag="plant1/assembly/weld1/welder/nope"), "no station of this store keeps tag"),
    (dict(start="2026-03-01 00:00", end="2026-03-01 01:00"), "valid samples"),
    (dict(start="2026-03-02 08:00", end="2026-03-02 07:00"), "not after its start"),
    (dict(by=" "), "say who fits"),
    (dict(why=""), "say why"),
    (dict(chart="xbar_r"), "subgroup size 1"),
])
def test_bad_requests_say_what_and_how(store, kwargs, message):
    root, t, _ = store
    args = dict(tag=TAG, start=T0, end=t[299], by="anna", why="Phase I") | kwargs
    with pytest.raises(limitsets.LimitSetError, match=message):
        limitsets.fit_limit_set(root, args.pop("tag"), **args)
    assert not (root / "limits").exists() or not list((root / "limits").iterdir())


def test_subgrouped_chart(store):
    root, t, r = store
    ls = limitsets.fit_limit_set(root, TAG, start=T0, end=t[299], by="a", why="w", chart="xbar_r", subgroup_size=5)
    assert ls.samples == 60 and ls.center == pytest.approx(r[:300].mean(), abs=1e-9)


def test_cli_fit_approve_list_and_a_fresh_process_loads_the_same_set(store, capsys):
    root, t, _ = store
    assert cli(["limits", "fit", "--store", str(root), "--tag", TAG, "--start", str(T0), "--end", str(t[299]),
                "--by", "anna", "--why", "Phase I baseline"]) == 0
    out = capsys.readouterr().out
    set_id = out.split()[0]
    assert "NOT approved" in out
    assert cli(["limits", "approve", set_id, "--store", str(root), "--by", "ben"]) == 0
    assert cli(["limits", "list", "--store", str(root)]) == 0
    assert f"* {set_id} v1" in capsys.readouterr().out
    # a restart: another process reads the same set, nothing is refitted
    code = (f"from workbench.spc.limitsets import in_force; s = in_force({str(root)!r}, {TAG!r}); "
            f"print(s.id, s.ucl)")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert got == [set_id, repr(limitsets.load(root, set_id).ucl)]
    assert len(list((root / "limits").glob("ls-*.json"))) == 2  # the set and its approval, nothing new
    assert cli(["limits", "approve", "ls-00000000", "--store", str(root), "--by", "ben"]) == 1
    assert "no limit set 'ls-00000000'" in capsys.readouterr().err

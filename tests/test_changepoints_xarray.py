"""detect() as an xarray function: shape and coords, laziness on dask, a distributed cluster, joint detection,
time-based minimum length, NaN policy, segments, link_events, and clear errors."""

import dask
import dask.array
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.changepoints import ChangepointInputError, detect, link_events, segments
from workbench.units import ureg


def _coating(n_time=600, n_lane=6, seed=0):
    """areal mass (mg/cm^2) per lane at 1 min; slurry lot L2 starts at 300 (all lanes +0.3), lane 4 streak at 450."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2026-01-05 06:00", periods=n_time, freq="1min")
    x = 20.0 + 0.1 * rng.normal(size=(n_time, n_lane))
    x[300:] += 0.3
    if n_lane > 4:
        x[450:, 4] -= 0.5
    lot = np.where(np.arange(n_time) < 300, "L1", "L2")
    return xr.DataArray(
        x, dims=("time", "lane"), name="areal_mass",
        coords={"time": t, "lane": np.arange(1, n_lane + 1), "lot_id": ("time", lot)},
        attrs={"units": "mg/cm^2"},
    )


class _RaiseOnCompute:
    def __call__(self, dsk, keys, **kwargs):
        raise RuntimeError("detect() computed a dask graph; it must stay lazy")


def test_flags_have_the_input_shape_coords_and_mark_segment_starts():
    da = _coating()
    flags = detect(da)
    assert flags.dtype == bool and flags.dims == da.dims and flags.shape == da.shape
    assert (flags.time.values == da.time.values).all() and "lot_id" in flags.coords
    assert not flags.isel(time=0).any()
    by_lane = {int(lane): np.flatnonzero(flags.sel(lane=lane).values).tolist() for lane in flags.lane}
    assert all(len(v) == 1 and abs(v[0] - 300) <= 3 for k, v in by_lane.items() if k != 5), by_lane
    assert len(by_lane[5]) == 2 and abs(by_lane[5][1] - 450) <= 3, by_lane


def test_lazy_on_dask_input_and_same_result_when_computed():
    da = _coating().chunk({"lane": 2, "time": 100})  # time split on purpose: detect rechunks the core dim
    with dask.config.set(scheduler=_RaiseOnCompute()):
        lazy = detect(da)
    assert isinstance(lazy.data, dask.array.Array)
    assert lazy.chunks[lazy.dims.index("lane")] == (2, 2, 2)
    np.testing.assert_array_equal(lazy.compute(scheduler="synchronous").values, detect(_coating()).values)


def test_runs_on_a_two_worker_distributed_cluster():
    import distributed  # a declared dependency: missing means a broken install, which must fail
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with distributed.Client(cluster):
            workers = list(cluster.workers.values())
            before = [w.state.executed_count for w in workers]
            flags = detect(_coating(n_lane=8))  # numpy input: detect ships blocks to the active client
            after = [w.state.executed_count for w in workers]
            lazy = detect(_coating(n_lane=8).chunk({"lane": 4})).compute()  # dask input computed on the client
    assert all(a > b for a, b in zip(after, before)), (before, after)  # both workers ran blocks
    np.testing.assert_array_equal(flags.values, lazy.values)
    np.testing.assert_array_equal(flags.values, detect(_coating(n_lane=8)).values)


def test_joint_detection_across_lanes_finds_a_common_step_too_small_per_lane():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 24))
    x[500:] += 0.2  # 0.2 sd on every lane: too weak for one lane, strong jointly
    da = xr.DataArray(x, dims=("time", "lane"))
    separate = detect(da)
    joint = detect(da, joint="lane")
    assert separate.any(dim="time").sum() <= 4
    found = np.flatnonzero(joint.isel(lane=0).values)
    assert len(found) == 1 and abs(found[0] - 500) <= 5
    assert bool((joint == joint.isel(lane=0)).all())


def test_min_duration_is_converted_with_the_sampling_interval():
    rng = np.random.default_rng(2)
    t = pd.date_range("2026-01-05", periods=400, freq="30s")
    x = rng.normal(size=400)
    x[200:206] += 3.5  # a 3-minute excursion
    da = xr.DataArray(x, dims="time", coords={"time": t})
    assert np.flatnonzero(detect(da).values).tolist() == [200, 206]
    assert not detect(da, min_duration="10min").any()  # 10 min = 20 samples: too short to be its own segment
    assert detect(da, min_duration="10min").attrs["min_size"] == 20


def test_nan_gaps_are_skipped_and_all_nan_series_have_no_changes():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 1000))
    x[0, 500:] += 4.0
    x[0, 490:510] = np.nan  # gap across the step: the change is flagged at the first valid sample after it
    x[1, :] = np.nan
    x[2, ::7] = np.nan
    flags = detect(xr.DataArray(x, dims=("series", "time")))
    assert np.flatnonzero(flags[0].values).tolist() == [510]
    assert not flags[1].any() and not flags[2].any()


def test_pint_quantified_input_and_units_kept_in_segments():
    da = _coating().pint.quantify(unit_registry=ureg)
    flags = detect(da)
    seg = segments(_coating(), flags)
    assert seg.attrs["units"] == "mg/cm^2"
    lane5 = seg[seg.lane == 5]
    assert lane5.segment.tolist() == [0, 1, 2]
    assert lane5.start.iloc[1] == pd.Timestamp("2026-01-05 11:00")
    assert lane5.end.iloc[0] == pd.Timestamp("2026-01-05 10:59")
    np.testing.assert_allclose(lane5.level, [20.0, 20.3, 19.8], atol=0.03)
    assert lane5.n.sum() == 600


def test_link_events_names_the_lot_that_began_at_the_change():
    da = _coating()
    flags = detect(da)
    linked = link_events(flags, "lot_id", tolerance="15min")
    at_lot = linked[abs(linked.time - pd.Timestamp("2026-01-05 11:00")) <= pd.Timedelta("3min")]
    assert len(at_lot) == 6 and set(at_lot.lot_id) == {"L2"}
    assert (at_lot.lot_id_start == pd.Timestamp("2026-01-05 11:00")).all()
    assert (abs(at_lot.lot_id_lag) <= pd.Timedelta("3min")).all() and (at_lot.lot_id_lag == pd.Timedelta(0)).sum() >= 4
    streak = linked[linked.time == pd.Timestamp("2026-01-05 13:30")]
    assert streak.lane.tolist() == [5] and streak.lot_id.isna().all()  # no lot began near the streak


def test_link_events_with_tables_of_starts_and_several_contexts():
    da = _coating()
    rolls = pd.DataFrame({"start": pd.to_datetime(["2026-01-05 05:00Z", "2026-01-05 13:28Z"]), "roll_id": ["R1", "R2"]})
    linked = link_events(detect(da), {"roll": rolls, "lot": "lot_id"}, tolerance="5min")
    streak = linked[linked.lane == 5].iloc[-1]
    assert streak.roll == "R2" and streak.roll_lag == pd.Timedelta("2min") and pd.isna(streak.lot)


def test_ruptures_methods_run_with_the_same_policy():
    x = np.r_[np.zeros(60), np.full(60, 5.0), np.zeros(60)] + np.random.default_rng(4).normal(size=180)
    da = xr.DataArray(x, dims="time")
    expected = np.flatnonzero(detect(da).values).tolist()
    assert np.flatnonzero(detect(da, method="kernelcpd").values).tolist() == expected
    assert np.flatnonzero(detect(da, method="binseg", n_bkps=2).values).tolist() == expected
    assert np.flatnonzero(detect(da, method="dynp", n_bkps=2).values).tolist() == expected


def test_progress_bar_goes_to_stderr(capsys):
    detect(_coating(), progress=True)
    out, err = capsys.readouterr()
    assert "100% Completed" in err and out == ""


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(dim="lane_x"), ChangepointInputError, "dim 'lane_x' is not a dimension"),
        (dict(penalty="bic"), ChangepointInputError, "use 'auto' or a positive number"),
        (dict(penalty=-1.0), ChangepointInputError, "penalty"),
        (dict(min_size=0), ChangepointInputError, "min_size"),
        (dict(min_duration="ten minutes"), ChangepointInputError, "not a duration"),
        (dict(method="magic"), ChangepointInputError, "method"),
        (dict(cost="l1"), ChangepointInputError, "numeric penalty or n_bkps"),
        (dict(method="dynp"), ChangepointInputError, "needs n_bkps"),
        (dict(joint="time"), ChangepointInputError, "joint"),
    ],
)
def test_bad_arguments_raise_named_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        detect(_coating(60, 2), **kwargs)


def test_bad_inputs_raise_named_errors():
    with pytest.raises(TypeError, match="Dataset"):
        detect(_coating().to_dataset())
    with pytest.raises(TypeError, match="DataArray"):
        detect(np.zeros(10))
    shuffled = _coating(60, 2).isel(time=np.r_[30:60, 0:30])
    with pytest.raises(ChangepointInputError, match="sortby"):
        detect(shuffled)
    with pytest.raises(ChangepointInputError, match="coordinate"):
        detect(xr.DataArray(np.zeros(50), dims="time"), min_duration="10min")

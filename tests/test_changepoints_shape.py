"""The shape option (detect(method="shape")): changes in pattern found, none on no-change generators."""

import numpy as np
import pytest
import xarray as xr

from workbench.changepoints import ChangepointInputError, detect
from workbench.changepoints.synthetic import process_noise

KINDS = ["white", "ar1", "quantised", "ar1_quantised", "trend", "sine"]


@pytest.mark.parametrize("kind", KINDS)
def test_no_change_in_pattern_on_series_without_changes(kind):
    values = process_noise(kind, (10, 1500), np.random.default_rng(21))  # O(n^2): small on purpose
    flags = detect(xr.DataArray(values, dims=("series", "time")), method="shape").values
    assert np.mean(~flags.any(axis=1)) >= 0.95


def test_a_change_of_shape_at_the_same_level_and_spread_is_found():
    t = np.arange(2400)
    found = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        sine = np.sin(2 * np.pi * t / 40)
        square = np.sign(sine) / np.sqrt(2)  # same mean (0) and sd (0.71) as the sine: only the shape changes
        x = np.where(t < 1400, sine, square) + 0.1 * rng.normal(size=t.size)
        res = detect(xr.DataArray(x, dims="time"), method="shape")
        found.append(np.flatnonzero(res.values))
        assert res.attrs["model"] == "shape: 1"
    assert all(f.size == 1 and abs(int(f[0]) - 1400) <= 40 for f in found)


def test_shape_takes_no_penalty():
    with pytest.raises(ChangepointInputError, match="method='shape' takes no penalty"):
        detect(xr.DataArray(np.zeros(100), dims="time"), method="shape", penalty=3.0)

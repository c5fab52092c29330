"""Formation results -> grades and rack x channel imbalance (re-exported by :mod:`workbench.models.formation`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from workbench.cyclers.curve import FormationDataError
from workbench.units import to_units


# grade -> {variable: (min, max, units)}; the first grade whose limits all hold wins, else "reject".
DEFAULT_GRADES = {
    "A": {"discharge_capacity": (2.90, None, "A*h"), "dcir": (None, 1.20, "mohm"),
          "k_value": (None, 1.5, "mV/day"), "coulombic_efficiency": (0.86, None, "1")},
    "B": {"discharge_capacity": (2.80, None, "A*h"), "dcir": (None, 1.35, "mohm"),
          "k_value": (None, 2.5, "mV/day"), "coulombic_efficiency": (0.84, None, "1")},
    "C": {"discharge_capacity": (2.65, None, "A*h"), "dcir": (None, 1.60, "mohm"),
          "k_value": (None, 4.0, "mV/day"), "coulombic_efficiency": (0.80, None, "1")},
}


def grade(results: xr.Dataset, rules: Mapping | None = None) -> xr.DataArray:
    """Grade each cell into bins: the first grade in ``rules`` whose limits all hold, else "reject";
    a cell with NaN in a graded variable is "ungraded". Limits are (min, max, units) and are
    compared after converting the variable to those units.

    >>> r = xr.Dataset({"discharge_capacity": ("cell", [3.0, 2.7], {"units": "A*h"})})
    >>> grade(r, {"A": {"discharge_capacity": (2.9, None, "A*h")}}).values.tolist()
    ['A', 'reject']
    """
    rules = DEFAULT_GRADES if rules is None else rules
    n = results.sizes.get("cell", 0)
    out = np.full(n, "reject", dtype=object)
    decided = np.zeros(n, dtype=bool)
    missing = np.zeros(n, dtype=bool)
    for name, limits in rules.items():
        ok = np.ones(n, dtype=bool)
        for var, (lo, hi, units) in limits.items():
            if var not in results:
                raise FormationDataError(f"grade {name!r} uses {var!r}, which the results lack; "
                                         f"have {list(results.data_vars)}")
            bare = xr.DataArray(results[var].values, dims=results[var].dims, attrs=results[var].attrs)
            x = to_units(bare, units, name=var).values.astype(float)   # no coords: avoids copying cell ids
            missing |= ~np.isfinite(x)
            if lo is not None:
                ok &= x >= lo
            if hi is not None:
                ok &= x <= hi
        take = ok & ~decided
        out[take], decided = name, decided | take
    out[missing] = "ungraded"
    return xr.DataArray(out.astype(str), dims="cell", name="grade",
                        attrs={"rules": repr({k: dict(v) for k, v in rules.items()})})


def channel_imbalance(results: xr.Dataset, variable="discharge_capacity", *, z_threshold: float = 3.5,
                      alpha: float = 0.01, min_cells: int = 3) -> xr.Dataset:
    """Channels whose cells differ from the rest of their rack (dims rack, channel).

    ``variable`` names a variable of ``results`` or is a DataArray over ``cell`` (e.g. capacity per
    areal mass, which removes the coating's cell-to-cell spread). Test, per channel against the
    other channels of its rack: robust z = (median_channel − median_rest) / (1.4826·MAD_rest ·
    1.2533/√n_channel) (the standard error of a median from a robust σ). Flagged when |z| >
    ``z_threshold`` AND a two-sided Mann–Whitney U test gives p < ``alpha`` / (channels tested in the
    rack) (Bonferroni). Channels with fewer than ``min_cells`` cells are reported (z) but not tested
    (p NaN, never flagged): with one cell per channel, 64 single-value z-scores against a MAD from 15
    cells give false alarms; pool a few days of history instead (a busy line loads each channel
    about once a day).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(3.0, 0.01, 64); x[8:12] -= 0.1
    >>> r = xr.Dataset({"discharge_capacity": ("cell", x, {"units": "A*h"})},
    ...                coords={"rack": ("cell", np.ones(64, int)), "channel": ("cell", np.repeat(np.arange(1, 17), 4))})
    >>> out = channel_imbalance(r)
    >>> out.channel.values[out.flagged.sel(rack=1).values].tolist()
    [3]
    """
    for name in ("rack", "channel"):
        if name not in results.variables:
            raise FormationDataError(f"channel_imbalance: results lack {name!r}; need rack(cell) and channel(cell)")
    if isinstance(variable, xr.DataArray):
        values, label, units = variable, str(variable.name), variable.attrs.get("units", "")
    elif variable in results.variables:
        values, label, units = results[variable], variable, results[variable].attrs.get("units", "")
    else:
        raise FormationDataError(f"channel_imbalance: results lack {variable!r}; have {list(results.data_vars)}")
    df = pd.DataFrame({"rack": results.rack.values, "channel": results.channel.values,
                       "x": np.asarray(values.values, dtype=float)}).dropna()
    racks, chans = np.unique(df.rack), np.unique(df.channel)
    shape = (len(racks), len(chans))
    n, med, z, p = np.zeros(shape, int), np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    rk, chn, xs = df.rack.to_numpy(), df.channel.to_numpy(), df.x.to_numpy()
    for a, rack in enumerate(racks):
        x_r, ch_r = xs[rk == rack], chn[rk == rack]
        for b, ch in enumerate(chans):
            mine, rest = x_r[ch_r == ch], x_r[ch_r != ch]
            n[a, b] = mine.size
            if not mine.size or rest.size < 3:
                continue
            med[a, b] = np.median(mine)
            mad = 1.4826 * np.median(np.abs(rest - np.median(rest)))
            se = max(mad, 1e-12 * max(1.0, abs(np.median(rest)))) * 1.2533 / np.sqrt(mine.size)
            z[a, b] = (np.median(mine) - np.median(rest)) / se
            if mine.size >= min_cells:
                p[a, b] = stats.mannwhitneyu(mine, rest, alternative="two-sided").pvalue
    tested = np.isfinite(p).sum(axis=1, keepdims=True)
    flagged = (np.abs(np.nan_to_num(z)) > z_threshold) & (np.nan_to_num(p, nan=1.0) < alpha / np.maximum(tested, 1))
    return xr.Dataset(
        {"n_cells": (("rack", "channel"), n), "median": (("rack", "channel"), med, {"units": units}),
         "robust_z": (("rack", "channel"), z), "p_value": (("rack", "channel"), p),
         "flagged": (("rack", "channel"), flagged)},
        coords={"rack": racks, "channel": chans},
        attrs={"variable": label, "test": f"|robust z| > {z_threshold} and Mann-Whitney p < {alpha}/channels "
                                          f"tested in the rack (Bonferroni); channels with < {min_cells} cells "
                                          f"untested"},
    )

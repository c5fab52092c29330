"""Western Electric and Nelson run rules, each named and individually switchable.

Every rule looks at z = (x - center) / sigma (sigma of the plotted statistic) and fires at the
sample that *completes* its pattern; for the "k of m" rules that sample must itself be one of the
k, so a pattern is flagged once and not again while it merely stays in the window. Run rules keep
firing while the run goes on. Missing values (NaN, +-inf) are skipped: patterns are formed by the
valid samples in order, and a missing sample never fires.

Names (``RULES[name].description`` has the wording):

====================================  =================================================
we1_beyond_3sigma / nelson1_...       1 point beyond 3 sigma
we2_2of3_beyond_2sigma / nelson5_...  2 of 3 in a row beyond 2 sigma, same side
we3_4of5_beyond_1sigma / nelson6_...  4 of 5 in a row beyond 1 sigma, same side
we4_8_same_side                       8 in a row on one side of the center
nelson2_9_same_side                   9 in a row on one side of the center
nelson3_6_trending                    6 in a row steadily increasing or decreasing
nelson4_14_alternating                14 in a row alternating up and down
nelson7_15_within_1sigma              15 in a row within 1 sigma (either side)
nelson8_8_outside_1sigma              8 in a row beyond 1 sigma, both sides present
====================================  =================================================

>>> import xarray as xr
>>> ds = check_rules(xr.DataArray([0, 0.5, 3.4, 0.1], dims="time"), center=0, sigma=1,
...                  rules=WESTERN_ELECTRIC)
>>> ds.we1_beyond_3sigma.values.tolist(), ds.alarm.values.tolist()
([False, False, True, False], [False, False, True, False])
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import xarray as xr
from numba import njit

from workbench.spc._inputs import SPCInputError, apply_rows, as_dataarray, param, positive


@njit(cache=True)
def _k_of_m(z, k, m, limit):
    """k of the last m beyond +limit (or all beyond -limit), the current one among them."""
    n = z.size
    out = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        for sign in (1.0, -1.0):
            if sign * z[i] > limit:
                cnt = 0
                for j in range(max(0, i - m + 1), i + 1):
                    if sign * z[j] > limit:
                        cnt += 1
                if cnt >= k:
                    out[i] = True
    return out


@njit(cache=True)
def _same_side(z, run):
    out = np.zeros(z.size, dtype=np.bool_)
    up = down = 0
    for i in range(z.size):
        up = up + 1 if z[i] > 0 else 0
        down = down + 1 if z[i] < 0 else 0
        out[i] = up >= run or down >= run
    return out


@njit(cache=True)
def _trending(z, points):
    out = np.zeros(z.size, dtype=np.bool_)
    inc = dec = 0
    for i in range(1, z.size):
        inc = inc + 1 if z[i] > z[i - 1] else 0
        dec = dec + 1 if z[i] < z[i - 1] else 0
        out[i] = inc >= points - 1 or dec >= points - 1
    return out


@njit(cache=True)
def _alternating(z, points):
    out = np.zeros(z.size, dtype=np.bool_)
    run = 0  # number of consecutive differences alternating in sign, ending at i
    prev = 0.0
    for i in range(1, z.size):
        d = z[i] - z[i - 1]
        if d != 0.0 and prev != 0.0 and (d > 0) != (prev > 0):
            run += 1
        else:
            run = 1 if d != 0.0 else 0
        prev = d
        out[i] = run >= points - 1
    return out


@njit(cache=True)
def _within(z, run, limit):
    out = np.zeros(z.size, dtype=np.bool_)
    cnt = 0
    for i in range(z.size):
        cnt = cnt + 1 if abs(z[i]) < limit else 0
        out[i] = cnt >= run
    return out


@njit(cache=True)
def _outside_both_sides(z, run, limit):
    out = np.zeros(z.size, dtype=np.bool_)
    cnt = 0
    for i in range(z.size):
        cnt = cnt + 1 if abs(z[i]) > limit else 0
        if cnt >= run:
            hi = lo = False
            for j in range(i - run + 1, i + 1):
                hi = hi or z[j] > limit
                lo = lo or z[j] < -limit
            out[i] = hi and lo
    return out


@dataclass(frozen=True)
class Rule:
    """A named run rule: ``test(z)`` -> bool array, True where the rule fires."""

    name: str
    description: str
    test: Callable[[np.ndarray], np.ndarray]


_DEFS = [
    ("beyond_3sigma", "1 point beyond 3 sigma", lambda z: np.abs(z) > 3.0),
    ("2of3_beyond_2sigma", "2 of 3 in a row beyond 2 sigma on the same side",
     lambda z: _k_of_m(z, 2, 3, 2.0)),
    ("4of5_beyond_1sigma", "4 of 5 in a row beyond 1 sigma on the same side",
     lambda z: _k_of_m(z, 4, 5, 1.0)),
]
RULES: dict[str, Rule] = {}
for _i, (_key, _text, _fn) in enumerate(_DEFS):
    RULES[f"we{_i + 1}_{_key}"] = Rule(f"we{_i + 1}_{_key}", _text, _fn)
RULES["we4_8_same_side"] = Rule("we4_8_same_side", "8 in a row on one side of the center",
                                lambda z: _same_side(z, 8))
for _name, _text, _fn in [
    ("nelson1_beyond_3sigma", _DEFS[0][1], _DEFS[0][2]),
    ("nelson2_9_same_side", "9 in a row on one side of the center", lambda z: _same_side(z, 9)),
    ("nelson3_6_trending", "6 in a row steadily increasing or decreasing",
     lambda z: _trending(z, 6)),
    ("nelson4_14_alternating", "14 in a row alternating up and down",
     lambda z: _alternating(z, 14)),
    ("nelson5_2of3_beyond_2sigma", _DEFS[1][1], _DEFS[1][2]),
    ("nelson6_4of5_beyond_1sigma", _DEFS[2][1], _DEFS[2][2]),
    ("nelson7_15_within_1sigma", "15 in a row within 1 sigma of the center",
     lambda z: _within(z, 15, 1.0)),
    ("nelson8_8_outside_1sigma", "8 in a row beyond 1 sigma, on both sides of the center",
     lambda z: _outside_both_sides(z, 8, 1.0)),
]:
    RULES[_name] = Rule(_name, _text, _fn)

WESTERN_ELECTRIC: tuple[str, ...] = tuple(n for n in RULES if n.startswith("we"))
NELSON: tuple[str, ...] = tuple(n for n in RULES if n.startswith("nelson"))


def _select(rules: Iterable[str] | str) -> tuple[str, ...]:
    names = (rules,) if isinstance(rules, str) else tuple(rules)
    unknown = [n for n in names if n not in RULES]
    if unknown or not names:
        raise SPCInputError(f"unknown or no rule names {unknown}; choose from {sorted(RULES)} or "
                            f"the sets WESTERN_ELECTRIC / NELSON")
    return names


def _rows_kernel(names: tuple[str, ...]):
    def kernel(x2, center, sigma):
        outs = tuple(np.zeros(x2.shape, dtype=bool) for _ in names)
        for r in range(x2.shape[0]):
            valid = np.isfinite(x2[r])
            z = np.ascontiguousarray((x2[r, valid] - center[r]) / sigma[r])
            for out, name in zip(outs, names):
                out[r, valid] = RULES[name].test(z)
        return outs
    return kernel


def _as_center(ctr: Any) -> xr.DataArray:
    return ctr if isinstance(ctr, xr.DataArray) else xr.DataArray(ctr)


def check_rules(x: Any, *, center: Any, sigma: Any, rules: Iterable[str] | str = NELSON,
                dim: str = "time") -> xr.Dataset:
    """Evaluate run rules on a chart statistic; one boolean variable per rule plus ``alarm``.

    ``center`` and ``sigma`` are the center line and the sigma *of the plotted values* (for an
    X-bar chart sigma/sqrt(n)), floats in the data's units, Quantities, or DataArrays without
    ``dim``. Lazy on dask input.

    >>> import xarray as xr
    >>> ds = check_rules(xr.DataArray([1.0] * 9, dims="time"), center=0, sigma=2,
    ...                  rules=["nelson2_9_same_side", "we4_8_same_side"])
    >>> ds.nelson2_9_same_side.values[-2:].tolist(), int(ds.we4_8_same_side.sum())
    ([False, True], 2)
    """
    where = "workbench.spc.check_rules"
    names = _select(rules)
    da = as_dataarray(x, dim, where=where)
    units = da.attrs.get("units")
    ctr = param(center, units, name="center", where=where, difference=False)
    sig = param(sigma, units, name="sigma", where=where, difference=True)
    positive(sig, "sigma", where)
    outs = apply_rows(_rows_kernel(names), da, dim, [ctr, sig], [bool] * len(names))
    ds = xr.Dataset({n: o.transpose(*da.dims, ...).assign_attrs(description=RULES[n].description)
                     for n, o in zip(names, outs)})
    ds["alarm"] = functools.reduce(operator.or_, (ds[n] for n in names))
    ds["missing"] = ~np.isfinite(da)
    ds["value"], ds["center"] = da, _as_center(ctr)
    ds.attrs.update(detector="rules", rules=",".join(names), dim=dim)
    return ds

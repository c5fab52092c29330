"""Dry-room humidity: saturation vapour pressure, dew point, frost point, ppmv, humidity ratio.

Equations (see docs/DOMAIN.md):

- Hardy, B. (1998) "ITS-90 formulations for vapor pressure, frostpoint temperature, dewpoint temperature,
  and enhancement factors in the range -100 to +100 C", Proc. 3rd Int. Symp. Humidity & Moisture.
  Over water (valid -100...+100 degC, supercooled below 0) and over ice (-100...0.01 degC), T in K, e in Pa.
- Magnus form with Sonntag (1990) constants, the quick form for streaming and cross-checks:
  e_w = 611.2 Pa * exp(17.62 t / (243.12 + t)), e_i = 611.2 Pa * exp(22.46 t / (272.62 + t)), t in degC.
  It agrees with Hardy to better than 0.35 % over water (-40...+60 degC) and 0.15 % over ice
  (-60...0 degC); it drifts beyond that (about -2.4 % over water at -60 degC).

Dew point and frost point are found by inverting e_w / e_i with Newton's method (|dT| < 1e-9 K at exit),
vectorised over arrays; the Magnus forms invert in closed form.

Physical domain (outside it a :class:`HumidityValueError` names the value and the valid range; NaN
inputs, i.e. gaps, stay NaN): a frost point exists only at or below the triple point of water, 0.01 degC
(611.657 Pa): above it vapour condenses as liquid, so a "frost point" of +30 degC dew-point air is refused;
RH must be above 0 % (bone-dry air has no dew point, it tends to -inf) and at most 100 %; the humidity
ratio needs 0 <= e < P. :func:`to_basis` (station readings) follows the hygrometer convention
instead: readings at or above 0.01 degC are dew points whatever the basis and are kept as they are,
so an excursion is never lost to an error.

Every argument carries units: a pint Quantity, a quantified DataArray, or a DataArray with
``attrs["units"]``. A bare number raises :class:`~workbench.units.MissingUnitError`; a wrong dimension
raises pint's ``DimensionalityError`` naming the argument. DataArray inputs give DataArray outputs
(lazy on dask, quantified if an input was quantified); Quantity inputs give Quantities.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
import pint
import xarray as xr

from workbench.models.humidity_domain import (TRIPLE_K, HumidityValueError, check_dew_point_for_ice,
                                              check_humidity_ratio, check_pressure, check_rh, check_rh_for_ice,
                                              check_temperature, check_vapour)
from workbench.units import magnitude_in, to_units, ureg

__all__ = [
    "STANDARD_PRESSURE",
    "ENHANCEMENT_FACTOR",
    "HumidityValueError",
    "saturation_vapour_pressure",
    "dew_point",
    "frost_point",
    "dew_point_from_rh",
    "frost_point_from_rh",
    "dew_point_from_frost_point",
    "frost_point_from_dew_point",
    "ppmv_from_frost_point",
    "frost_point_from_ppmv",
    "humidity_ratio",
    "to_basis",
    "excursions",
    "minutes_above",
    "DewpointAccessor",
]

STANDARD_PRESSURE = ureg.Quantity(101.325, "kPa")
#: Water-vapour enhancement factor in air near 1 atm and -40 degC (Hardy 1998 gives f = 1.004-1.005
#: between -60 and 0 degC at 101.325 kPa). Pass ``enhancement_factor=`` for other conditions.
ENHANCEMENT_FACTOR = 1.004

# Hardy (1998) ITS-90 coefficients.
_G = np.array([-2.8365744e3, -6.028076559e3, 1.954263612e1, -2.737830188e-2,
               1.6261698e-5, 7.0229056e-10, -1.8680009e-13, 2.7150305])
_K = np.array([-5.8666426e3, 2.232870244e1, 1.39387003e-2, -3.4262402e-5,
               2.7040955e-8, 6.7063522e-1])
# Magnus / Sonntag (1990): (a [Pa], b, c [degC]).
_MAGNUS = {"water": (611.2, 17.62, 243.12), "ice": (611.2, 22.46, 272.62)}
_ZERO_C = 273.15
_BASES = ("frost_point", "dew_point")


# ----------------------------------------------------------------------------- numeric kernels (K, Pa)

def _check_choice(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {allowed}")


def _ln_es_hardy(T: np.ndarray, over: str) -> tuple[np.ndarray, np.ndarray]:
    """ln e_s(T) [ln Pa] and its derivative d ln e_s / dT [1/K] (Hardy 1998)."""
    if over == "water":
        powers = np.arange(7) - 2
        terms = [_G[i] * T ** float(p) for i, p in enumerate(powers)]
        dterms = [_G[i] * p * T ** float(p - 1) for i, p in enumerate(powers)]
        return sum(terms) + _G[7] * np.log(T), sum(dterms) + _G[7] / T
    powers = np.arange(5) - 1
    terms = [_K[i] * T ** float(p) for i, p in enumerate(powers)]
    dterms = [_K[i] * p * T ** float(p - 1) for i, p in enumerate(powers)]
    return sum(terms) + _K[5] * np.log(T), sum(dterms) + _K[5] / T


def _saturation_pa(T: Any, over: str, method: str, name: str = "temperature") -> np.ndarray:
    T = np.asarray(T, dtype=float)
    check_temperature(T, over, name)
    if method == "magnus":
        a, b, c = _MAGNUS[over]
        t = T - _ZERO_C
        return a * np.exp(b * t / (c + t))
    return np.exp(_ln_es_hardy(T, over)[0])


def _invert_pa(e: Any, over: str, method: str) -> np.ndarray:
    """Temperature [K] at which e_s(T) = e. e = 0 (bone-dry, dew point -> -inf) gives NaN."""
    e = np.asarray(e, dtype=float)
    check_vapour(e, over)
    a, b, c = _MAGNUS[over]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log(e / a)
        T = c * x / (b - x) + _ZERO_C  # Magnus inverse, also the Newton start
        T = np.where(e > 0, T, np.nan)
    if method == "magnus":
        return T
    ln_e = np.log(np.where(e > 0, e, np.nan))
    for _ in range(50):  # Newton on ln e_s(T) - ln e; 3-4 steps from the Magnus start
        f, df = _ln_es_hardy(T, over)
        step = (f - ln_e) / df
        T = T - step
        if not np.any(np.abs(step) > 1e-9):
            break
    else:  # pragma: no cover - Hardy's ln e_s is smooth and monotonic on (0, inf)
        raise RuntimeError("Newton inversion of Hardy's formula did not converge")
    return T


# ----------------------------------------------------------------------------- boundary: units in/out

def _apply(func: Callable, out_units: str, attrs: dict | None = None, **args: tuple[Any, str]) -> Any:
    """Convert each ``name=(value, units)`` at the boundary, run ``func`` on magnitudes, re-attach units.

    DataArray in -> DataArray out (via apply_ufunc, lazy on dask); otherwise -> pint Quantity.
    """
    mags, arrays, quantified = [], False, False
    for name, (value, units) in args.items():
        if isinstance(value, xr.DataArray):
            arrays = True
            quantified |= isinstance(value.data, pint.Quantity)
            mags.append(to_units(value, units, name=name))
        else:
            mags.append(magnitude_in(value, units, name=name))
    if not arrays:
        result = func(*mags)
        return ureg.Quantity(float(result) if np.ndim(result) == 0 else result, out_units)
    out = xr.apply_ufunc(func, *mags, dask="parallelized", output_dtypes=[float], keep_attrs=False)
    out.attrs = {**(attrs or {}), "units": out_units}
    return out.pint.quantify() if quantified else out


def _basis_attrs(basis: str) -> dict:
    return {"reports": basis}


# ----------------------------------------------------------------------------- public conversions

def saturation_vapour_pressure(temperature: Any, over: str = "water", method: str = "hardy") -> Any:
    """Saturation vapour pressure [Pa] over plane water (also supercooled) or ice.

    ``temperature``: any temperature unit. ``over``: "water" | "ice". ``method``: "hardy" (1998, ITS-90)
    | "magnus" (Sonntag 1990 constants).

    >>> from workbench.units import ureg
    >>> round(float(saturation_vapour_pressure(ureg.Quantity(-40, "degC"), over="ice").m), 2)
    12.84
    """
    _check_choice(over, ("water", "ice"), "over")
    _check_choice(method, ("hardy", "magnus"), "method")
    return _apply(lambda T: _saturation_pa(T, over, method), "Pa", temperature=(temperature, "K"))


def dew_point(vapour_pressure: Any, method: str = "hardy") -> Any:
    """Dew point [degC] (over plane, possibly supercooled, water) of air with this vapour pressure.

    >>> from workbench.units import ureg
    >>> round(float(dew_point(ureg.Quantity(12.84, "Pa")).m), 2)
    -43.74
    """
    _check_choice(method, ("hardy", "magnus"), "method")
    return _apply(lambda e: _invert_pa(e, "water", method) - _ZERO_C, "degC", _basis_attrs("dew_point"),
                  vapour_pressure=(vapour_pressure, "Pa"))


def frost_point(vapour_pressure: Any, method: str = "hardy") -> Any:
    """Frost point [degC] (over ice) of air with this vapour pressure.

    >>> from workbench.units import ureg
    >>> round(float(frost_point(ureg.Quantity(12.84, "Pa")).m), 2)
    -40.0
    """
    _check_choice(method, ("hardy", "magnus"), "method")
    return _apply(lambda e: _invert_pa(e, "ice", method) - _ZERO_C, "degC", _basis_attrs("frost_point"),
                  vapour_pressure=(vapour_pressure, "Pa"))


def _from_rh(rh: Any, temperature: Any, over: str, method: str) -> Any:
    _check_choice(method, ("hardy", "magnus"), "method")

    def kernel(rh_pct, T):
        e = check_rh(rh_pct) / 100.0 * _saturation_pa(T, "water", method)  # RH is always over water
        if over == "ice":
            check_rh_for_ice(e, rh_pct, T)
        return _invert_pa(e, over, method) - _ZERO_C

    return _apply(kernel, "degC", _basis_attrs(f"{'dew' if over == 'water' else 'frost'}_point"),
                  rh=(rh, "percent"), temperature=(temperature, "K"))


def dew_point_from_rh(rh: Any, temperature: Any, method: str = "hardy") -> Any:
    """Dew point [degC] from relative humidity (over water, in %, 0-100) at air temperature.

    >>> from workbench.units import ureg
    >>> round(float(dew_point_from_rh(ureg.Quantity(0.5488, "%"), ureg.Quantity(20, "degC")).m), 1)
    -43.7
    """
    return _from_rh(rh, temperature, "water", method)


def frost_point_from_rh(rh: Any, temperature: Any, method: str = "hardy") -> Any:
    """Frost point [degC] from relative humidity (over water, in %, 0-100) at air temperature.

    >>> from workbench.units import ureg
    >>> round(float(frost_point_from_rh(ureg.Quantity(0.5488, "%"), ureg.Quantity(20, "degC")).m), 1)
    -40.0
    """
    return _from_rh(rh, temperature, "ice", method)


def dew_point_from_frost_point(frost_point: Any, method: str = "hardy") -> Any:
    """Dew point [degC] of air whose frost point is given (same water content, e_w(Td) = e_i(Tf)).

    >>> from workbench.units import ureg
    >>> round(float(dew_point_from_frost_point(ureg.Quantity(-40, "degC")).m), 2)
    -43.74
    """
    _check_choice(method, ("hardy", "magnus"), "method")
    return _apply(lambda T: _invert_pa(_saturation_pa(T, "ice", method, "frost point"), "water", method) - _ZERO_C,
                  "degC", _basis_attrs("dew_point"), frost_point=(frost_point, "K"))


def frost_point_from_dew_point(dew_point: Any, method: str = "hardy") -> Any:
    """Frost point [degC] of air whose dew point (over supercooled water) is given.

    >>> from workbench.units import ureg
    >>> round(float(frost_point_from_dew_point(ureg.Quantity(-43.74, "degC")).m), 2)
    -40.0
    """
    _check_choice(method, ("hardy", "magnus"), "method")

    def kernel(T):
        T = np.asarray(T, dtype=float)
        check_dew_point_for_ice(T)
        return _invert_pa(_saturation_pa(T, "water", method), "ice", method) - _ZERO_C

    return _apply(kernel, "degC", _basis_attrs("frost_point"), dew_point=(dew_point, "K"))


def ppmv_from_frost_point(frost_point: Any, pressure: Any = STANDARD_PRESSURE,
                          enhancement_factor: float = ENHANCEMENT_FACTOR) -> Any:
    """Water content [ppmv] = 1e6 * f * e_i(Tf) / P, with enhancement factor f (default 1.004).

    >>> from workbench.units import ureg
    >>> round(float(ppmv_from_frost_point(ureg.Quantity(-40, "degC")).m))
    127
    """
    f = float(enhancement_factor)
    return _apply(lambda T, P: 1e6 * f * _saturation_pa(T, "ice", "hardy", "frost point") / check_pressure(P),
                  "ppmv", frost_point=(frost_point, "K"), pressure=(pressure, "Pa"))


def frost_point_from_ppmv(ppmv: Any, pressure: Any = STANDARD_PRESSURE,
                          enhancement_factor: float = ENHANCEMENT_FACTOR) -> Any:
    """Frost point [degC] of air with this water content [ppmv] at total pressure P (inverse of
    :func:`ppmv_from_frost_point`, same enhancement factor).

    >>> from workbench.units import ureg
    >>> round(float(frost_point_from_ppmv(ureg.Quantity(10.7, "ppmv")).m), 1)
    -60.0
    """
    f = float(enhancement_factor)
    return _apply(lambda x, P: _invert_pa(x * 1e-6 * check_pressure(P) / f, "ice", "hardy") - _ZERO_C, "degC",
                  _basis_attrs("frost_point"), ppmv=(ppmv, "ppmv"), pressure=(pressure, "Pa"))


def humidity_ratio(vapour_pressure: Any, pressure: Any = STANDARD_PRESSURE) -> Any:
    """Humidity ratio w = 0.622 * e / (P - e) [g water per kg dry air].

    0.622 is the molar-mass ratio M_water / M_dry_air (18.015 / 28.965).

    >>> from workbench.units import ureg
    >>> round(float(humidity_ratio(ureg.Quantity(12.84, "Pa")).m), 4)
    0.0788
    """
    def kernel(e, P):
        e, P = np.asarray(e, dtype=float), check_pressure(P)
        check_humidity_ratio(e, P)
        return 622.0 * e / (P - e)

    return _apply(kernel, "g/kg", vapour_pressure=(vapour_pressure, "Pa"), pressure=(pressure, "Pa"))


# ----------------------------------------------------------------------------- dry-room compliance

def _reports(da: xr.DataArray, sensor_dim: str) -> np.ndarray:
    """What each sensor reports ("frost_point" | "dew_point"): coord `reports`, or attrs["reports"]
    as one string or a {sensor: basis} mapping."""
    n = da.sizes.get(sensor_dim, 1)
    if "reports" in da.coords:
        out = np.broadcast_to(np.asarray(da.coords["reports"].values, dtype=object), (n,))
    elif isinstance(da.attrs.get("reports"), str):
        out = np.full(n, da.attrs["reports"], dtype=object)
    elif isinstance(da.attrs.get("reports"), dict) and sensor_dim in da.dims:
        mapping = da.attrs["reports"]
        missing = [s for s in da[sensor_dim].values if s not in mapping]
        if missing:
            raise ValueError(f"{da.name!r}: attrs['reports'] has no entry for sensor(s) {missing}")
        out = np.array([mapping[s] for s in da[sensor_dim].values], dtype=object)
    else:
        raise ValueError(
            f"{da.name!r}: unknown whether the sensors report frost point or dew point; set "
            "attrs['reports'] = 'frost_point' | 'dew_point' (or a {sensor: ...} dict, or a coord "
            "'reports' along the sensor dim). At -40 degC they differ by ~3.7 K.")
    bad = sorted({str(b) for b in out if b not in _BASES})
    if bad:
        raise ValueError(f"{da.name!r}: reports={bad} not understood; use one of {_BASES}")
    return out


def _readings(obj: xr.DataArray | xr.Dataset) -> xr.DataArray:
    """The dew/frost-point variable of a dry-room Dataset (the one that says what it reports)."""
    if isinstance(obj, xr.DataArray):
        return obj
    if isinstance(obj, xr.Dataset):
        found = [v for v, da in obj.data_vars.items() if "reports" in da.coords or "reports" in da.attrs]
        if len(found) == 1:
            return obj[found[0]]
        raise ValueError(f"dry-room Dataset: {len(found)} variables say what they report ({found}); "
                         "pass the DataArray, e.g. ds['dew_frost_point']")
    raise TypeError(f"expected an xarray DataArray or Dataset of dew/frost points, not {type(obj).__name__}")


def to_basis(da: xr.DataArray, basis: str = "frost_point", *, sensor_dim: str = "sensor") -> xr.DataArray:
    """Readings of every sensor on one basis [degC]: dew-point sensors converted to frost point or
    the reverse (Hardy). The result keeps a coord ``reported`` with what each sensor reported.

    >>> import xarray as xr
    >>> da = xr.DataArray([[-40.0, -43.74]], dims=("time", "sensor"),
    ...                   coords={"sensor": ["s1", "s4"]},
    ...                   attrs={"units": "degC", "reports": {"s1": "frost_point", "s4": "dew_point"}})
    >>> to_basis(da).round(2).values.tolist()
    [[-40.0, -40.0]]
    """
    _check_choice(basis, _BASES, "basis")
    da = _readings(da)
    reports = _reports(da, sensor_dim)
    plain = to_units(da, "degC", name=str(da.name))
    # hygrometer convention: at or above 0.01 degC a reading is a dew point on either basis (no ice there)
    below = plain.where(plain < TRIPLE_K - _ZERO_C)
    _convert = frost_point_from_dew_point if basis == "frost_point" else dew_point_from_frost_point

    def convert(values):
        return xr.where(values < TRIPLE_K - _ZERO_C, _convert(below), values, keep_attrs=True)
    if sensor_dim in da.dims:
        other = xr.DataArray(reports != basis, dims=(sensor_dim,))
        out = xr.where(other, convert(plain), plain) if other.any() else plain
        out = out.assign_coords(reported=(sensor_dim, reports.astype(str)))
    else:
        out = convert(plain) if reports[0] != basis else plain
    out = out.transpose(*da.dims)
    out.attrs = {**{k: v for k, v in da.attrs.items() if k != "reports"}, "units": "degC", "reports": basis}
    out.name = da.name
    return out


def _sample_intervals(times: np.ndarray, max_gap: pd.Timedelta | None) -> np.ndarray:
    """Each sample stands for the interval to the next one (the last: the median interval), capped at
    ``max_gap`` (default 3x the median) so a sensor outage is not counted as time above a limit."""
    if times.size < 2:
        raise ValueError("need at least two time samples to measure durations")
    dt = np.diff(times)
    median = np.median(dt)
    cap = np.timedelta64(pd.Timedelta(max_gap)) if max_gap is not None else 3 * median
    return np.minimum(np.append(dt, median), cap)


def _duration(value: Any, name: str) -> pd.Timedelta:
    if isinstance(value, (pint.Quantity, xr.DataArray)):
        return pd.Timedelta(seconds=float(magnitude_in(value, "s", name=name)))
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        raise TypeError(f"{name}={value!r} is a bare number; pass '5min', a pd.Timedelta or a Quantity")
    return pd.Timedelta(value)


def _common(da: xr.DataArray, basis: str, sensor_dim: str) -> xr.DataArray:
    """Readings as (sensor, time) in degC on ``basis``, or as reported for basis="reported"."""
    if basis == "reported":
        reports = _reports(da, sensor_dim)
        common = to_units(da, "degC", name=str(da.name))
        if sensor_dim in common.dims:
            return common.assign_coords(reported=(sensor_dim, reports.astype(str)))
        return common.expand_dims({sensor_dim: [da.name or "sensor"]}).assign_coords(
            reported=(sensor_dim, [str(reports[0])]))
    common = to_basis(da, basis, sensor_dim=sensor_dim)
    if sensor_dim not in common.dims:
        common = common.expand_dims({sensor_dim: [da.name or "sensor"]}).assign_coords(
            reported=(sensor_dim, [str(_reports(da, sensor_dim)[0])]))
    return common


def _limits(limit: Any, common: xr.DataArray, sensor_dim: str) -> np.ndarray:
    """One limit [degC] per sensor: a scalar for all, or a DataArray along the sensor dim."""
    if isinstance(limit, xr.DataArray) and sensor_dim in limit.dims:
        lim = to_units(limit, "degC", name="limit")
        missing = sorted(set(map(str, common[sensor_dim].values)) - set(map(str, lim[sensor_dim].values)))
        if missing:
            raise ValueError(f"limit has no value for sensor(s) {missing}")
        return np.asarray(lim.sel({sensor_dim: common[sensor_dim].values}).values, dtype=float)
    return np.full(common.sizes[sensor_dim], float(magnitude_in(limit, "degC", name="limit")))


def _prepare(da: xr.DataArray, limit: Any, dim: str, basis: str, sensor_dim: str):
    da = _readings(da)
    if dim not in da.dims or not np.issubdtype(da[dim].dtype, np.datetime64):
        raise ValueError(f"{da.name!r}: needs a datetime64 dim {dim!r}; has dims {da.dims}")
    _check_choice(basis, _BASES + ("reported",), "basis")
    common = _common(da, basis, sensor_dim).transpose(sensor_dim, dim).compute()
    return common, _limits(limit, common, sensor_dim)


def excursions(da: xr.DataArray, limit: Any, *, dim: str = "time", min_duration: Any = "0s",
               basis: str = "frost_point", sensor_dim: str = "sensor",
               max_gap: Any = None) -> pd.DataFrame:
    """Excursions above a dew/frost-point ``limit`` as events, one row per sensor and event.

    ``da``: readings (time x sensor, degC or any temperature unit) saying what each sensor reports
    (see :func:`to_basis`), or a dry-room Dataset holding one such variable.

    Readings are first put on ``basis`` (the basis the limit is written in, default frost point) with
    :func:`to_basis`, then runs of samples strictly above the limit are events. ``limit``: one
    temperature for all sensors, or a DataArray along ``sensor`` (e.g. each tag's alarm limit); with
    ``basis="reported"`` each sensor is compared, unconverted, with its own limit in its own basis. ``start`` is the first
    sample above; ``end`` is the start of the first sample back at or below (for an event still open at
    the end of the data: last sample + its interval, ``ongoing=True``); ``duration = end - start``.
    NaN readings count as not above. Events shorter than ``min_duration`` are dropped.

    Columns: sensor, start, end, duration, peak [degC on ``basis``], peak_time, limit [degC], basis,
    reported, ongoing.

    >>> import pandas as pd, xarray as xr
    >>> from workbench.units import ureg
    >>> t = pd.date_range("2026-01-05", periods=6, freq="1min")
    >>> da = xr.DataArray([-45, -39, -38, -45, -45, -45.0], dims="time", coords={"time": t},
    ...                   name="s1", attrs={"units": "degC", "reports": "frost_point"})
    >>> ev = excursions(da, ureg.Quantity(-40, "degC"))
    >>> ev[["sensor", "duration", "peak"]].values.tolist()
    [['s1', Timedelta('0 days 00:02:00'), -38.0]]
    """
    common, lim = _prepare(da, limit, dim, basis, sensor_dim)
    min_dur = _duration(min_duration, "min_duration")
    times = common[dim].values
    intervals = _sample_intervals(times, None if max_gap is None else _duration(max_gap, "max_gap"))
    rows = []
    for i, sensor in enumerate(common[sensor_dim].values):
        vals = common.values[i]
        with np.errstate(invalid="ignore"):
            above = np.nan_to_num(vals, nan=-np.inf) > lim[i]
        edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
        for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            end = times[e] if e < times.size else times[e - 1] + intervals[e - 1]
            k = s + int(np.nanargmax(vals[s:e]))
            rows.append({"sensor": sensor, "start": pd.Timestamp(times[s]), "end": pd.Timestamp(end),
                         "duration": pd.Timedelta(end - times[s]), "peak": float(vals[k]),
                         "peak_time": pd.Timestamp(times[k]), "limit": float(lim[i]),
                         "basis": str(common["reported"].values[i]) if basis == "reported" else basis,
                         "reported": str(common["reported"].values[i]), "ongoing": e >= times.size})
    cols = ["sensor", "start", "end", "duration", "peak", "peak_time", "limit", "basis", "reported", "ongoing"]
    out = pd.DataFrame(rows, columns=cols)
    out = out[out["duration"] >= min_dur].reset_index(drop=True)
    out.attrs = {"units": "degC", "basis": basis}
    return out


def minutes_above(da: xr.DataArray, limit: Any, *, dim: str = "time", basis: str = "frost_point",
                  sensor_dim: str = "sensor", max_gap: Any = None) -> xr.DataArray:
    """Minutes each sensor spent above a dew/frost-point ``limit`` [min], after putting all sensors on
    ``basis`` (see :func:`to_basis`; ``limit`` and ``basis="reported"`` as in :func:`excursions`).
    Each sample counts for the interval to the next one (capped at
    ``max_gap``, default 3x the median interval), so the total equals the sum of
    :func:`excursions` durations.

    >>> import pandas as pd, xarray as xr
    >>> from workbench.units import ureg
    >>> t = pd.date_range("2026-01-05", periods=6, freq="1min")
    >>> da = xr.DataArray([-45, -39, -38, -45, -45, -45.0], dims="time", coords={"time": t},
    ...                   name="s1", attrs={"units": "degC", "reports": "frost_point"})
    >>> float(minutes_above(da, ureg.Quantity(-40, "degC"))[0])
    2.0
    """
    common, lim = _prepare(da, limit, dim, basis, sensor_dim)
    intervals = _sample_intervals(common[dim].values, None if max_gap is None else _duration(max_gap, "max_gap"))
    with np.errstate(invalid="ignore"):
        above = np.nan_to_num(common.values, nan=-np.inf) > lim[:, None]
    minutes = (above * (intervals / np.timedelta64(1, "s"))).sum(axis=1) / 60.0
    out = xr.DataArray(minutes, dims=(sensor_dim,), coords={sensor_dim: common[sensor_dim].values,
                                                             "reported": (sensor_dim, common["reported"].values)},
                       name="minutes_above", attrs={"units": "min", "basis": basis})
    out.coords["limit"] = (sensor_dim, lim, {"units": "degC"})
    return out


@xr.register_dataset_accessor("dewpoint")
class DewpointAccessor:
    """``ds.dewpoint``: dry-room compliance on a dry-room Dataset (its one dew/frost-point variable).

    >>> import pandas as pd, xarray as xr
    >>> t = pd.date_range("2026-01-05", periods=4, freq="1min")
    >>> ds = xr.Dataset({"dew_frost_point": (("time", "sensor"), [[-45.0], [-38], [-45], [-45]],
    ...                  {"units": "degC"})}, coords={"time": t, "sensor": ["s1"],
    ...                  "reports": ("sensor", ["frost_point"])})
    >>> float(ds.dewpoint.minutes_above(ureg.Quantity(-40, "degC"))[0])
    1.0
    """

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def to_basis(self, basis: str = "frost_point") -> xr.DataArray:
        """All sensors on one basis [degC]; see :func:`to_basis`.

        >>> from workbench.models.dewpoint import _example_dryroom
        >>> _example_dryroom().dewpoint.to_basis().sel(sensor="s4").round(1).values.tolist()
        [-40.0, -50.0]
        """
        return to_basis(self._ds, basis)

    def excursions(self, limit: Any, **kwargs) -> pd.DataFrame:
        """Excursion events above ``limit``; see :func:`excursions`.

        >>> from workbench.models.dewpoint import _example_dryroom
        >>> _example_dryroom().dewpoint.excursions(ureg.Quantity(-42, "degC")).sensor.tolist()
        ['s1', 's4']
        """
        return excursions(self._ds, limit, **kwargs)

    def minutes_above(self, limit: Any, **kwargs) -> xr.DataArray:
        """Minutes above ``limit`` per sensor; see :func:`minutes_above`.

        >>> from workbench.models.dewpoint import _example_dryroom
        >>> _example_dryroom().dewpoint.minutes_above(ureg.Quantity(-42, "degC")).values.tolist()
        [1.0, 1.0]
        """
        return minutes_above(self._ds, limit, **kwargs)


def _example_dryroom() -> xr.Dataset:
    """Two sensors, two 1-min samples: s1 reports frost point, s4 dew point (the same air)."""
    t = pd.date_range("2026-01-05", periods=2, freq="1min")
    frost = np.array([-40.0, -50.0])
    dew = np.asarray(dew_point_from_frost_point(ureg.Quantity(frost, "degC")).m)
    return xr.Dataset({"dew_frost_point": (("time", "sensor"), np.column_stack([frost, dew]), {"units": "degC"})},
                      coords={"time": t, "sensor": ["s1", "s4"], "reports": ("sensor", ["frost_point", "dew_point"])})

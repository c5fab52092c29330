"""Electrode coating: areal mass per lane from scanning-gauge data, mass balance, CD/MD shape, capability.

Conventions (docs/DOMAIN.md, ARCHITECTURE.md §3-4):

- Areal mass m_A carries units (mg/cm² on the line; 1 mg/cm² = 10 g/m²) and two labels in attrs:
  ``sides`` = "per_side" | "both_sides" and ``basis`` = "coating_only" | "including_foil".
- Slot-die coating is pre-metered: the expected dry areal mass is m_A = w_s · ṁ_pump / (W · U).
  The gauge sits downstream of the die (after the dryer), so it sees die conditions one transport
  delay (path / U) later; :func:`mass_balance` shifts the expectation by that delay.
- Capability: Cpk = min(USL − μ, μ − LSL) / (3 σ_within) with σ_within = MR̄ / d2(2) (moving ranges
  of consecutive samples along ``dim``, per lane; d2(2) = 2/√π ≈ 1.128); Pp/Ppk use the overall
  sample standard deviation (ddof = 1).
- Dims: ``time`` (or ``position``, metres along the web) x ``lane``.

Functions are pure and take DataArrays (``attrs["units"]`` or quantified) or pint Quantities; the
Dataset accessor ``ds.coating`` (:mod:`workbench.models.coating_accessor`, registered by importing
:mod:`workbench.coating`) delegates to them using the simulator's variable names.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import pint
import xarray as xr

from workbench.units import MissingUnitError, magnitude_in, to_units, ureg

__all__ = [
    "AREAL_MASS_UNITS",
    "D2",
    "capability_from_moments",
    "CoatingInputError",
    "areal_mass",
    "convert_sides",
    "coating_only",
    "expected_areal_mass",
    "mass_balance",
    "cd_profile",
    "md_trend",
    "capability",
    "along_web",
    "dry_thickness",
    "areal_capacity",
]

AREAL_MASS_UNITS = "mg/cm^2"
D2 = 2 / np.sqrt(np.pi)  # d2(2) = E|X1 - X2| / sigma = 2/sqrt(pi) ≈ 1.128 (the same value workbench.spc uses)


class CoatingInputError(ValueError):
    """Coating data that cannot be interpreted (missing labels, unknown side/basis, bad fractions)."""


# ----------------------------------------------------------------------------- unit helpers

def _mag(value: Any, units: str, name: str) -> Any:
    """Plain DataArray (in ``units``) or numpy magnitude of ``value``; bare numbers raise."""
    if isinstance(value, xr.DataArray):
        return to_units(value, units, name=name)
    return magnitude_in(value, units, name=name)


def _wrap(result: Any, units: str, name: str, attrs: dict | None = None) -> Any:
    if isinstance(result, xr.DataArray):
        result = result.rename(name)
        result.attrs = {**(attrs or {}), "units": units}
        return result
    result = np.asarray(result, dtype=float)
    return ureg.Quantity(float(result) if result.ndim == 0 else result, units)


def _label(da: Any, key: str, override: str | None, allowed: tuple[str, ...]) -> str:
    value = override if override is not None else getattr(da, "attrs", {}).get(key)
    if value is None:
        raise CoatingInputError(
            f"areal mass {getattr(da, 'name', '')!r}: attrs[{key!r}] is missing; say which of {allowed} it "
            f"is (set the attr or pass {key}=...)")
    if value not in allowed:
        raise CoatingInputError(f"{key}={value!r} is not one of {allowed}")
    return value


# ----------------------------------------------------------------------------- areal mass and labels

def areal_mass(coated_mass: Any, foil_mass: Any, area: Any, *, sides: str = "per_side") -> Any:
    """Coating-only areal mass m_A = (m_coated − m_foil) / A [mg/cm²] from punched-disc weighing.

    ``sides`` labels the result ("per_side" if one side was coated, "both_sides" otherwise).

    >>> from workbench.units import ureg
    >>> q = areal_mass(ureg.Quantity(52.3, "mg"), ureg.Quantity(17.9, "mg"), ureg.Quantity(2.0, "cm^2"))
    >>> round(float(q.m), 2), str(q.units)
    (17.2, 'mg/cm²')
    """
    _label(None, "sides", sides, ("per_side", "both_sides"))
    coated, foil, a = _mag(coated_mass, "mg", "coated_mass"), _mag(foil_mass, "mg", "foil_mass"), \
        _mag(area, "cm^2", "area")
    if np.any(np.asarray(a) <= 0):
        raise CoatingInputError("area must be > 0 (disc area of the punched sample)")
    return _wrap((coated - foil) / a, AREAL_MASS_UNITS, "areal_mass",
                 {"sides": sides, "basis": "coating_only"})


def convert_sides(da: xr.DataArray, to: str = "both_sides", *, sides: str | None = None) -> xr.DataArray:
    """Coating-only areal mass on a per-side or both-sides basis (x2 or /2, assuming both sides are
    coated to the same weight, as on a double-sided electrode). Units are kept.

    >>> import xarray as xr
    >>> da = xr.DataArray([17.2], dims="lane", attrs={"units": "mg/cm^2", "sides": "per_side",
    ...                                               "basis": "coating_only"})
    >>> convert_sides(da).values.tolist(), convert_sides(da).attrs["sides"]
    ([34.4], 'both_sides')
    """
    allowed = ("per_side", "both_sides")
    src, dst = _label(da, "sides", sides, allowed), _label(None, "to", to, allowed)
    if da.attrs.get("basis", "coating_only") != "coating_only":
        raise CoatingInputError("convert_sides needs coating-only areal mass; subtract the foil first "
                                "with coating_only(da, foil_areal_mass)")
    factor = {("per_side", "both_sides"): 2.0, ("both_sides", "per_side"): 0.5}.get((src, dst), 1.0)
    out = da * factor
    out.attrs = {**da.attrs, "sides": dst}
    return out


def coating_only(da: xr.DataArray, foil_areal_mass: Any) -> xr.DataArray:
    """Coating-only areal mass from a gauge reading that includes the foil: m − m_foil [units of ``da``].

    >>> import xarray as xr
    >>> from workbench.units import ureg
    >>> da = xr.DataArray([21.25], dims="lane", attrs={"units": "mg/cm^2", "sides": "per_side",
    ...                                                "basis": "including_foil"})
    >>> coating_only(da, ureg.Quantity(40.5, "g/m^2")).values.round(3).tolist()
    [17.2]
    """
    if da.attrs.get("basis") == "coating_only":
        raise CoatingInputError(f"{da.name!r} is already coating only (attrs['basis'])")
    units = _units_of(da, "da")
    foil = _mag(foil_areal_mass, units, "foil_areal_mass")
    out = to_units(da, units, name="da") - foil
    out.attrs = {**da.attrs, "units": units, "basis": "coating_only"}
    return out


def _units_of(da: xr.DataArray, name: str) -> str:
    if isinstance(da.data, pint.Quantity):
        return str(da.data.units)
    if "units" not in da.attrs:
        raise MissingUnitError(f"{name}: DataArray {da.name!r} has no attrs['units']")
    return da.attrs["units"]


# ----------------------------------------------------------------------------- slot-die mass balance

def expected_areal_mass(pump_rate: Any, solids_fraction: Any, coated_width: Any, line_speed: Any) -> Any:
    """Dry areal mass the slot die lays down, m_A = w_s · ṁ_pump / (W · U) [mg/cm², per side, coating only].

    ``pump_rate``: slurry mass flow (e.g. g/min); ``solids_fraction``: mass fraction (dimensionless or %);
    ``coated_width``: length; ``line_speed``: web speed (e.g. m/min).

    >>> from workbench.units import ureg
    >>> q = expected_areal_mass(ureg.Quantity(2911, "g/min"), ureg.Quantity(0.65, ""),
    ...                         ureg.Quantity(0.55, "m"), ureg.Quantity(20, "m/min"))
    >>> round(float(q.m), 2)
    17.2
    """
    m_dot = _mag(pump_rate, "g/min", "pump_rate")
    w_s = _mag(solids_fraction, "dimensionless", "solids_fraction")
    width = _mag(coated_width, "m", "coated_width")
    speed = _mag(line_speed, "m/min", "line_speed")
    if np.any(np.asarray(w_s) > 1) or np.any(np.asarray(w_s) < 0):
        raise CoatingInputError("solids_fraction must be a mass fraction between 0 and 1 (or 0-100 %)")
    g_per_m2 = w_s * m_dot / (width * speed)
    return _wrap(g_per_m2 / 10.0, AREAL_MASS_UNITS, "expected_areal_mass",
                 {"sides": "per_side", "basis": "coating_only",
                  "description": "slot-die mass balance w_s*m_dot/(W*U)"})


def _delay_seconds(transport_delay: Any, path_length: Any, line_speed: Any) -> Any:
    if transport_delay is not None and path_length is not None:
        raise CoatingInputError("give transport_delay or path_length, not both")
    if path_length is not None:
        if line_speed is None:
            raise CoatingInputError("path_length needs line_speed to compute the die -> gauge delay")
        return _mag(path_length, "m", "path_length") / _mag(line_speed, "m/s", "line_speed")
    if transport_delay is None:
        return 0.0
    if isinstance(transport_delay, (pint.Quantity, xr.DataArray)):
        return _mag(transport_delay, "s", "transport_delay")
    if isinstance(transport_delay, (int, float)):
        raise MissingUnitError("transport_delay: a bare number; pass '108s', a Timedelta or a Quantity")
    return pd.Timedelta(transport_delay).total_seconds()


def mass_balance(areal_mass: xr.DataArray, expected: xr.DataArray, *, dim: str = "time",
                 lane_dim: str = "lane", transport_delay: Any = None, path_length: Any = None,
                 line_speed: Any = None, coated_at: str | None = None) -> xr.Dataset:
    """Measured vs mass-balance areal mass: ``expected`` (at the die) shifted to the gauge by the
    transport delay, the residual measured − expected per lane, and its lane mean [mg/cm²].

    Each scan is compared with the expectation at the time its web left the die: the coord named by
    ``coated_at`` on ``areal_mass`` if given (exact), else scan time − ``transport_delay`` (a duration),
    else scan time − ``path_length / line_speed`` (per sample), else the scan time itself.

    >>> import numpy as np, pandas as pd, xarray as xr
    >>> t = pd.date_range("2026-01-05", periods=4, freq="15s")
    >>> meas = xr.DataArray(np.full((4, 2), 17.3), dims=("time", "lane"), coords={"time": t},
    ...                     attrs={"units": "mg/cm^2"})
    >>> exp = xr.DataArray(np.full(4, 17.2), dims="time", coords={"time": t}, attrs={"units": "mg/cm^2"})
    >>> mass_balance(meas, exp).residual_mean.values.round(2).tolist()
    [0.1, 0.1, 0.1, 0.1]
    """
    meas = to_units(areal_mass, AREAL_MASS_UNITS, name="areal_mass")
    exp = to_units(expected, AREAL_MASS_UNITS, name="expected")
    delay = _delay_seconds(transport_delay, path_length, line_speed)
    if exp.ndim != 1:
        raise CoatingInputError(f"expected must be 1-D along {dim!r}; got dims {exp.dims}")
    if isinstance(delay, xr.DataArray):
        delay = delay.interp({dim: meas[dim]}).values if dim in delay.dims else delay.values
    t_ns = exp[dim].values.astype("datetime64[ns]").astype(np.int64).astype(float)
    at = meas[dim].values.astype("datetime64[ns]").astype(np.int64) - np.asarray(delay, dtype=float) * 1e9
    if coated_at is not None:
        if transport_delay is not None or path_length is not None:
            raise CoatingInputError("give coated_at, transport_delay or path_length, not several")
        if coated_at not in meas.coords:
            raise CoatingInputError(f"areal_mass has no coord {coated_at!r} (die time of each scan)")
        at = meas[coated_at].values.astype("datetime64[ns]").astype(np.int64).astype(float)
        delay = (meas[dim].values - meas[coated_at].values) / np.timedelta64(1, "s")
    # before the first die sample the expectation is unknown: NaN, not an extrapolation
    shifted = np.interp(np.broadcast_to(at, meas[dim].shape), t_ns, exp.values, left=np.nan, right=np.nan)
    exp_g = xr.DataArray(shifted, dims=(dim,), coords={dim: meas[dim]}, attrs={"units": AREAL_MASS_UNITS})
    residual = meas - exp_g
    ds = xr.Dataset({"measured": meas, "expected": exp_g, "residual": residual,
                     "residual_mean": residual.mean(lane_dim) if lane_dim in residual.dims else residual})
    for v in ("expected", "residual", "residual_mean"):
        ds[v].attrs = {"units": AREAL_MASS_UNITS}
    ds["residual"].attrs["description"] = "measured - slot-die mass balance (delayed to the gauge)"
    ds.attrs["transport_delay_s"] = float(np.nanmean(np.asarray(delay)))
    return ds


# ----------------------------------------------------------------------------- cross-direction profile

def _lane_x(da: xr.DataArray, lane_dim: str) -> np.ndarray:
    """Lane positions scaled to [-1, 1] (from coord lane_centre_mm if present, else lane order)."""
    x = da["lane_centre_mm"].values if "lane_centre_mm" in da.coords else np.arange(da.sizes[lane_dim])
    x = np.asarray(x, dtype=float)
    half = (x.max() - x.min()) / 2
    if half == 0:
        raise CoatingInputError(f"cd_profile needs at least 2 lanes along {lane_dim!r}")
    return (x - (x.max() + x.min()) / 2) / half


def cd_profile(areal_mass: xr.DataArray, *, lane_dim: str = "lane", edge_lanes: int = 1,
               centre_fraction: float = 1 / 3) -> xr.Dataset:
    """Cross-direction profile metrics per scan [units of ``areal_mass``].

    - ``range``: max − min over lanes.
    - ``edge_to_centre``: mean of the ``edge_lanes`` outermost lanes on each side − mean of the central
      ``centre_fraction`` of lanes (positive = heavy edges).
    - ``smile``: quadratic term c of a least-squares fit m = a + b·x + c·x² with x the lane position
      scaled to [−1, 1]: fitted edge − fitted centre (positive = smile / heavy edges, negative = frown).
    - ``tilt``: fitted right edge − fitted left edge (2b).

    >>> import numpy as np, xarray as xr
    >>> x = np.linspace(-1, 1, 5)
    >>> da = xr.DataArray([17 + 0.2 * x**2], dims=("time", "lane"), attrs={"units": "mg/cm^2"})
    >>> p = cd_profile(da)
    >>> round(float(p.smile[0]), 3), round(float(p.range[0]), 3), round(float(p.tilt[0]), 3)
    (0.2, 0.2, 0.0)
    """
    units = _units_of(areal_mass, "areal_mass")
    da = to_units(areal_mass, units, name="areal_mass")
    n = da.sizes[lane_dim]
    if not 1 <= edge_lanes <= n // 2:
        raise CoatingInputError(f"edge_lanes={edge_lanes} must be between 1 and {n // 2} for {n} lanes")
    x = _lane_x(da, lane_dim)
    design = np.stack([np.ones_like(x), x, x**2], axis=1)
    coef = xr.DataArray(np.linalg.pinv(design), dims=("coef", lane_dim))
    fit = xr.dot(coef, da, dim=lane_dim)
    k = max(1, int(round(n * centre_fraction)))
    centre = da.isel({lane_dim: slice((n - k) // 2, (n - k) // 2 + k)}).mean(lane_dim)
    edges = xr.concat([da.isel({lane_dim: slice(0, edge_lanes)}),
                       da.isel({lane_dim: slice(n - edge_lanes, n)})], dim=lane_dim).mean(lane_dim)
    out = xr.Dataset({
        "lane_mean": da.mean(lane_dim),
        "range": da.max(lane_dim) - da.min(lane_dim),
        "edge_to_centre": edges - centre,
        "smile": fit.isel(coef=2, drop=True),
        "tilt": 2 * fit.isel(coef=1, drop=True),
    })
    for v in out.data_vars:
        out[v].attrs = {"units": units}
    out.attrs = {"edge_lanes": edge_lanes, "centre_lanes": k}
    return out


# ----------------------------------------------------------------------------- machine-direction trend

def _axis_numeric(da: xr.DataArray, dim: str) -> tuple[np.ndarray, str]:
    """Coordinate along ``dim`` as float (hours for datetimes, metres for position) and its unit."""
    c = da[dim].values
    if np.issubdtype(c.dtype, np.datetime64):
        return (c - c[0]) / np.timedelta64(1, "h"), "h"
    return np.asarray(c, dtype=float), da[dim].attrs.get("units", "m")


def _window_samples(da: xr.DataArray, dim: str, window: Any) -> int:
    if isinstance(window, (int, np.integer)) and not isinstance(window, bool):
        return int(window)
    c = da[dim].values
    step = np.median(np.diff(c))
    if np.issubdtype(c.dtype, np.datetime64):
        return max(2, int(round(pd.Timedelta(window) / pd.Timedelta(step))))
    return max(2, int(round(_mag(window, da[dim].attrs.get("units", "m"), "window") / step)))


def md_trend(areal_mass: xr.DataArray, *, dim: str = "time", window: Any = "10min",
             min_periods: int | None = None) -> xr.Dataset:
    """Machine-direction trend per lane along ``dim`` (``time`` or ``position``).

    - ``rolling_mean``: centred rolling mean over ``window`` (an int number of samples, a duration for
      time, or a length for position; converted to samples with the median spacing and rounded up to
      an odd count).
    - ``rolling_slope``: least-squares slope inside the same window [units per h, or per m].
    - ``slope``: least-squares slope over the whole record, per lane.

    >>> import numpy as np, pandas as pd, xarray as xr
    >>> t = pd.date_range("2026-01-05", periods=241, freq="15s")
    >>> da = xr.DataArray(17.2 + 0.1 * np.arange(241)[:, None] / 240 * np.ones(2), dims=("time", "lane"),
    ...                   coords={"time": t}, attrs={"units": "mg/cm^2"})
    >>> md_trend(da).slope.values.round(3).tolist()   # +0.1 mg/cm² over one hour
    [0.1, 0.1]
    """
    units = _units_of(areal_mass, "areal_mass")
    da = to_units(areal_mass, units, name="areal_mass")
    x, per = _axis_numeric(da, dim)
    xs = xr.DataArray(x, dims=(dim,), coords={dim: da[dim]})
    n = _window_samples(da, dim, window)
    n += 1 - n % 2  # odd, so the centred window has no half-sample lag
    mp = min_periods or max(2, n // 2)
    roll = lambda a: a.rolling({dim: n}, center=True, min_periods=mp).mean()  # noqa: E731
    xm, ym = roll(xs.where(da.notnull())), roll(da)
    cov = roll(xs * da) - xm * ym
    var = roll((xs * xs).where(da.notnull())) - xm * xm
    xc = xs - xs.where(da.notnull()).mean(dim)
    slope = (xc * (da - da.mean(dim))).sum(dim) / (xc * xc).where(da.notnull()).sum(dim)
    slope_units = f"({units})/{per}"
    out = xr.Dataset({"rolling_mean": ym, "rolling_slope": cov / var, "slope": slope})
    out["rolling_mean"].attrs = {"units": units}
    out["rolling_slope"].attrs = {"units": slope_units}
    out["slope"].attrs = {"units": slope_units}
    out.attrs = {"window_samples": n, "dim": dim}
    return out


# ----------------------------------------------------------------------------- capability

def capability(values: xr.DataArray, lsl: Any = None, usl: Any = None, *, dim: str = "time") -> xr.Dataset:
    """Cp, Cpk, Pp, Ppk along ``dim`` for every other coordinate (e.g. per lane).

    σ_within = MR̄ / d2: the mean absolute difference of consecutive samples along ``dim`` divided by
    d2(2) = 2/√π ≈ 1.128 (I-MR chart, short-term variation); σ_overall = sample standard deviation (ddof = 1).
    Cp = (USL − LSL) / 6σ_within; Cpk = min(USL − μ, μ − LSL) / 3σ_within (one-sided if only one limit
    is given, Cp then NaN); Pp, Ppk the same with σ_overall. ``lsl``/``usl``: Quantities in any unit
    convertible to the data's. NaN samples are skipped (their moving ranges too).

    This is the vectorised (all lanes at once) form of :func:`workbench.spc.capability`, which takes
    one series and adds the stability check and confidence intervals: use that one for a report on
    a single lane, this one to rank lanes.

    >>> import xarray as xr
    >>> from workbench.units import ureg
    >>> da = xr.DataArray([17.0, 17.2, 17.1, 17.3, 17.2, 17.4], dims="time", attrs={"units": "mg/cm^2"})
    >>> c = capability(da, ureg.Quantity(16.86, "mg/cm^2"), ureg.Quantity(17.54, "mg/cm^2"))
    >>> round(float(c.sigma_within), 4), round(float(c.cpk), 3)
    (0.1418, 0.799)
    """
    if lsl is None and usl is None:
        raise ValueError("capability needs lsl, usl or both (spec limits as Quantities)")
    units = _units_of(values, "values")
    da = to_units(values, units, name="values")
    lo = np.nan if lsl is None else float(magnitude_in(lsl, units, name="lsl"))
    hi = np.nan if usl is None else float(magnitude_in(usl, units, name="usl"))
    if lsl is not None and usl is not None and not lo < hi:
        raise ValueError(f"lsl ({lo} {units}) must be below usl ({hi} {units})")
    return capability_from_moments(da.mean(dim), abs(da.diff(dim)).mean(dim), da.std(dim, ddof=1), da.count(dim),
                                   lo, hi, units, dim)


def capability_from_moments(mu, mr_mean, sigma_o, n, lo: float, hi: float, units: str, dim: str = "time"
                            ) -> xr.Dataset:
    """:func:`capability` from the window's summary instead of its samples: mean ``mu``, average moving
    range ``mr_mean``, standard deviation ``sigma_o`` (ddof 1) and count ``n`` per lane (DataArrays, or
    what :func:`workbench.history.rollup.window_summary` gives), limits ``lo``/``hi`` as magnitudes in
    ``units`` (NaN: no such limit). The same formulas, so a rollup of a week gives the same Cpk as its samples.

    >>> c = capability_from_moments(xr.DataArray(17.2), xr.DataArray(0.16), xr.DataArray(0.15), xr.DataArray(6),
    ...                             16.86, 17.54, "mg/cm^2")
    >>> round(float(c.cpk), 3)
    0.799
    """
    mu, sigma_o, n = (x if isinstance(x, xr.DataArray) else xr.DataArray(x) for x in (mu, sigma_o, n))
    sigma_w = (mr_mean if isinstance(mr_mean, xr.DataArray) else xr.DataArray(mr_mean)) / D2
    cpu_w, cpl_w = (hi - mu) / (3 * sigma_w), (mu - lo) / (3 * sigma_w)
    cpu_o, cpl_o = (hi - mu) / (3 * sigma_o), (mu - lo) / (3 * sigma_o)
    pick = (lambda u, lo_: xr.where(np.isnan(lo), u, xr.where(np.isnan(hi), lo_, np.minimum(u, lo_))))
    out = xr.Dataset({
        "process_mean": mu, "sigma_within": sigma_w, "sigma_overall": sigma_o,
        "cp": (hi - lo) / (6 * sigma_w), "cpk": pick(cpu_w, cpl_w),
        "pp": (hi - lo) / (6 * sigma_o), "ppk": pick(cpu_o, cpl_o),
        "n": n,
    })
    for v in ("process_mean", "sigma_within", "sigma_overall"):
        out[v].attrs = {"units": units}
    out.attrs = {"lsl": lo, "usl": hi, "units": units, "dim": dim,
                 "sigma_within": "average moving range / d2(2) (d2 = 2/sqrt(pi) = 1.1284) along dim",
                 "sigma_overall": "sample standard deviation (ddof = 1)"}
    return out


# ----------------------------------------------------------------------------- position along the web

def along_web(da: xr.DataArray | xr.Dataset, roll_id: Any = None, *, dim: str = "time",
              position: str = "position") -> xr.DataArray | xr.Dataset:
    """Re-index coating data by metres along the web (coord ``position(time)``) for one mother roll.

    Position restarts on every roll, so with several rolls in ``da`` pass ``roll_id`` (needs coord
    ``roll_id(time)``). The result has dim ``position`` (sorted, metres) and keeps ``time`` as a coord.

    >>> import numpy as np, pandas as pd, xarray as xr
    >>> t = pd.date_range("2026-01-05", periods=4, freq="15s")
    >>> da = xr.DataArray([17.1, 17.2, 17.3, 17.4], dims="time", attrs={"units": "mg/cm^2"},
    ...                   coords={"time": t, "position": ("time", [0.0, 5.0, 0.0, 5.0]),
    ...                           "roll_id": ("time", ["R1", "R1", "R2", "R2"])})
    >>> along_web(da, "R2").position.values.tolist(), along_web(da, "R2").values.tolist()
    ([0.0, 5.0], [17.3, 17.4])
    """
    if position not in da.coords:
        raise CoatingInputError(f"no coord {position!r} (metres along the web) on this data")
    if roll_id is not None:
        if "roll_id" not in da.coords:
            raise CoatingInputError("roll_id given but the data has no coord 'roll_id'")
        mask = (da["roll_id"] == roll_id).values
        if not mask.any():
            rolls = list(pd.unique(da["roll_id"].values))
            raise CoatingInputError(f"roll_id {roll_id!r} not in the data; rolls present: {rolls[:10]}")
        da = da.isel({dim: mask})
    pos = da[position].values
    if pd.Index(pos).has_duplicates:
        rolls = list(pd.unique(da["roll_id"].values)) if "roll_id" in da.coords else []
        raise CoatingInputError(f"{position!r} repeats (several rolls: {rolls[:10]}); pass roll_id=...")
    out = da.swap_dims({dim: position}).sortby(position)
    out[position].attrs.setdefault("units", "m")
    return out


# ----------------------------------------------------------------------------- thickness and capacity

def dry_thickness(areal_mass: Any, mass_fractions: Mapping[str, float], densities: Mapping[str, Any],
                  porosity: Any) -> Any:
    """Dry coating thickness h = m_A · Σ(w_i / ρ_i) / (1 − ε) [µm], per side as ``areal_mass`` is.

    ``mass_fractions``: solids composition {component: w_i} summing to 1; ``densities``: {component:
    ρ_i Quantity}; ``porosity`` ε as a fraction (Quantity, dimensionless or %).

    >>> from workbench.units import ureg
    >>> h = dry_thickness(ureg.Quantity(17.2, "mg/cm^2"), {"nmc": 0.96, "carbon": 0.02, "pvdf": 0.02},
    ...                   {"nmc": ureg.Quantity(4.7, "g/cm^3"), "carbon": ureg.Quantity(1.8, "g/cm^3"),
    ...                    "pvdf": ureg.Quantity(1.78, "g/cm^3")}, ureg.Quantity(30, "%"))
    >>> round(float(h.m), 1), str(h.units)
    (55.7, 'µm')
    """
    missing = set(mass_fractions) - set(densities)
    if missing:
        raise CoatingInputError(f"no density for component(s) {sorted(missing)}")
    total = sum(mass_fractions.values())
    if abs(total - 1) > 1e-6:
        raise CoatingInputError(f"mass_fractions sum to {total:g}, not 1: {dict(mass_fractions)}")
    eps = float(magnitude_in(porosity, "dimensionless", name="porosity"))
    if not 0 <= eps < 1:
        raise CoatingInputError(f"porosity {eps:g} must be a fraction in [0, 1)")
    spec_vol = sum(w / float(magnitude_in(densities[k], "g/cm^3", name=f"densities[{k!r}]"))
                   for k, w in mass_fractions.items())  # cm^3/g of solid
    m = _mag(areal_mass, "g/cm^2", "areal_mass")
    attrs = {k: v for k, v in getattr(areal_mass, "attrs", {}).items() if k == "sides"}
    return _wrap(m * spec_vol / (1 - eps) * 1e4, "µm", "dry_thickness", attrs)


def areal_capacity(areal_mass: Any, active_fraction: Any, specific_capacity: Any) -> Any:
    """Areal capacity = m_A · w_active · q_specific [mAh/cm²].

    >>> from workbench.units import ureg
    >>> q = areal_capacity(ureg.Quantity(17.2, "mg/cm^2"), ureg.Quantity(0.96, ""),
    ...                    ureg.Quantity(160, "mAh/g"))
    >>> round(float(q.m), 3)
    2.642
    """
    m = _mag(areal_mass, "g/cm^2", "areal_mass")
    w = _mag(active_fraction, "dimensionless", "active_fraction")
    q = _mag(specific_capacity, "mAh/g", "specific_capacity")
    return _wrap(m * w * q, "mAh/cm^2", "areal_capacity")

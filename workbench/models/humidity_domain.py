"""The physical domain of the humidity conversions: each check names the value and the valid range.

Magnitudes in K and Pa (the kernels' units). NaN (a gap) passes every check and stays NaN.

>>> try:
...     check_dew_point_for_ice(np.array([263.15, 303.15]))
... except HumidityValueError as exc:
...     print(str(exc)[:47])
dew point 30 degC is above 0.01 degC, the tripl
"""

from __future__ import annotations

from typing import Any

import numpy as np

ZERO_C = 273.15
TRIPLE_K = 273.16  # triple point of water: no ice, hence no frost point, above it
TRIPLE_PA = 611.657  # saturation vapour pressure at the triple point (ITS-90; Hardy's forms give 611.66)
_TOL = 1e-4  # relative: the two formulations (and Magnus) differ by < 0.01 % at the triple point


class HumidityValueError(ValueError):
    """A humidity input is outside its physical range (RH outside (0, 100] %, T <= 0 K, e < 0, no ice)."""


def _first(values: np.ndarray, bad: np.ndarray) -> float:
    return float(np.broadcast_to(values, bad.shape)[bad].ravel()[0])


def check_temperature(T: np.ndarray, over: str, name: str = "temperature") -> None:
    if np.any(T <= 0):
        raise HumidityValueError(f"{name} {_first(T, T <= 0)} K is at or below absolute zero; check the units")
    above = T > TRIPLE_K + 1e-9
    if over == "ice" and np.any(above):
        raise HumidityValueError(
            f"{name} {_first(T, above) - ZERO_C:.4g} degC is above 0.01 degC, the triple point of water: there "
            f"is no ice above it, so no frost point (valid: -100 to 0.01 degC; above 0.01 degC use the dew point)")


def check_vapour(e: np.ndarray, over: str) -> None:
    if np.any(e < 0):
        raise HumidityValueError(f"vapour pressure {_first(e, e < 0)} Pa is negative; it must be >= 0")
    if np.any(e == 0):
        raise HumidityValueError("vapour pressure 0 Pa (bone-dry air) has no dew or frost point (it tends to "
                                 "-inf); valid: e > 0")
    above = e > TRIPLE_PA * (1 + _TOL)
    if over == "ice" and np.any(above):
        raise HumidityValueError(
            f"vapour pressure {_first(e, above):.5g} Pa is above {TRIPLE_PA} Pa (saturation at the triple point, "
            "0.01 degC): such air condenses as liquid water, so it has a dew point but no frost point")


def check_rh(rh: np.ndarray) -> np.ndarray:
    rh = np.asarray(rh, dtype=float)
    bad = (rh <= 0) | (rh > 100)
    if np.any(bad):
        raise HumidityValueError(
            f"relative humidity {_first(rh, bad):g} % is outside (0, 100] % ({int(bad.sum())} value(s) out of "
            "range; 0 % is bone-dry air, which has no dew point); RH must be over water, in percent "
            "(e.g. ureg.Quantity(45, '%'))")
    return rh


def check_rh_for_ice(e: np.ndarray, rh: np.ndarray, T: np.ndarray) -> None:
    above = e > TRIPLE_PA * (1 + _TOL)
    if np.any(above):
        raise HumidityValueError(
            f"{_first(rh, above):g} % RH at {_first(T, above) - ZERO_C:.4g} degC holds {_first(e, above):.5g} Pa "
            f"of vapour, above {TRIPLE_PA} Pa (the triple point): that air has a dew point above 0.01 degC and no "
            "frost point; use dew_point_from_rh")


def check_dew_point_for_ice(T: np.ndarray) -> None:
    above = T > TRIPLE_K + 1e-9
    if np.any(above):
        raise HumidityValueError(
            f"dew point {_first(T, above) - ZERO_C:.4g} degC is above 0.01 degC, the triple point of water: "
            "such air condenses as liquid, so it has no frost point (valid dew points: -100 to 0.01 degC)")


def check_pressure(P: Any) -> np.ndarray:
    P = np.asarray(P, dtype=float)
    if np.any(P <= 0):
        raise HumidityValueError(f"total pressure {_first(P, P <= 0):g} Pa must be > 0 (e.g. 101.325 kPa)")
    return P


def check_humidity_ratio(e: np.ndarray, P: np.ndarray) -> None:
    bad = (e < 0) | (e >= P)
    if np.any(bad):
        raise HumidityValueError(
            f"vapour pressure {_first(e, bad):.6g} Pa is outside 0 <= e < P = {_first(P, bad):.6g} Pa: the humidity "
            "ratio e / (P - e) needs the vapour's partial pressure below the total pressure (check that pressure "
            "is the total air pressure, e.g. 101.325 kPa, and both units)")

"""Private Hardy (1998, ITS-90) helpers for the dry-room simulator: frost point <-> dew point <-> ppmv.

Kept private and small so the simulator does not depend on ``workbench.dewpoint`` (the public,
unit-aware models). Temperatures in °C, pressures in Pa. Reference: B. Hardy, "ITS-90 formulations
for vapor pressure, frostpoint temperature, dewpoint temperature, and enhancement factors in the
range −100 to +100 °C", Proc. 3rd Int. Symp. on Humidity & Moisture, 1998 (coefficients as in DOMAIN.md).

>>> round(float(e_ice(-40.0)), 2), round(float(dew_from_frost(-40.0)), 1)
(12.84, -43.7)
"""

from __future__ import annotations

import numpy as np

_G = (-2.8365744e3, -6.028076559e3, 1.954263612e1, -2.737830188e-2, 1.6261698e-5, 7.0229056e-10,
      -1.8680009e-13, 2.7150305)
_K = (-5.8666426e3, 2.232870244e1, 1.39387003e-2, -3.4262402e-5, 2.7040955e-8, 6.7063522e-1)


def _ln_ew(T):
    return sum(_G[i] * T ** (i - 2) for i in range(7)) + _G[7] * np.log(T)


def _dln_ew(T):
    return sum((i - 2) * _G[i] * T ** (i - 3) for i in range(7)) + _G[7] / T


def _ln_ei(T):
    return sum(_K[i] * T ** (i - 1) for i in range(5)) + _K[5] * np.log(T)


def _dln_ei(T):
    return sum((i - 1) * _K[i] * T ** (i - 2) for i in range(5)) + _K[5] / T


def e_water(t_c):
    """Saturation vapour pressure over (supercooled) water, Pa."""
    return np.exp(_ln_ew(np.asarray(t_c, dtype=np.float64) + 273.15))


def e_ice(t_c):
    """Saturation vapour pressure over ice, Pa."""
    return np.exp(_ln_ei(np.asarray(t_c, dtype=np.float64) + 273.15))


def _invert(ln_e, f, df, T0):
    T = np.full(np.shape(ln_e), T0, dtype=np.float64)
    for _ in range(30):  # Newton on ln e(T) = ln e; converges in < 6 steps over -100..+60 °C
        step = (f(T) - ln_e) / df(T)
        T = T - step
        if np.all(np.abs(step) < 1e-10):
            break
    return T - 273.15


def dew_point(e_pa):
    """Dew point over water (°C) of vapour pressure ``e_pa``."""
    return _invert(np.log(np.asarray(e_pa, dtype=np.float64)), _ln_ew, _dln_ew, 240.0)


def frost_point(e_pa):
    """Frost point (°C) of vapour pressure ``e_pa``."""
    return _invert(np.log(np.asarray(e_pa, dtype=np.float64)), _ln_ei, _dln_ei, 240.0)


def dew_from_frost(fp_c):
    """Dew point over supercooled water (°C) for a frost point (°C)."""
    return dew_point(e_ice(fp_c))


def ppmv_from_frost(fp_c, pressure_pa: float = 101325.0, enhancement: float = 1.004):
    """Water mole fraction in ppmv for a frost point (°C) at ``pressure_pa``."""
    return 1e6 * enhancement * e_ice(fp_c) / pressure_pa

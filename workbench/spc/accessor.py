"""``da.spc``: a thin DataArray accessor over the pure SPC functions (no state kept on it).

>>> import numpy as np, xarray as xr
>>> import workbench.spc  # registers the accessor
>>> x = xr.DataArray(np.r_[np.zeros(20), np.full(10, 3.0)], dims="time", attrs={"units": "uohm"})
>>> int(x.spc.cusum(target=0.0, sigma=1.0).alarm.argmax("time"))
22
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from workbench.spc.capability import Capability, capability
from workbench.spc.detectors import cusum, ewma, focus, shewhart
from workbench.spc.limits import ChartLimits, apply, fit
from workbench.spc.rules import check_rules


@xr.register_dataarray_accessor("spc")
class SPCAccessor:
    """Delegates to :mod:`workbench.spc`; every method passes the DataArray as the data."""

    def __init__(self, da: xr.DataArray):
        self._da = da

    def fit(self, **kwargs: Any) -> ChartLimits:
        """Phase I limits, see :func:`workbench.spc.fit`."""
        return fit(self._da, **kwargs)

    def apply(self, limits: ChartLimits, **kwargs: Any) -> xr.Dataset:
        """Phase II chart against ``limits``, see :func:`workbench.spc.apply`."""
        return apply(limits, self._da, **kwargs)

    def cusum(self, **kwargs: Any) -> xr.Dataset:
        """Tabular CUSUM, see :func:`workbench.spc.cusum`."""
        return cusum(self._da, **kwargs)

    def ewma(self, **kwargs: Any) -> xr.Dataset:
        """EWMA chart, see :func:`workbench.spc.ewma`."""
        return ewma(self._da, **kwargs)

    def shewhart(self, **kwargs: Any) -> xr.Dataset:
        """Shewhart individuals chart, see :func:`workbench.spc.shewhart`."""
        return shewhart(self._da, **kwargs)

    def focus(self, **kwargs: Any) -> xr.Dataset:
        """FOCuS detector for shifts of unknown size, see :func:`workbench.spc.focus`."""
        return focus(self._da, **kwargs)

    def rules(self, **kwargs: Any) -> xr.Dataset:
        """Western Electric / Nelson rules, see :func:`workbench.spc.check_rules`."""
        return check_rules(self._da, **kwargs)

    def capability(self, **kwargs: Any) -> Capability:
        """Cp, Cpk, Pp, Ppk, see :func:`workbench.spc.capability`."""
        return capability(self._da, **kwargs)

"""The ``ds.coating`` Dataset accessor and a tiny example coater Dataset.

The accessor is thin: every method delegates to a pure function of :mod:`workbench.models.coating`
with the virtual line's variable names as defaults. Importing :mod:`workbench.coating` registers it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from workbench.models.coating import (AREAL_MASS_UNITS, CoatingInputError, _units_of, along_web, capability, cd_profile,
                                      convert_sides, expected_areal_mass, mass_balance, md_trend)
from workbench.units import to_units, ureg

__all__ = ["CoatingAccessor", "example_dataset"]


def example_dataset(n_scans: int = 8, n_lanes: int = 4) -> xr.Dataset:
    """A tiny coater Dataset for examples: 15-s scans, ``n_lanes`` lanes at 17.2 mg/cm² (per side),
    heavy outer lanes (+0.2), pump 2911 g/min, solids 0.65, width 0.55 m, speed 20 m/min, one roll.

    >>> example_dataset().areal_mass.attrs["units"]
    'mg/cm^2'
    """
    t = pd.date_range("2026-01-05T06:00", periods=n_scans, freq="15s")
    mass = np.full((n_scans, n_lanes), 17.2)
    mass[:, [0, -1]] += 0.2
    mass += 0.01 * (np.arange(n_scans) % 3)[:, None]
    return xr.Dataset(
        {"areal_mass": (("time", "lane"), mass, {"units": AREAL_MASS_UNITS, "sides": "per_side",
                                                 "basis": "coating_only", "lsl": 16.86, "usl": 17.54}),
         "pump_rate": ("time", np.full(n_scans, 2911.0), {"units": "g/min"}),
         "solids_fraction": ("time", np.full(n_scans, 0.65), {"units": "dimensionless"}),
         "coated_width": ((), 0.55, {"units": "m"}),
         "line_speed": ("time", np.full(n_scans, 20.0), {"units": "m/min"})},
        coords={"time": t, "lane": np.arange(1, n_lanes + 1),
                "position": ("time", 5.0 * np.arange(n_scans), {"units": "m"}),
                "roll_id": ("time", ["R1"] * n_scans)})


@xr.register_dataset_accessor("coating")
class CoatingAccessor:
    """``ds.coating``: the coating functions applied to a coater Dataset (dims time x lane).

    Variable names default to the virtual line's: areal_mass, pump_rate, solids_fraction, coated_width,
    line_speed. Stateless: every method delegates to the module function of the same name.

    >>> import numpy as np, pandas as pd, xarray as xr
    >>> t = pd.date_range("2026-01-05", periods=3, freq="15s")
    >>> ds = xr.Dataset({"areal_mass": (("time", "lane"), np.full((3, 2), 17.2), {"units": "mg/cm^2"})},
    ...                 coords={"time": t, "lane": [1, 2]})
    >>> ds.coating.capability(usl=ureg.Quantity(17.54, "mg/cm^2")).n.values.tolist()
    [3, 3]
    """

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def _var(self, name: str) -> xr.DataArray:
        if name not in self._ds.variables:
            raise CoatingInputError(f"coating Dataset has no variable {name!r}; "
                                    f"has {sorted(map(str, self._ds.data_vars))}")
        return self._ds[name]

    def expected_areal_mass(self, *, pump_rate: str = "pump_rate", solids_fraction: str = "solids_fraction",
                            coated_width: str = "coated_width", line_speed: str = "line_speed") -> xr.DataArray:
        """Slot-die mass balance at the die [mg/cm²]; see :func:`expected_areal_mass`.

        >>> round(float(example_dataset().coating.expected_areal_mass()[0]), 2)
        17.2
        """
        return expected_areal_mass(self._var(pump_rate), self._var(solids_fraction), self._var(coated_width),
                                   self._var(line_speed))

    def mass_balance(self, *, var: str = "areal_mass", transport_delay: Any = None, path_length: Any = None,
                     line_speed: str = "line_speed") -> xr.Dataset:
        """Measured − expected per lane [mg/cm²]; see :func:`mass_balance`. Uses the coord
        ``coated_at`` (die time of each scan) when present and no delay is given.

        >>> mb = example_dataset().coating.mass_balance(transport_delay="0s")
        >>> mb.residual.sel(lane=2).values[:3].round(3).tolist()  # expected is 17.2014
        [-0.001, 0.009, 0.019]
        """
        speed = self._var(line_speed) if path_length is not None else None
        at = "coated_at" if (transport_delay is None and path_length is None
                             and "coated_at" in self._ds.coords) else None
        return mass_balance(self._var(var), self.expected_areal_mass(line_speed=line_speed),
                            transport_delay=transport_delay, path_length=path_length, line_speed=speed,
                            coated_at=at)

    def cd_profile(self, *, var: str = "areal_mass", **kwargs) -> xr.Dataset:
        """CD profile metrics per scan; see :func:`cd_profile`.

        >>> round(float(example_dataset().coating.cd_profile().edge_to_centre[0]), 2)
        0.2
        """
        return cd_profile(self._var(var), **kwargs)

    def md_trend(self, *, var: str = "areal_mass", **kwargs) -> xr.Dataset:
        """MD rolling mean / slope per lane; see :func:`md_trend`.

        >>> example_dataset().coating.md_trend(window=3).slope.attrs["units"]
        '(mg/cm^2)/h'
        """
        return md_trend(self._var(var), **kwargs)

    def capability(self, lsl: Any = None, usl: Any = None, *, var: str = "areal_mass",
                   dim: str = "time") -> xr.Dataset:
        """Cp/Cpk/Pp/Ppk per lane; limits default to attrs 'lsl'/'usl' of ``var`` (in its units).

        >>> int(example_dataset().coating.capability().cpk.idxmin("lane"))  # a heavy edge lane
        1
        """
        da = self._var(var)
        units = _units_of(da, var)
        if lsl is None and "lsl" in da.attrs:
            lsl = ureg.Quantity(float(da.attrs["lsl"]), units)
        if usl is None and "usl" in da.attrs:
            usl = ureg.Quantity(float(da.attrs["usl"]), units)
        return capability(da, lsl, usl, dim=dim)

    def along_web(self, roll_id: Any = None) -> xr.Dataset:
        """The Dataset indexed by metres along the web for one roll; see :func:`along_web`.

        >>> example_dataset().coating.along_web("R1").areal_mass.dims
        ('position', 'lane')
        """
        return along_web(self._ds, roll_id)

    def convert_sides(self, to: str = "both_sides", *, var: str = "areal_mass") -> xr.DataArray:
        """Per side <-> both sides; see :func:`convert_sides`.

        >>> float(example_dataset().coating.convert_sides()[0, 1])
        34.4
        """
        return convert_sides(self._var(var), to)

    def in_units(self, units: str = "g/m^2", *, var: str = "areal_mass") -> xr.DataArray:
        """``var`` converted to ``units`` (e.g. mg/cm² -> g/m², x10), labels kept.

        >>> float(example_dataset().coating.in_units("g/m^2")[0, 1])
        172.0
        """
        return to_units(self._var(var), units, name=var)

"""Robust noise level, autocorrelation and resolution of one series: the scale of the default penalty.

Why these estimators (all computed from first differences, so level shifts barely touch them):

- sigma of the noise: MAD of the first differences / sqrt(2) (a step adds one outlying difference,
  a spike two; the median ignores both). For AR(1) noise Var(diff) = 2 sigma^2 (1 - phi), which we undo.
- AR(1) phi: the lag-1 correlation of the differences is rho_d = -(1 - phi) / 2, estimated robustly with
  the Gnanadesikan-Kettenring identity rho = (s(u+v)^2 - s(u-v)^2) / (s(u+v)^2 + s(u-v)^2), s = MAD scale.
  The lag-1 correlation of the raw series would be inflated by the very level shifts we look for.
- long-run sigma: sigma^2 (1 + phi) / (1 - phi) is the variance of a segment mean times its length, the
  right yardstick for a change in mean under autocorrelated noise.
- short series (10 to 512 differences, not quantised): Rousseeuw & Croux's Qn instead of the MAD for
  the three scales. Both ignore up to half the values, but the MAD is 37 % efficient at the normal and
  Qn 82 %: on 20-100 samples the MAD's own scatter decided phi (a white series of 20 samples read
  phi >= 0.9 one time in ten, swelling its long-run sigma x6 and hiding a 5 sigma step; AR(1) series read
  too low a phi and cried wolf; ``tests/test_changepoints_short.py``). Its O(k^2) pairs are cheap there;
  longer series keep the MAD of up to 4,096 differences, already precise. The cycle model's per-cycle
  features keep the MAD: they are far from normal across cycles, and Qn there cost 0.011 of TSSB covering
  (three series lost their changes), so its efficiency argument does not carry over.
- quantised signals: when >= 10 % of the differences are exactly zero the MAD collapses to 0, so the
  scale is a 2 %-trimmed RMS instead (still blind to the few steps and spikes, Sheppard-inflated by q^2/12).
- resolution: quantised signals (gauge/ADC steps) have differences that are multiples of the step q;
  the noise floor is q / sqrt(12) so that a signal flickering between two codes is not "all changes".

Estimators use at most ``_MAX_PAIRS`` evenly spaced differences: plenty for a 2 % scale estimate, and
it bounds the cost on long series.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._robust import PHI_MAX, despike, mask_absurd, noise_profile
from .policy import auto_penalty, long_run

__all__ = ["auto_penalty", "noise_level", "noise_profile", "despike", "PHI_MAX"]


def _profile_rows(arr):
    x = np.asarray(arr, dtype=np.float64)
    flat = x.reshape(-1, x.shape[-1])
    out = np.full((flat.shape[0], 4), np.nan)
    for r, row in enumerate(flat):
        clean, _ = mask_absurd(np.ascontiguousarray(row, dtype=np.float64))
        v = np.ascontiguousarray(clean[np.isfinite(clean)])
        if v.size >= 4:
            p = long_run(v)
            out[r] = p["sigma"], p["phi"], p["long_run_sigma"], p["resolution"]
    return tuple(out[:, k].reshape(x.shape[:-1]) for k in range(4))


def noise_level(da: xr.DataArray, dim: str = "time") -> xr.Dataset:
    """Robust noise profile of every series along ``dim`` (NaN and absurd values dropped): what ``penalty="auto"`` scales by.

    Returns a Dataset over the other dims with ``sigma`` (noise sd, da's units), ``phi`` (AR(1)
    coefficient, 1), ``long_run_sigma`` (sd of a segment mean x sqrt(length), da's units; the larger of the AR(1) and the
    block estimate, and for a series read through coarse steps or with a long memory the semivariogram and
    extrapolated block ones, see ``policy.py``) and
    ``resolution`` (smallest step between samples, da's units). Level shifts and spikes do not inflate them.

    >>> import numpy as np, xarray as xr
    >>> x = np.r_[np.zeros(500), np.full(500, 50.0)] + np.random.default_rng(0).normal(0, 2.0, 1000)
    >>> nl = noise_level(xr.DataArray(x, dims="time", attrs={"units": "g/m^2"}))
    >>> round(float(nl.sigma)), nl.sigma.attrs["units"]
    (2, 'g/m^2')
    """
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"noise_level() takes an xarray.DataArray, got {type(da).__name__}")
    if dim not in da.dims:
        raise ValueError(f"dim {dim!r} is not a dimension of {da.name!r} (dims: {list(da.dims)})")
    if hasattr(da.data, "magnitude"):
        da = da.pint.dequantify()
    units = da.attrs.get("units")
    res = xr.apply_ufunc(_profile_rows, da, input_core_dims=[[dim]], output_core_dims=[[], [], [], []],
                         dask="parallelized", output_dtypes=[float] * 4)
    names = ("sigma", "phi", "long_run_sigma", "resolution")
    ds = xr.Dataset(dict(zip(names, res)))
    for name in ("sigma", "long_run_sigma", "resolution"):
        if units is not None:
            ds[name].attrs["units"] = units
    ds["phi"].attrs["units"] = "1"
    return ds

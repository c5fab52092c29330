"""Tab welding: weld-resistance statistics and capability, cold-joint flags, energy-resistance relation,
and the join of weld records with formation DCIR by cell.

Conventions (docs/DOMAIN.md, ARCHITECTURE.md §4): a welding Dataset has dim ``weld`` with coords
``time(weld)``, ``cell_id(weld)``, ``tab(weld)`` and variables ``weld_resistance`` (µΩ, four-wire) and
``laser_energy`` (J at the workpiece). A formation Dataset has dim ``cell`` with coord ``cell_id`` and
``dcir`` (mΩ); a pandas table with the same columns works too.

A cold joint passes vision but conducts through too little fused area: its resistance is high and it
shows up later as high cell DCIR. The flag rule is explicit and configurable (:class:`ColdJointRule`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pint
import xarray as xr

from workbench.models.coating import capability
from workbench.units import magnitude_in, to_units, ureg

__all__ = [
    "RESISTANCE_UNITS",
    "WeldInputError",
    "ColdJointRule",
    "resistance_summary",
    "weld_capability",
    "cold_joints",
    "EnergyResistanceFit",
    "energy_resistance_fit",
    "WeldDcirJoin",
    "join_dcir",
    "welds_dataset",
    "weld_vs_dcir",
    "DCIR_WINDOW",
]

RESISTANCE_UNITS = "uohm"
MAD_TO_SIGMA = 1.4826  # MAD x 1.4826 estimates sigma for normal data


class WeldInputError(ValueError):
    """Welding or formation data that cannot be used (missing variable/coord, bad rule)."""


def _var(ds: xr.Dataset, name: str, units: str) -> xr.DataArray:
    if name not in ds.variables:
        raise WeldInputError(f"welding data has no variable {name!r}; has {sorted(map(str, ds.data_vars))}")
    return to_units(ds[name], units, name=name)


def _frame(ds: xr.Dataset, names: dict[str, str], dim: str = "weld") -> pd.DataFrame:
    """Tidy table of the named variables (converted to the given units) plus every coord along dim."""
    cols = {n: _var(ds, n, u).values for n, u in names.items()}
    for c, coord in ds.coords.items():
        if coord.dims == (dim,):
            cols[str(c)] = coord.values
    return pd.DataFrame(cols)


# ----------------------------------------------------------------------------- statistics and capability

def resistance_summary(welding: xr.Dataset, *, by: str | None = "tab", freq: str | None = None) -> pd.DataFrame:
    """Weld-resistance statistics [µΩ] per group: n, mean, std, median, mad (raw), p05, p95, min, max.

    ``by``: a coord along ``weld`` to group on (default ``tab``; None for all welds together);
    ``freq``: also group by time bins (e.g. "1h", using coord ``time``).

    >>> import xarray as xr
    >>> w = xr.Dataset({"weld_resistance": ("weld", [44.0, 45, 46, 60], {"units": "uohm"})},
    ...                coords={"tab": ("weld", ["pos", "neg", "pos", "neg"])})
    >>> resistance_summary(w).loc["pos", ["n", "median"]].tolist()
    [2.0, 45.0]
    """
    df = _frame(welding, {"weld_resistance": RESISTANCE_UNITS})
    keys: list[Any] = []
    if by is not None:
        if by not in df:
            raise WeldInputError(f"cannot group by {by!r}: not a coord along 'weld'")
        keys.append(by)
    if freq is not None:
        if "time" not in df:
            raise WeldInputError("freq needs a coord 'time' along 'weld'")
        keys.append(pd.Grouper(key="time", freq=freq))
    r = df.groupby(keys)["weld_resistance"] if keys else df.assign(_all="all").groupby("_all")["weld_resistance"]
    out = pd.DataFrame({
        "n": r.count().astype(float), "mean": r.mean(), "std": r.std(), "median": r.median(),
        "mad": r.apply(lambda s: float(np.median(np.abs(s - s.median()))) if len(s) else np.nan),
        "p05": r.quantile(0.05), "p95": r.quantile(0.95), "min": r.min(), "max": r.max(),
    })
    out.attrs["units"] = RESISTANCE_UNITS
    return out


def weld_capability(welding: xr.Dataset, usl: Any, lsl: Any = None, *, by: str | None = "tab") -> xr.Dataset:
    """Cpk (and Cp, Pp, Ppk) of weld resistance against the spec, per ``by`` group, in weld order.

    σ_within = average moving range of consecutive welds (of the same group) / d2(2) (≈ 1.128); see
    :func:`workbench.models.coating.capability`. Usually only a USL is given (one-sided Cpk = CPU).

    >>> import xarray as xr
    >>> from workbench.units import ureg
    >>> w = xr.Dataset({"weld_resistance": ("weld", [44.0, 45, 46, 45], {"units": "uohm"})})
    >>> round(float(weld_capability(w, ureg.Quantity(60, "uohm"), by=None).cpk), 2)
    5.64
    """
    r = _var(welding, "weld_resistance", RESISTANCE_UNITS)
    if "time" in r.coords:
        r = r.sortby("time")
    if by is None:
        return capability(r, lsl, usl, dim="weld")
    if by not in r.coords:
        raise WeldInputError(f"cannot group by {by!r}: not a coord along 'weld'")
    groups = {k: capability(g, lsl, usl, dim="weld") for k, g in r.groupby(by)}
    out = xr.concat(list(groups.values()), dim=pd.Index(list(groups), name=by))
    out.attrs = next(iter(groups.values())).attrs
    return out


# ----------------------------------------------------------------------------- cold joints

@dataclass(frozen=True)
class ColdJointRule:
    """When a weld is flagged as a (suspected) cold joint: any enabled criterion fires.

    - ``usl``: resistance > USL (a Quantity, e.g. 60 µΩ); None disables.
    - ``mad_k``: resistance > median + k · 1.4826 · MAD (robust z-score above k), median and MAD per
      ``by`` group (tabs differ in nominal resistance); None disables.
    - ``energy_floor``: laser energy at the workpiece < floor (a Quantity in J); None disables.

    >>> ColdJointRule(usl=ureg.Quantity(60, "uohm")).describe()
    'resistance > 60 uohm OR resistance > median + 6 x 1.4826 x MAD (per tab)'
    """

    usl: Any = None
    mad_k: float | None = 6.0
    energy_floor: Any = None
    by: str | None = "tab"

    def __post_init__(self):
        if self.usl is None and self.mad_k is None and self.energy_floor is None:
            raise WeldInputError("ColdJointRule: enable at least one of usl, mad_k, energy_floor")
        if self.mad_k is not None and not self.mad_k > 0:
            raise WeldInputError(f"ColdJointRule: mad_k={self.mad_k} must be > 0")
        for name, units in (("usl", RESISTANCE_UNITS), ("energy_floor", "J")):  # check units now
            if getattr(self, name) is not None:
                magnitude_in(getattr(self, name), units, name=f"ColdJointRule.{name}")

    def describe(self) -> str:
        """The rule in words, for reports and dashboards.

        >>> ColdJointRule(mad_k=None, energy_floor=ureg.Quantity(17.5, "J")).describe()
        'laser energy < 17.5 J'
        """
        parts = []
        if self.usl is not None:
            parts.append(f"resistance > {float(magnitude_in(self.usl, RESISTANCE_UNITS)):g} {RESISTANCE_UNITS}")
        if self.mad_k is not None:
            parts.append(f"resistance > median + {self.mad_k:g} x 1.4826 x MAD"
                         + (f" (per {self.by})" if self.by else ""))
        if self.energy_floor is not None:
            parts.append(f"laser energy < {float(magnitude_in(self.energy_floor, 'J')):g} J")
        return " OR ".join(parts)


def cold_joints(welding: xr.Dataset, rule: ColdJointRule | None = None) -> xr.Dataset:
    """Cold-joint flags per weld: one boolean per enabled criterion and ``cold_joint`` (any of them).

    Also returns ``robust_z`` = (R − median) / (1.4826 · MAD) per group. attrs["rule"] states the rule.

    >>> import xarray as xr
    >>> w = xr.Dataset({"weld_resistance": ("weld", [44.0, 45, 46, 45, 44, 95], {"units": "uohm"})})
    >>> cold_joints(w, ColdJointRule(by=None)).cold_joint.values.tolist()
    [False, False, False, False, False, True]
    """
    rule = rule or ColdJointRule()
    r = _var(welding, "weld_resistance", RESISTANCE_UNITS)
    flags = {}
    if rule.by is not None and rule.by not in r.coords:
        raise WeldInputError(f"ColdJointRule.by={rule.by!r} is not a coord along 'weld'")
    groups = r[rule.by].values if rule.by is not None else np.zeros(r.sizes["weld"], dtype=int)
    s = pd.Series(r.values)
    med = s.groupby(groups).transform("median")
    mad = (s - med).abs().groupby(groups).transform("median")
    z_values = ((s - med) / (MAD_TO_SIGMA * mad.where(mad > 0))).to_numpy()
    z = r.copy(data=z_values).rename("robust_z")
    z.attrs = {"units": "dimensionless", "definition": "(R - median) / (1.4826 MAD), per group"}
    if rule.usl is not None:
        flags["above_usl"] = r > float(magnitude_in(rule.usl, RESISTANCE_UNITS, name="usl"))
    if rule.mad_k is not None:
        flags["robust_outlier"] = z > rule.mad_k
    if rule.energy_floor is not None:
        e = _var(welding, "laser_energy", "J")
        flags["low_energy"] = e < float(magnitude_in(rule.energy_floor, "J", name="energy_floor"))
    out = xr.Dataset(flags)
    out["cold_joint"] = xr.concat(list(flags.values()), dim="criterion").any("criterion")
    out["robust_z"] = z
    out.attrs = {"rule": rule.describe()}
    return out


# ----------------------------------------------------------------------------- energy vs resistance

@dataclass(frozen=True)
class EnergyResistanceFit:
    """Least-squares fit of weld resistance [µΩ] on laser energy [J].

    ``model="power"``: R = a · E^b (fit of ln R on ln E; b is the exponent, negative: less energy, less
    fused area, higher R). ``model="linear"``: R = a + b · E. ``r``/``r2``: Pearson correlation and R²
    on the scale that was fitted; ``n``: welds used.

    >>> f = EnergyResistanceFit("power", a=45 * 19.4**2.2, b=-2.2, r=-0.9, r2=0.81, n=100)
    >>> round(float(f.predict(ureg.Quantity(17.46, "J")).m), 1)  # 10 % less energy
    56.7
    """

    model: str
    a: float
    b: float
    r: float
    r2: float
    n: int

    def predict(self, energy: Any) -> pint.Quantity:
        """Resistance [µΩ] the fit expects at ``energy`` (a Quantity in J or convertible).

        >>> EnergyResistanceFit("linear", a=100.0, b=-3.0, r=-0.8, r2=0.64, n=50).predict(
        ...     ureg.Quantity(19000, "mJ")).m.item()
        43.0
        """
        e = np.asarray(magnitude_in(energy, "J", name="energy"), dtype=float)
        r = self.a * e**self.b if self.model == "power" else self.a + self.b * e
        return ureg.Quantity(r, RESISTANCE_UNITS)


def energy_resistance_fit(welding: xr.Dataset, *, model: str = "power",
                          exclude: xr.DataArray | None = None) -> EnergyResistanceFit:
    """Fit weld resistance against laser energy over all welds (minus ``exclude``, e.g. cold joints).

    >>> import numpy as np, xarray as xr
    >>> e = np.linspace(17, 20, 30)
    >>> w = xr.Dataset({"laser_energy": ("weld", e, {"units": "J"}),
    ...                 "weld_resistance": ("weld", 45 * (19.4 / e) ** 2.2, {"units": "uohm"})})
    >>> f = energy_resistance_fit(w)
    >>> round(f.b, 3), round(float(f.predict(ureg.Quantity(19.4, "J")).m), 2)
    (-2.2, 45.0)
    """
    if model not in ("power", "linear"):
        raise WeldInputError(f"model={model!r} is not one of ('power', 'linear')")
    e = _var(welding, "laser_energy", "J").values.astype(float)
    r = _var(welding, "weld_resistance", RESISTANCE_UNITS).values.astype(float)
    keep = np.isfinite(e) & np.isfinite(r) & (e > 0) & (r > 0)
    if exclude is not None:
        keep &= ~np.asarray(exclude, dtype=bool)
    if keep.sum() < 3:
        raise WeldInputError(f"energy_resistance_fit needs at least 3 usable welds, got {int(keep.sum())}")
    x, y = (np.log(e[keep]), np.log(r[keep])) if model == "power" else (e[keep], r[keep])
    b, a = np.polyfit(x, y, 1)
    rho = float(np.corrcoef(x, y)[0, 1])
    return EnergyResistanceFit(model, float(np.exp(a)) if model == "power" else float(a), float(b),
                               rho, rho**2, int(keep.sum()))


# ----------------------------------------------------------------------------- weld -> cell DCIR

@dataclass(frozen=True)
class WeldDcirJoin:
    """Weld records joined to formation DCIR by cell.

    ``table``: one row per cell with cell_id, weld_resistance (the ``how`` aggregate of its welds, µΩ),
    weld_resistance_max, n_welds, laser_energy_min (J, if present), dcir (mΩ), weld_share (weld
    resistance / DCIR, dimensionless) and any other formation columns along ``cell`` (rack, channel...).
    ``pearson``/``spearman``: correlation of weld_resistance with dcir; ``slope``: least-squares dDCIR /
    dR_weld [mΩ/µΩ] (1e-3 if the welds add in series 1:1); ``n``: cells in both tables.

    >>> import pandas as pd
    >>> j = WeldDcirJoin(pd.DataFrame({"cell_id": ["A"], "dcir": [0.95]}), 0.3, 0.25, 1e-3, 1)
    >>> j.table.dcir.item(), j.slope
    (0.95, 0.001)
    """

    table: pd.DataFrame
    pearson: float
    spearman: float
    slope: float
    n: int

    @property
    def intercept(self) -> float:
        """DCIR (mΩ) of the least-squares line at zero weld resistance (the line passes through the means)."""
        ok = self.table[["weld_resistance", "dcir"]].dropna()
        return float(ok["dcir"].mean() - self.slope * ok["weld_resistance"].mean())


def _formation_table(formation: Any) -> pd.DataFrame:
    if isinstance(formation, xr.Dataset):
        if "dcir" not in formation.variables or "cell_id" not in formation.coords:
            raise WeldInputError("formation Dataset needs variable 'dcir' and coord 'cell_id' along 'cell'")
        df = _frame(formation, {"dcir": "mohm"}, dim=formation["cell_id"].dims[0])
        for v, da in formation.data_vars.items():  # other per-cell results, in their own units
            if v != "dcir" and da.dims == formation["cell_id"].dims and np.issubdtype(da.dtype, np.number):
                df[str(v)] = da.values
        return df
    if isinstance(formation, pd.DataFrame):
        if not {"cell_id", "dcir"} <= set(formation.columns):
            raise WeldInputError("formation table needs columns 'cell_id' and 'dcir' (mΩ)")
        units = formation.attrs.get("units", {}).get("dcir", "mohm")
        factor = float(magnitude_in(ureg.Quantity(1.0, units), "mohm", name="formation dcir"))
        return formation.assign(dcir=formation["dcir"] * factor)
    raise WeldInputError(f"formation must be an xarray Dataset or a pandas DataFrame, not {type(formation).__name__}")


def join_dcir(welding: xr.Dataset, formation: Any, *, how: str = "sum") -> WeldDcirJoin:
    """Join welds to formation DCIR by ``cell_id`` and correlate them.

    ``how``: "sum" (the tab welds are in series in the current path, so their resistances add) or "max"
    (the worst weld). Cells missing from either side are dropped.

    >>> import xarray as xr
    >>> w = xr.Dataset({"weld_resistance": ("weld", [44.0, 45, 45, 46, 90, 46], {"units": "uohm"})},
    ...                coords={"cell_id": ("weld", ["A", "A", "B", "B", "C", "C"])})
    >>> f = xr.Dataset({"dcir": ("cell", [25.089, 25.091, 25.136], {"units": "mohm"})},
    ...                coords={"cell_id": ("cell", ["A", "B", "C"])})
    >>> j = join_dcir(w, f)
    >>> j.table.weld_resistance.tolist(), j.n, round(j.pearson, 6), round(j.slope, 6)
    ([89.0, 91.0, 136.0], 3, 1.0, 0.001)
    """
    if how not in ("sum", "max"):
        raise WeldInputError(f"how={how!r} is not one of ('sum', 'max')")
    names = {"weld_resistance": RESISTANCE_UNITS}
    if "laser_energy" in welding.variables:
        names["laser_energy"] = "J"
    welds = _frame(welding, names)
    if "cell_id" not in welds:
        raise WeldInputError("welding data needs a coord 'cell_id' along 'weld'")
    g = welds.groupby("cell_id")
    per_cell = pd.DataFrame({"weld_resistance": g["weld_resistance"].agg(how),
                             "weld_resistance_max": g["weld_resistance"].max(),
                             "n_welds": g["weld_resistance"].count()})
    if "laser_energy" in welds:
        per_cell["laser_energy_min"] = g["laser_energy"].min()
    table = per_cell.reset_index().merge(_formation_table(formation), on="cell_id", how="inner")
    table["weld_share"] = table["weld_resistance"] * 1e-3 / table["dcir"]
    table.attrs["units"] = {"weld_resistance": RESISTANCE_UNITS, "weld_resistance_max": RESISTANCE_UNITS,
                            "laser_energy_min": "J", "dcir": "mohm", "weld_share": "dimensionless"}
    ok = table[["weld_resistance", "dcir"]].dropna()
    if len(ok) < 3:
        raise WeldInputError(f"only {len(ok)} cell(s) are in both the welding and the formation data")
    pearson = float(ok["weld_resistance"].corr(ok["dcir"]))
    spearman = float(ok["weld_resistance"].rank().corr(ok["dcir"].rank()))
    slope = float(np.polyfit(ok["weld_resistance"], ok["dcir"], 1)[0])
    return WeldDcirJoin(table, pearson, spearman, slope, len(ok))


DCIR_WINDOW = pd.Timedelta(hours=8)  # cells whose formation (and so DCIR) finished this recently
WELD_LEAD = pd.Timedelta(hours=48)  # a cell's welds are at most this long before its formation ends


def welds_dataset(welds: pd.DataFrame) -> xr.Dataset:
    """A genealogy's welds table (cell_id, weld_resistance [µΩ or ``attrs["units"]``], laser_energy [J]) as
    the welding Dataset of this module (dim ``weld``, coord ``cell_id``).

    >>> welds_dataset(pd.DataFrame({"cell_id": ["A", "A"], "weld_resistance": [44.0, 45.0]})).weld_resistance.attrs
    {'units': 'uohm'}
    """
    if "cell_id" not in welds or "weld_resistance" not in welds:
        raise WeldInputError(f"the welds table needs columns cell_id and weld_resistance; it has {list(welds.columns)}")
    units = welds.attrs.get("units", {})
    data = {"weld_resistance": ("weld", welds.weld_resistance.to_numpy(dtype=float),
                                {"units": units.get("weld_resistance", RESISTANCE_UNITS)})}
    if "laser_energy" in welds:
        data["laser_energy"] = ("weld", welds.laser_energy.to_numpy(dtype=float),
                                {"units": units.get("laser_energy", "J")})
    return xr.Dataset(data, coords={"cell_id": ("weld", welds.cell_id.astype(str).to_numpy())})


def weld_vs_dcir(source: Any, as_of: Any, window: Any = DCIR_WINDOW, *, how: str = "sum") -> WeldDcirJoin:
    """Weld resistance (``how`` of a cell's tab welds, µΩ) against formation DCIR (mΩ) of the cells whose
    formation ended in the ``window`` before ``as_of``, from a genealogy source
    (:class:`workbench.genealogy.GenealogySource`): :func:`join_dcir` on its welds and formation results.

    >>> from workbench.genealogy import VirtualLineGenealogy
    >>> from workbench.simulate import virtual_line
    >>> j = weld_vs_dcir(VirtualLineGenealogy(virtual_line(seed=0)), pd.Timestamp("2026-01-06 12:00"))
    >>> j.n > 500, 0.8 < j.slope * 1e3 < 1.25   # welds are in series: DCIR rises ~1 µΩ per µΩ of weld
    (True, True)
    """
    as_of, window = pd.Timestamp(as_of), pd.Timedelta(window)
    formation = source.formation(as_of - window, as_of)
    if formation.sizes.get("cell", 0) == 0:
        raise WeldInputError(f"no cell finished formation in the {window} before {as_of:%Y-%m-%d %H:%M}")
    welds = source.cells(as_of - window - WELD_LEAD, as_of).get("welds")
    if welds is None or welds.empty:
        raise WeldInputError("the genealogy has no welds table (cell_id, weld_resistance per weld)")
    welds = welds[welds.cell_id.isin(formation.cell_id.values)]
    return join_dcir(welds_dataset(welds), formation, how=how)

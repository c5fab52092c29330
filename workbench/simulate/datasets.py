"""Assemble the stations' values into xarray Datasets (with units) and the truth table.

Times are tz-naive UTC datetime64[ns]; every data variable carries ``attrs["units"]``; each Dataset
has ``attrs["station"]`` and passes :func:`workbench.schema.validate`.

The tags' values are what a historian reader gives (:mod:`.instruments`): aged, quantised to the tag's
resolution, PLC bad-value codes masked to NaN and counted (``attrs["bad_values"]``), and the link's drop-outs
NaN, listed as ISO intervals in ``attrs["gaps"]`` (as :func:`workbench.history.open_station` does).
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from workbench.badvalues import mask_bad_values

from . import events as ev
from .live import INTERNAL_UNITS


def _attrs(units, **more):
    return {"units": units, **more}


def _station_attrs(line, station):
    return {"station": station, "line": line.config.name, "source": "workbench.simulate", "seed": line.seed,
            "timezone": "UTC"}


def _tag_of(line, station, variable, **index):
    for path, s in line.signals.items():
        if s.station == station and s.variable == variable and all(getattr(s, k) == v for k, v in index.items()):
            return path
    return ""


def _read(line, station, variable, k, t, values, **index) -> tuple[np.ndarray, int]:
    """(what the historian's reader gives of a tag: carried over the wire, bad values masked; how many)."""
    path = _tag_of(line, station, variable, **index)
    if not path:  # a config without this tag: the station's own reading
        return np.asarray(values, dtype=np.float64), 0
    carried = line.carry(path, k, t, values, internal=INTERNAL_UNITS[(station, variable)])
    return mask_bad_values(carried)


def _mark(ds: xr.Dataset, line, link: str, t0_s: float, t1_s: float, counts: dict) -> xr.Dataset:
    """Bad-value counts and the link's drop-outs (ISO intervals) in the tags' attrs."""
    iso = lambda s: pd.Timestamp(line.time(s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    gaps = [f"{iso(s)}/{iso(e)}" for s, e in line.instruments.dropouts(link, t0_s, t1_s)]
    for name, n in counts.items():
        ds[name].attrs.update(bad_values=int(n), gaps=list(gaps))
    ds.attrs["gaps"] = list(gaps)
    return ds


def _read_columns(line, station, variable, k, t, block, key, labels):
    cols = [_read(line, station, variable, k, t, block[:, j], **{key: lab}) for j, lab in enumerate(labels)]
    return (np.stack([c[0] for c in cols], axis=-1) if cols else block), sum(c[1] for c in cols)


def coating(line, t0_s: float, t1_s: float) -> xr.Dataset:
    """Coater + scanning gauge, one row per scan in [t0, t1)."""
    c = line.coater
    k = c.scans_between(t0_s, t1_s)
    g = c.gauge(k)
    sec = g["t"].astype(np.int64)
    pv = c.process_values(sec)
    counts = {}
    g["areal_mass"], counts["areal_mass"] = _read_columns(line, "coating", "areal_mass", k, g["t"], g["areal_mass"],
                                                          "lane", [int(x) for x in c.lanes])
    for name in ("pump_rate", "pump_rate_setpoint", "line_speed", "line_speed_setpoint", "solids_fraction"):
        pv[name], counts[name] = _read(line, "coating", name, sec, g["t"], pv[name])
    lane_tag = _tag_of(line, "coating", "areal_mass", lane=1).replace("lane01", "lane{lane:02d}")
    pv_tag = lambda name: _tag_of(line, "coating", name)  # noqa: E731
    ds = xr.Dataset(
        data_vars={
            "areal_mass": (("time", "lane"), g["areal_mass"], _attrs(
                "mg/cm^2", long_name="dry areal mass", sides="per_side", basis="coating_only",
                instrument="scanning beta gauge", tag=lane_tag)),
            "pump_rate": ("time", pv["pump_rate"], _attrs("g/min", long_name="slurry mass flow", tag=pv_tag("pump_rate"))),
            "pump_rate_setpoint": ("time", pv["pump_rate_setpoint"], _attrs("g/min", tag=pv_tag("pump_rate_setpoint"))),
            "line_speed": ("time", pv["line_speed"], _attrs("m/min", long_name="web speed", tag=pv_tag("line_speed"))),
            "line_speed_setpoint": ("time", pv["line_speed_setpoint"], _attrs("m/min", tag=pv_tag("line_speed_setpoint"))),
            "solids_fraction": ("time", pv["solids_fraction"], _attrs(
                "dimensionless", long_name="solids mass fraction of the lot in the feed tank (lab)",
                tag=pv_tag("solids_fraction"))),
            "coated_width": ((), c.p.coated_width_m, _attrs("m", long_name="coated width")),
        },
        coords={
            "time": ("time", line.time(g["t"]), {"long_name": "scan time (UTC)"}),
            "lane": ("lane", c.lanes, {"long_name": "gauge lane (slit lane) across the web"}),
            "lane_centre_mm": ("lane", c.lane_centre_mm, _attrs("mm")),
            "roll_id": ("time", c.roll_id(g["roll"])),
            "lot_id": ("time", c.lot_id(g["lot"])),
            "position": ("time", g["position"], _attrs("m", long_name="metres along the mother roll")),
            "coated_at": ("time", line.time(g["tau"]), {"long_name": "when the scanned web left the die (UTC)"}),
        },
        attrs={**_station_attrs(line, "coating"), "path_m": c.p.path_m,
               "note": "areal_mass is per side, coating only; mass balance: w_s*pump_rate/(W*U) at coated_at"},
    )
    return _mark(ds, line, "coating", t0_s, t1_s, counts)


def dryroom(line, t0_s: float, t1_s: float) -> xr.Dataset:
    """Dry-room sensors every ``sample_period_s`` in [t0, t1)."""
    d = line.dryroom
    dt = d.p.sample_period_s
    k = np.arange(int(np.ceil(t0_s / dt)), int(np.ceil(t1_s / dt)), dtype=np.int64)
    v = d.samples(k)
    counts = {}
    cols = [_read(line, "dryroom", r, k, v["t"], v["dew_frost_point"][:, j], sensor=s)
            for j, (s, r) in enumerate(zip(d.p.sensors, d.p.reports))]
    v["dew_frost_point"] = np.stack([col[0] for col in cols], axis=-1)
    counts["dew_frost_point"] = sum(col[1] for col in cols)
    for name in ("temperature", "frost_point_setpoint"):
        v[name], counts[name] = _read(line, "dryroom", name, k, v["t"], v[name])
    tags = [_tag_of(line, "dryroom", r, sensor=s) for s, r in zip(d.p.sensors, d.p.reports)]
    alarm = [line.config.tag(p).alarm.high if p and line.config.tag(p).alarm else np.nan for p in tags]
    ds = xr.Dataset(
        data_vars={
            "dew_frost_point": (("time", "sensor"), v["dew_frost_point"], _attrs(
                "degC", long_name="dew or frost point as each sensor reports it (see coord reports)")),
            "temperature": ("time", v["temperature"], _attrs("degC", long_name="room air temperature")),
            "frost_point_setpoint": ("time", v["frost_point_setpoint"], _attrs(
                "degC", tag=_tag_of(line, "dryroom", "frost_point_setpoint"))),
            "door_open": ("time", v["door_open"], {"units": "dimensionless", "long_name": "door contact open"}),
        },
        coords={
            "time": ("time", line.time(v["t"])),
            "sensor": ("sensor", list(d.p.sensors)),
            "reports": ("sensor", list(d.p.reports)),
            "tag": ("sensor", tags),
            "alarm_high": ("sensor", np.asarray(alarm, dtype=float), _attrs("degC")),
        },
        attrs={**_station_attrs(line, "dryroom"), "pressure_pa": d.p.pressure_pa},
    )
    return _mark(ds, line, "dryroom", t0_s, t1_s, counts)


def welding(line, t0_s: float, t1_s: float) -> xr.Dataset:
    """One row per tab weld in [t0, t1)."""
    w = line.welder
    i = w.welds_between(t0_s, t1_s)
    v = w.welds(i)
    counts = {}
    for name in ("weld_resistance", "laser_energy"):
        v[name], counts[name] = _read(line, "welding", name, i, v["t"], v[name])
    for name in ("laser_power", "laser_power_setpoint"):
        v[name], counts[name] = _read(line, "welding", name, v["t"].astype(np.int64), v["t"], v[name])
    tag = lambda name: _tag_of(line, "welding", name)  # noqa: E731
    ds = xr.Dataset(
        data_vars={
            "weld_resistance": ("weld", v["weld_resistance"], _attrs(
                "uohm", long_name="four-wire weld resistance", tag=tag("weld_resistance"))),
            "laser_energy": ("weld", v["laser_energy"], _attrs(
                "J", long_name="pulse energy at the workpiece", tag=tag("laser_energy"))),
            "laser_power": ("weld", v["laser_power"], _attrs("W", tag=tag("laser_power"))),
            "laser_power_setpoint": ("weld", v["laser_power_setpoint"], _attrs("W", tag=tag("laser_power_setpoint"))),
        },
        coords={
            "weld": ("weld", i),
            "time": ("weld", line.time(v["t"])),
            "cell_id": ("weld", w.cell_id(v["cell"])),
            "tab": ("weld", v["tab"]),
        },
        attrs=_station_attrs(line, "welding"),
    )
    return _mark(ds, line, "welding", t0_s, t1_s, counts)


def _formation_module():
    try:
        return importlib.import_module("workbench.simulate.formation")
    except ImportError:
        return None


def formation(line, gen, truth: pd.DataFrame) -> xr.Dataset | None:
    """Formation results of the history's cells (None while formation.py is absent).

    Formation takes about 20 h on the channel plus 3 days of aging, so most cells of a short history
    finish after its end: the results are what the cycler *will* report; the coord ``formation_end``
    tells when (filter ``formation_end <= h.end`` for what was known at the end of the window).
    """
    mod = _formation_module()
    if mod is None or not hasattr(mod, "formation_results"):
        return None
    try:
        ds = mod.formation_results(gen.cells, seed=line.seed, events=truth)
    except ModuleNotFoundError as exc:  # formation.py needs workbench.models (landing separately)
        warnings.warn(f"virtual line: formation results unavailable ({exc}); h.formation is None", stacklevel=3)
        return None
    ds.attrs.setdefault("station", "formation")
    return ds


def formation_curves(history, cell_ids: list[str]) -> dict:
    """Curves of ``cell_ids`` (cells of ``history``'s genealogy) from formation.py."""
    mod = _formation_module()
    if mod is None or not hasattr(mod, "formation_curves"):
        raise RuntimeError("formation curves need workbench/simulate/formation.py (formation_curves)")
    cells = history.genealogy.cells
    unknown = sorted(set(cell_ids) - set(cells.cell_id))
    if unknown:
        raise KeyError(f"cell(s) {unknown[:3]} are not in this history's genealogy "
                       f"({history.start} .. {history.end}); take a history that covers their weld time")
    rows = cells[cells.cell_id.isin(cell_ids)]
    return mod.formation_curves(rows, seed=history.line.seed, events=history.truth)


def truth_table(line, events: list[ev.Event], extra: list[dict] = ()) -> pd.DataFrame:
    """One row per event: kind, station, target, cause, lane/sensor/rack/channel, start, end,
    observed_start, observed_end, magnitude, units, description (times tz-naive UTC); then the ``extra``
    rows (instrument faults, :func:`workbench.simulate.instruments.truth_rows`) ordered by start.

    ``target`` is the signal that carries the signature (ISA path, ``*`` for a group), and
    observed_start/observed_end are when it shows there; ``cause`` is the tag where the cause itself
    is visible at start/end, if any (e.g. the pump_rate for pump wear, the solids lab value for a lot).
    """
    rows = []
    c = line.coater
    for e in events:
        obs0, obs1 = e.start_s, e.end_s
        if e.kind in ("pump_wear", "slurry_lot_step", "die_lip_streak"):  # caused at the die, seen at the gauge
            d0 = float(c.p.path_m / (c.speed.response(e.start_s) / 60.0))
            d1 = float(c.p.path_m / (c.speed.response(e.end_s) / 60.0))
            obs0, obs1 = e.start_s + d0, e.end_s + d1
        elif e.kind == "dewpoint_excursion":  # decays after the cause ends (cut at 0.2 % of its size)
            obs1 = e.footprint_end_s
        rows.append(dict(
            kind=e.kind, station=e.station, target=_target(line, e), cause=_cause(line, e),
            lane=e.lane, sensor=e.sensor, rack=e.rack, channel=e.channel,
            start=e.start, end=e.end,
            observed_start=pd.Timestamp(line.time(obs0)), observed_end=pd.Timestamp(line.time(obs1)),
            magnitude=float(e.magnitude), units=e.units, description=e.description,
        ))
    cols = ["kind", "station", "target", "cause", "lane", "sensor", "rack", "channel", "start", "end",
            "observed_start", "observed_end", "magnitude", "units", "description"]
    rows.extend(sorted(extra, key=lambda r: (r["start"], r["kind"], r["target"])))
    df = pd.DataFrame(rows, columns=cols)
    for col in ("lane", "rack", "channel"):
        df[col] = df[col].astype("Int64")
    for col in ("start", "end", "observed_start", "observed_end"):
        df[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
    return df


def _target(line, e: ev.Event) -> str:
    t = lambda st, var, **ix: _tag_of(line, st, var, **ix)  # noqa: E731
    if e.kind in ("pump_wear", "slurry_lot_step", "gauge_drift"):
        return t("coating", "areal_mass", lane=1).replace("lane01", "lane*")
    if e.kind == "die_lip_streak":
        return t("coating", "areal_mass", lane=e.lane)
    if e.kind == "dewpoint_excursion":
        if e.sensor is not None:
            return next(p for p, s in line.signals.items() if s.station == "dryroom" and s.sensor == e.sensor)
        first = next((p for p, s in line.signals.items() if s.station == "dryroom" and s.sensor), "")
        return first.rsplit("/", 1)[0] + "/*"
    if e.kind == "laser_window_contamination":
        return t("welding", "weld_resistance")
    if e.kind == "weak_formation_channel":
        return f"{line.config.site}/formation/rack{e.rack}/ch{e.channel:02d}"
    return ""


def _cause(line, e: ev.Event) -> str:
    var = {"pump_wear": ("coating", "pump_rate"), "slurry_lot_step": ("coating", "solids_fraction"),
           "laser_window_contamination": ("welding", "laser_energy")}.get(e.kind)
    return _tag_of(line, *var) if var else ""

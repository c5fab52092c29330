"""Fill a history store from the virtual line: every tag's samples, the genealogy and the truth table.

What the recorder would have stored had it listened to the virtual line for that time, computed in
batch (``VirtualLine.tag_samples``), hour by hour, so a week of history takes a couple of minutes and
bounded memory. Idempotent: filling the same window again stores nothing twice.

Like the recorder, it stores no PLC bad-value code (:mod:`workbench.badvalues`; counted in the result) and
nothing for the time a station's link was down: those drop-outs are stored as gaps
(:mod:`workbench.history.gaps`, cause "communication drop-out"), never filled.

>>> from workbench.history.fill import fill_from_virtual_line
>>> fill_from_virtual_line("var/history", days=7, seed=0)   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from workbench.badvalues import is_bad_value
from workbench.config import LineConfig, default_config_path, load_line_config
from workbench.history.catalog import write_events, write_genealogy, write_tables
from workbench.history.gaps import write_gaps
from workbench.history.store import HistoryStore, TagSpec


def declare_line(store: HistoryStore, line: LineConfig) -> dict[str, list[str]]:
    """Declare every station of ``line`` in ``store``; returns station -> tag paths."""
    out = {}
    for station in line.stations:
        specs = [TagSpec(t.path, t.units, t.resolution, t.reports) for t in station.tags]
        store.declare_station(station.name, specs, kind=station.kind)
        out[station.name] = [s.path for s in specs]
    return out


def rows_from_samples(samples: dict[str, tuple[np.ndarray, np.ndarray]]):
    """Merge per-tag (times, values) series into rows: sorted unique times, tag -> values (NaN where absent)."""
    present = {p: (t, v) for p, (t, v) in samples.items() if len(t)}
    if not present:
        return pd.DatetimeIndex([], tz="UTC"), {}
    all_t = np.unique(np.concatenate([np.asarray(t, dtype="datetime64[ns]") for t, _ in present.values()]))
    values = {}
    for path, (t, v) in present.items():
        col = np.full(len(all_t), np.nan)
        col[np.searchsorted(all_t, np.asarray(t, dtype="datetime64[ns]"))] = v
        values[path] = col
    return pd.DatetimeIndex(all_t).tz_localize("UTC"), values


def identity_tables(hist) -> dict[str, pd.DataFrame]:
    """Tables a plant's MES would provide: roll/lot/position per gauge scan, formation results with units."""
    out = {}
    c = hist.coating
    if c is not None:
        out["coating_scans"] = pd.DataFrame({"time": c.time.values, "roll_id": c.roll_id.values,
                                             "lot_id": c.lot_id.values, "position": c.position.values})
    f = hist.formation
    if f is not None:
        df = f.reset_coords().to_dataframe().reset_index()
        keep = [col for col in df.columns if df[col].dtype.kind in "biufMUO"]
        out["formation_results"] = df[keep]
        out["formation_units"] = pd.DataFrame([(n, f[n].attrs.get("units", "")) for n in f.variables],
                                              columns=["variable", "units"])
    return out


def fill_from_virtual_line(root: str | Path, *, days: float = 7.0, seed: int = 0, config: str | Path | None = None,
                           start=None, step_hours: float = 1.0, progress: bool = False, events="default",
                           instruments="default") -> dict:
    """Fill ``root`` with ``days`` of virtual-line history. Returns counts (samples, rows, cells, events,
    bad_values not stored, gaps stored). ``events``/``instruments``: as :func:`workbench.simulate.virtual_line`."""
    from workbench.simulate import virtual_line

    line = load_line_config(config or default_config_path())
    vl = virtual_line(seed=seed, config=line, events=events, instruments=instruments,
                      **({"start": start} if start is not None else {}))
    store = HistoryStore(root)
    stations = declare_line(store, line)
    hours = days * 24.0
    edges = np.arange(0.0, hours + 1e-9, step_hours)
    if edges[-1] < hours:
        edges = np.append(edges, hours)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(edges) - 1, unit="h", desc="virtual line -> history")
    samples = rows = bad = 0
    for h0, h1 in zip(edges[:-1], edges[1:]):
        n = append_samples(store, stations, vl.tag_samples(start=f"{h0}h", end=f"{h1}h"))
        samples, rows, bad = samples + n[0], rows + n[1], bad + n[2]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    hist = vl.history(hours=hours)
    cells = write_genealogy(store.root, hist.genealogy)
    write_tables(store.root, identity_tables(hist))
    for station in line.stations:
        if station.kind == "coating" and hist.coating is not None:
            width = hist.coating["coated_width"]
            store.declare_station(station.name, [], constants={"coated_width": [float(width), width.attrs["units"]]})
    truth = hist.truth.rename(columns={})
    n_events = write_events(store.root, truth, source="virtual-line truth")
    n_gaps = write_gaps(store.root, dropout_gaps(vl, line, 0.0, hours * 3600.0), source="virtual-line links")
    return {"samples": samples, "rows": rows, "cells": cells.get("cells", 0), "events": n_events,
            "bad_values": bad, "gaps": n_gaps, "start": str(vl.start), "hours": hours}


def readings_only(got: dict) -> tuple[dict, int]:
    """``tag_samples`` without PLC bad-value codes and without the NaN of link drop-outs: what a recorder
    (or the line's own history) holds. Returns ({path: (times, values)}, how many codes were left out)."""
    kept, bad = {}, 0
    for p, (t, v) in got.items():
        codes = is_bad_value(v)
        bad += int(codes.sum())
        keep = np.isfinite(v) & ~codes
        kept[p] = (t[keep], v[keep])
    return kept, bad


def append_samples(store: HistoryStore, stations: dict[str, list[str]], got: dict) -> tuple[int, int, int]:
    """Append one window of ``tag_samples`` as the recorder would store it: readings only, no PLC bad-value
    code and nothing while a link is down (NaN). Returns (samples stored, rows, bad-value codes left out)."""
    samples = rows = 0
    kept, bad = readings_only(got)
    for station, paths in stations.items():
        times, values = rows_from_samples({p: kept[p] for p in paths if p in kept})
        if len(times):
            res = store.append(station, times, values)
            samples, rows = samples + res.stored, rows + res.rows
    return samples, rows, bad


def dropout_gaps(vl, line: LineConfig, t0_s: float, t1_s: float) -> pd.DataFrame:
    """The virtual line's link drop-outs in [t0, t1) as store gaps: one row per tag of the link."""
    rows = []
    for station in line.stations:
        for tag in station.tags:
            link = vl.wire(vl.signals[tag.path]).link
            for s, e in vl.instruments.dropouts(link, t0_s, t1_s):
                rows.append((station.name, tag.path, pd.Timestamp(vl.time(max(s, t0_s))), pd.Timestamp(vl.time(e)),
                             f"communication drop-out of the link to {link}"))
    return pd.DataFrame(rows, columns=["station", "tag", "start", "end", "cause"])


__all__ = ["fill_from_virtual_line", "declare_line", "rows_from_samples", "append_samples", "readings_only",
           "dropout_gaps"]

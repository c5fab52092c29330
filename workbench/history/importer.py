"""Import historian and spreadsheet exports into the history store (``workbench import``); files only.

>>> from workbench.history.importer import import_files
>>> summary = import_files(["pi_export.csv"], "var/history", config="line.yaml", tz="Europe/Berlin")  # doctest: +SKIP
>>> print(summary)                                                                                  # doctest: +SKIP

Steps (see :mod:`.exports` for layouts and :mod:`.import_times` for time zones):

1. **Plan**: each file's layout is sniffed and each tag column (wide) is mapped to an ISA-95 path: through a
   mapping file (``source,path[,units]``), the line config (a tag's path, ``name`` or last path part), or the
   column name itself when it is an ISA-95 path. The station is the config's, else the store's (a tag the
   store already keeps), else the path's fourth part. The stored unit is the config's, else the store's,
   else the export's; an export unit of another dimension than the config's is an error, a convertible one
   is converted (pint).
2. **Stage**: rows are read in chunks of bounded size and written, per station and time bucket, to a staging
   folder inside the store. Any error (an unknown tag, a unit that contradicts, a time that does not parse)
   stops here, the staging folder is removed and the store is untouched.
3. **Commit**: per station, bucket by bucket in time order, rows go through :meth:`HistoryStore.append`, which
   keeps its own rule: rows not newer than what the store holds are not stored again (so importing the same
   file twice adds nothing) and repeated timestamps are merged (the last value in file order wins).

Quality: a cell with text instead of a number (``Bad Input``, ``I/O Timeout``, ``Comm Fail``) or a row whose
quality column is not good is a **gap**: stored as a missing value at its time (never filled) and marked by
the store's gap rule (:meth:`HistoryStore.mark_gaps`, :mod:`workbench.history.gaps`): one gap per run of bad
samples, from the tag's last good sample to its next one, cause = the markers seen, source
``workbench import``; readers show it (``attrs["gaps"]``, ``hold_last``). Quality ``Good...`` (text) or
192..255 (OPC DA codes) is good; anything else (``Bad``, ``Uncertain``, 0) is a gap.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.badvalues import bad_value_markers
from workbench.history.exports import ExportError, Layout, ReadProgress, iter_chunks, sniff
from workbench.history.import_times import TimeRules, to_utc_ns
from workbench.history.store import HistoryStore, TagSpec

ISA95_PATH = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-.]+){4}$")  # as workbench.config.ISA95_PATH
HOUR_NS = 3_600_000_000_000
BUCKET_WIDTHS = [24 * HOUR_NS, 6 * HOUR_NS, HOUR_NS, HOUR_NS // 6, HOUR_NS // 60]  # staging buckets, widest first
BUCKET_CELLS = 1_000_000  # values per staging bucket (bounds the memory of a commit)
_IPC = pa.ipc.IpcWriteOptions(compression="lz4")
NO_TIME = np.iinfo(np.int64).min
GAP_SOURCE = "workbench import"


@dataclass(frozen=True)
class Target:
    """Where a source tag goes: ISA-95 path, store station, stored unit and resolution."""

    path: str
    station: str
    kind: str
    units: str
    resolution: float | None = None
    reports: str | None = None


@dataclass
class ImportSummary:
    """What an import did: per tag samples stored, gaps marked, rows refused and why, the time span."""

    files: list[str] = field(default_factory=list)
    samples: Counter = field(default_factory=Counter)  # tag path -> values stored
    gaps: Counter = field(default_factory=Counter)  # tag path -> gap samples marked
    gap_events: int = 0  # gaps newly marked in the store (workbench.history.gaps)
    rows: int = 0  # rows read
    refused: Counter = field(default_factory=Counter)  # reason -> rows (or samples) not stored
    merged: int = 0  # repeated timestamps merged
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    markers: Counter = field(default_factory=Counter)  # quality text -> count

    @property
    def stored(self) -> int:
        return sum(self.samples.values())

    def __str__(self) -> str:
        span = f"{self.start} .. {self.end}" if self.start is not None else "nothing new"
        lines = [f"imported {len(self.files)} file(s), {self.rows:,} rows read: {self.stored:,} samples of "
                 f"{len(self.samples)} tag(s) stored, {sum(self.gaps.values()):,} bad samples kept as "
                 f"{self.gap_events} gap(s), time span {span}"]
        if self.merged:
            lines.append(f"  {self.merged:,} repeated timestamp(s) merged (the last value in file order wins)")
        for reason, n in self.refused.most_common():
            lines.append(f"  refused {n:,}: {reason}")
        if self.markers:
            lines.append("  quality markers: " + ", ".join(f"{k!r} x{v}" for k, v in self.markers.most_common(8)))
        for tag in sorted(self.samples):
            lines.append(f"    {tag}: {self.samples[tag]:,} samples, {self.gaps.get(tag, 0):,} gaps")
        return "\n".join(lines)


# --- plan: tag names -> targets -----------------------------------------------------------------------
def read_map(path: str | Path) -> dict[str, tuple[str, str | None]]:
    """A mapping file: CSV with columns ``source,path[,units]`` (source = the name in the export)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"source", "path"} <= set(rows[0]):
        raise ExportError(f"{path}: a mapping file needs a header 'source,path[,units]' and one row per tag")
    out = {}
    for i, row in enumerate(rows, start=2):
        src, dst = (row.get("source") or "").strip(), (row.get("path") or "").strip()
        if not ISA95_PATH.match(dst):
            raise ExportError(f"{path}: line {i}: {dst!r} is not an ISA-95 path site/area/line/station/tag")
        out[src] = (dst, (row.get("units") or "").strip() or None)
    return out


class TagMap:
    """Resolves export tag names to :class:`Target` s from the mapping file, the line config and the store."""

    def __init__(self, store: HistoryStore, line=None, mapping: dict | None = None):
        self.store, self.line, self.mapping = store, line, mapping or {}
        self.config_tags = line.tags if line is not None else {}
        self._by_name: dict[str, list[str]] = {}
        for p, t in self.config_tags.items():
            for key in {p.lower(), t.short_name.lower(), p.rsplit("/", 1)[-1].lower()}:
                self._by_name.setdefault(key, []).append(p)
        self.stored: dict[str, tuple[str, str, TagSpec]] = {}
        for doc in sorted((store.root / "stations").glob("*.json")):
            station = doc.stem
            info = store.tags(station)
            kind = json.loads(doc.read_text()).get("kind", "generic")
            for p, spec in info.items():
                self.stored[p] = (station, kind, spec)
        self.targets: dict[str, Target] = {}

    def path_of(self, name: str, where: str) -> tuple[str, str | None]:
        if name in self.mapping:
            return self.mapping[name]
        if ISA95_PATH.match(name):
            return name, None
        hits = self._by_name.get(name.strip().lower(), [])
        if len(set(hits)) == 1:
            return hits[0], None
        if len(set(hits)) > 1:
            raise ExportError(f"{where}: tag {name!r} matches several config tags {sorted(set(hits))[:3]}; "
                              f"map it in a --map file (source,path)")
        known = "the line config" if self.line is not None else "no line config (--config)"
        raise ExportError(f"{where}: unknown tag {name!r}: not an ISA-95 path and not in {known}; add a row "
                          f"'{name},site/area/line/station/tag' to a --map CSV, or give the tag name: {name} in "
                          f"the config")

    def resolve(self, name: str, export_unit: str | None, where: str) -> tuple[Target, str]:
        """(target, unit of the source values) for tag ``name`` as the export calls it."""
        path, map_unit = self.path_of(name, where)
        source_unit = export_unit or map_unit
        target = self.targets.get(path)
        if target is None:
            if path in self.config_tags:
                tag, st = self.config_tags[path], self.line.station_of(path)
                target = Target(path, st.name, st.kind, tag.units, tag.resolution, tag.reports)
            elif path in self.stored:
                station, kind, spec = self.stored[path]
                target = Target(path, station, kind, spec.units, spec.resolution, spec.reports)
            else:
                if source_unit is None:
                    raise ExportError(f"{where}: tag {name!r} ({path}) has no unit; write it in the header as "
                                      f"'{name} [unit]', in a units row or column, in the --map file, or in the config")
                station = re.sub(r"[^a-z0-9_]", "_", path.split("/")[3].lower())
                station = station if re.match(r"[a-z]", station) else f"s_{station}"
                target = Target(path, station, "generic", _check_unit(source_unit, where), None, None)
            if path in self.stored and self.stored[path][2].units != target.units:
                stored_units = self.stored[path][2].units
                _convertible(target.units, stored_units, where, name, "the store")
                target = Target(path, target.station, target.kind, stored_units, target.resolution, target.reports)
            self.targets[path] = target
        source_unit = source_unit or target.units
        _convertible(source_unit, target.units, where, name, "the config" if path in self.config_tags else "the store")
        return target, source_unit


def _check_unit(unit: str, where: str) -> str:
    from workbench.units import parse_unit

    try:
        parse_unit(unit)
    except ValueError as exc:
        raise ExportError(f"{where}: {exc}") from None
    return unit


_CONVERTERS: dict[tuple[str, str], object] = {}


def _convertible(src: str, dst: str, where: str, name: str, whose: str):
    """A function converting magnitudes from ``src`` to ``dst``; units of another dimension are an error."""
    key = (src, dst)
    if key not in _CONVERTERS:
        from workbench.units import ureg

        _check_unit(src, where)
        if ureg.Unit(src) == ureg.Unit(dst):
            _CONVERTERS[key] = None
        elif ureg.Unit(src).dimensionality != ureg.Unit(dst).dimensionality:
            raise ExportError(f"{where}: tag {name!r} is in {src!r} but {whose} says {dst!r} (another quantity); "
                              f"correct the export's unit or map the column to the right tag")
        else:
            _CONVERTERS[key] = lambda v, s=src, d=dst: ureg.Quantity(v, s).to(d).magnitude
    return _CONVERTERS[key]


# --- values and quality -------------------------------------------------------------------------------
def numbers_and_markers(column) -> tuple[np.ndarray, np.ndarray | None]:
    """Float values of a text or numeric column (NaN where empty, text or a PLC bad-value code), and the gap
    markers: the text, or ``PLC bad-value code 3.4e+38`` (:func:`workbench.badvalues.bad_value_markers`)."""
    numbers = lambda: pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(float)  # noqa: E731
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return bad_value_markers(numbers())
    try:
        return bad_value_markers(numbers())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # text among the numbers
        text = column.to_pandas()
        values = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(dtype=float)
        markers = np.where(np.isnan(values) & text.notna().to_numpy(), text.str.strip().to_numpy(dtype=object), None)
        return bad_value_markers(values, markers)


def good_quality(column) -> np.ndarray:
    """True where a quality cell says good: text starting with 'good', or an OPC DA code 192..255; empty = good."""
    text = column.to_pandas().astype("string").str.strip().str.lower()
    num = pd.to_numeric(text, errors="coerce")
    good = text.str.startswith("good").fillna(False) | num.between(192, 255).fillna(False) | text.isna()
    return good.to_numpy(dtype=bool)


# --- stage ---------------------------------------------------------------------------------------------
class Stage:
    """Rows of one import, per station and UTC hour, in Parquet files inside the store (removed after)."""

    def __init__(self, store: HistoryStore):
        self.root = store.root / f".import-{uuid.uuid4().hex[:8]}"
        self.root.mkdir()
        self.seq = 0
        self.width: int | None = None  # bucket width, ns

    def put(self, station: str, times: np.ndarray, values: dict[str, np.ndarray], gaps: pd.DataFrame) -> None:
        """Stage rows (times: UTC ns; values: path -> floats) and gap samples (time, tag, marker).

        Values go to Arrow as they are (no DataFrame in between: NaN stays NaN); a chunk that falls in one
        bucket, as a time-ordered export's chunks mostly do, is written without a filtered copy."""
        frame = pa.table({"time": pa.array(times, pa.int64()),
                          **{k: pa.array(np.asarray(v, dtype=float), pa.float64()) for k, v in values.items()}})
        for name, part in (("v", frame), ("g", gaps)):
            if not len(part):
                continue
            t = part.column("time").to_numpy() if name == "v" else part["time"].to_numpy(np.int64)
            if self.width is None:  # buckets of ~BUCKET_CELLS values, from the density of the first rows
                n_cols = part.num_columns if name == "v" else part.shape[1]
                per_ns = len(t) * max(1, n_cols - 1) / max(1, int(t.max()) - int(t.min()))
                self.width = next((w for w in BUCKET_WIDTHS if w * per_ns <= BUCKET_CELLS), BUCKET_WIDTHS[-1])
            hours = t // self.width
            first, last = hours.min(), hours.max()
            for hour in ([first] if first == last else np.unique(hours)):
                folder = self.root / station / f"{int(hour):012d}"
                folder.mkdir(parents=True, exist_ok=True)
                self.seq += 1
                rows = slice(None) if first == last else hours == hour
                table = (part if first == last else part.filter(pa.array(rows))) if name == "v" else \
                    pa.Table.from_pandas(part[rows], preserve_index=False)
                with pa.OSFile(str(folder / f"{self.seq:09d}.{name}.arrow"), "wb") as sink:
                    with pa.ipc.new_file(sink, table.schema, options=_IPC) as writer:
                        writer.write_table(table)

    def stations(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def hours(self, station: str) -> list[Path]:
        return sorted(p for p in (self.root / station).iterdir() if p.is_dir())

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _where(layout: Layout, line0: int, column: str | None = None):
    col = f", column {column!r}" if column else ""
    return lambda i: (f"{layout.file}: line {line0 + i}{col}" if i is not None else f"{layout.file}{col}")


def _stage_wide(layout, table, line0, tagmap, rules, stage, summary):
    times, refused = to_utc_ns(table.column(layout.time_column), rules, _where(layout, line0, layout.time_column))
    keep = (times != NO_TIME)
    summary.refused["no timestamp (empty time cell)"] += int((~keep & ~refused).sum())
    summary.refused["local time that does not exist (clock jumped forward)"] += int(refused.sum())
    per_station: dict[str, dict[str, np.ndarray]] = {}
    gaps: dict[str, list[pd.DataFrame]] = {}
    for col, (name, unit) in layout.columns.items():
        target, src_unit = tagmap.resolve(name, unit, f"{layout.file}: column {col!r}")
        values, markers = numbers_and_markers(table.column(col))
        conv = _convertible(src_unit, target.units, str(layout.file), name, "config")
        if conv is not None:
            values = np.asarray(conv(values), dtype=float)
        per_station.setdefault(target.station, {})[target.path] = values[keep]
        if markers is not None:
            m = (markers != None) & keep  # noqa: E711  (object array)
            if m.any():
                summary.markers.update(markers[m].tolist())
                gaps.setdefault(target.station, []).append(
                    pd.DataFrame({"time": times[m], "tag": target.path, "marker": markers[m].astype(str)}))
    for station, values in per_station.items():
        g = pd.concat(gaps[station]) if station in gaps else pd.DataFrame(columns=["time", "tag", "marker"])
        stage.put(station, times[keep], values, g)


def _stage_long(layout, table, line0, tagmap, rules, stage, summary):
    roles = layout.roles
    times, refused = to_utc_ns(table.column(layout.time_column), rules, _where(layout, line0, layout.time_column))
    names = table.column(roles["tag"]).to_pandas().astype("string").str.strip()
    values, markers = numbers_and_markers(table.column(roles["value"]))
    units = (table.column(roles["units"]).to_pandas().astype("string").str.strip() if "units" in roles
             else pd.Series(pd.NA, index=names.index, dtype="string"))
    bad_q = ~good_quality(table.column(roles["quality"])) if "quality" in roles else np.zeros(len(names), bool)
    keep = (times != NO_TIME) & names.notna().to_numpy()
    summary.refused["no timestamp (empty time cell)"] += int(((times == NO_TIME) & ~refused).sum())
    summary.refused["local time that does not exist (clock jumped forward)"] += int(refused.sum())
    summary.refused["no tag name"] += int((names.isna().to_numpy() & (times != NO_TIME)).sum())
    marker = markers.copy() if markers is not None else np.full(len(names), None, object)
    if "quality" in roles:
        quality = table.column(roles["quality"]).to_pandas().astype(str).str.strip().to_numpy(dtype=object)
        marker[bad_q] = quality[bad_q]
    values = np.where(bad_q, np.nan, values)
    frame = pd.DataFrame({"time": times, "name": names, "unit": units, "value": values, "marker": marker})[keep]
    frame["row"] = np.flatnonzero(keep)
    rows = {}
    for (name, unit), part in frame.groupby(["name", "unit"], dropna=False, sort=False):
        where = f"{_where(layout, line0)(int(part['row'].iloc[0]))}: column {roles['tag']!r}"
        target, src_unit = tagmap.resolve(name, None if pd.isna(unit) else unit, where)
        conv = _convertible(src_unit, target.units, where, name, "config")
        v = part["value"].to_numpy(dtype=float)
        rows.setdefault(target.station, []).append(pd.DataFrame(
            {"time": part["time"].to_numpy(), "tag": target.path, "value": conv(v) if conv else v,
             "marker": part["marker"].to_numpy(), "row": part["row"].to_numpy()}))
    for station, parts in rows.items():
        df = pd.concat(parts).sort_values("row", kind="stable")
        g = df[df["marker"].notna()]
        summary.markers.update(g["marker"].tolist())
        df = df[df["value"].notna()].drop_duplicates(["time", "tag"], keep="last")
        wide = df.pivot(index="time", columns="tag", values="value")
        stage.put(station, wide.index.to_numpy(dtype=np.int64), {c: wide[c].to_numpy() for c in wide.columns},
                  g[["time", "tag", "marker"]].astype({"marker": str}))


# --- commit --------------------------------------------------------------------------------------------
def _read_parts(folders: list[Path], kind: str) -> pd.DataFrame:
    """The staged parts of ``folders`` in staging order, as one frame (one conversion from Arrow)."""
    parts = [pa.ipc.open_file(pa.memory_map(str(p))).read_all()
             for folder in folders for p in sorted(folder.glob(f"*.{kind}.arrow"))]
    return pa.concat_tables(parts, promote_options="default").to_pandas() if parts else pd.DataFrame()


def _commit_station(store: HistoryStore, station: str, folders: list[Path], summary: ImportSummary,
                    open_gaps: dict, events: list, budget: int) -> None:
    batch: list[Path] = []
    cells = 0
    for i, folder in enumerate(folders):
        batch.append(folder)
        cells += sum(p.stat().st_size for p in folder.glob("*.arrow"))
        if cells >= budget or i == len(folders) - 1:
            _commit_batch(store, station, batch, summary, open_gaps, events)
            batch, cells = [], 0


def _commit_batch(store, station, folders, summary, open_gaps, events):
    vals, gaps = _read_parts(folders, "v"), _read_parts(folders, "g")
    if not len(vals) and not len(gaps):
        return
    if not len(vals):
        vals = pd.DataFrame({"time": np.array([], np.int64)})
    times = vals["time"].to_numpy()
    if len(times) and (np.diff(times) > 0).all():  # sorted, no repeats: the usual export
        wide = vals.set_index("time")
    else:
        vals = vals.sort_values("time", kind="stable")
        summary.merged += int(vals["time"].duplicated().sum())
        wide = vals.groupby("time", sort=True).last()  # last non-NaN value per tag and time, in file order
    wide = wide.dropna(how="all")  # a row with no value of any tag (and no marker) is no sample
    mark = store.high_water_mark(station)
    if len(gaps):
        gaps = gaps.sort_values("time", kind="stable").drop_duplicates(["time", "tag"], keep="last")
        have = wide.reindex(columns=sorted(set(wide.columns) | set(gaps["tag"])))
        present = np.zeros(len(gaps), bool)
        for tag, rows in gaps.groupby("tag").indices.items():
            present[rows] = have[tag].reindex(gaps["time"].to_numpy()[rows]).notna().to_numpy()
        gaps = gaps[~present]  # a value at the same time wins over a marker
        wide = have.reindex(have.index.union(pd.Index(gaps["time"].unique())))
    if mark is not None:
        old = wide.index.to_numpy() <= mark.value
        if old.any():
            summary.refused[f"not newer than what the store holds for station {station!r} (already imported, or "
                            f"older than its newest sample: the store only appends)"] += int(old.sum())
        wide = wide[~old]
        gaps = gaps[gaps["time"].to_numpy() > mark.value] if len(gaps) else gaps
    if not len(wide):
        return
    times = pd.DatetimeIndex(wide.index.to_numpy(np.int64).view("datetime64[ns]")).tz_localize("UTC")
    res = store.append(station, times, {c: wide[c].to_numpy(dtype=float) for c in wide.columns})
    for c in wide.columns:
        n = int(wide[c].notna().sum())
        if n:
            summary.samples[c] += n
    t0, t1 = times[0], times[-1]
    summary.start = t0 if summary.start is None else min(summary.start, t0)
    summary.end = t1 if summary.end is None else max(summary.end, t1)
    if res.late or res.duplicates:
        summary.refused["not newer than the store's newest sample (written meanwhile)"] += res.late + res.duplicates
    _gap_runs(station, wide, gaps, summary, open_gaps, events)
    pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed pages otherwise


def _gap_runs(station, wide, gaps, summary, open_gaps, events):
    """Gaps by the store's rule (:mod:`workbench.history.gaps`): a run of consecutive bad samples of a tag is
    one gap from the tag's last good sample before it (or the first bad one) to its next good sample (or the
    last bad one). ``open_gaps`` carries runs, and each tag's last good time, across batches."""
    by_tag = dict(tuple(gaps.groupby("tag"))) if len(gaps) else {}
    for tag in sorted(set(by_tag) | {k for k, v in open_gaps.items() if "start" in v}):
        g = by_tag.get(tag)
        good_t = wide.index[wide[tag].notna()].to_numpy(np.int64) if tag in wide.columns else np.array([], np.int64)
        gap_t = g["time"].to_numpy(np.int64) if g is not None else np.array([], np.int64)
        summary.gaps[tag] += len(gap_t)
        t_all = np.r_[good_t, gap_t]
        bad = np.r_[np.zeros(len(good_t), bool), np.ones(len(gap_t), bool)]
        marks = np.r_[np.full(len(good_t), None, object), g["marker"].to_numpy(object) if g is not None else []]
        order = np.argsort(t_all, kind="stable")
        t_all, bad, marks = t_all[order], bad[order], marks[order]
        state = open_gaps.setdefault(tag, {})
        cut = np.flatnonzero(np.diff(bad.astype(np.int8))) + 1
        for s, e in zip(np.r_[0, cut], np.r_[cut, len(t_all)]):  # alternating runs of values and gaps
            if s == e:
                continue
            if bad[s]:
                if "start" not in state:
                    state.update(start=state.get("last_good", int(t_all[s])), markers=Counter())
                state["end"] = int(t_all[e - 1])
                state["markers"].update(marks[s:e].tolist())
            else:
                if "start" in state:
                    events.append({"station": station, "tag": tag, "start": state.pop("start"),
                                   "end": int(t_all[s]), "markers": state.pop("markers")})
                    state.pop("end")
                state["last_good"] = int(t_all[e - 1])
    for tag, state in open_gaps.items():
        if tag not in by_tag and "start" not in state and tag in wide.columns and wide[tag].notna().any():
            state["last_good"] = int(wide.index[wide[tag].notna()].to_numpy(np.int64)[-1])


def _close_runs(station: str, open_gaps: dict, events: list) -> None:
    for tag, state in open_gaps.items():
        if "start" in state:
            events.append({"station": station, "tag": tag, "start": state["start"], "end": state["end"],
                           "markers": state["markers"]})


def _write_gaps(store: HistoryStore, events: list) -> int:
    """Mark the gaps in the store in one write (the store's gap rule: :func:`workbench.history.gaps.write_gaps`,
    as :meth:`HistoryStore.mark_gaps` does one gap at a time); returns how many are new."""
    from workbench.history.gaps import write_gaps

    if not events:
        return 0
    frame = pd.DataFrame({
        "station": [e["station"] for e in events], "tag": [e["tag"] for e in events],
        "start": pd.to_datetime([e["start"] for e in events], utc=True),
        "end": pd.to_datetime([e["end"] for e in events], utc=True),
        "cause": ["bad quality in the export: " + ", ".join(f"{k} x{v}" for k, v in e["markers"].most_common(5))
                  for e in events]})
    return write_gaps(store.root, frame, source=GAP_SOURCE)


# --- the import ----------------------------------------------------------------------------------------
def import_files(files, store, *, config=None, mapping=None, tz: str | None = None, ambiguous: str = "raise",
                 nonexistent: str = "raise", time_format: str | None = None, encoding: str = "utf-8",
                 progress: bool = False, block_bytes: int = 8 << 20, commit_bytes: int = 8 << 20) -> ImportSummary:
    """Import export ``files`` into the history store at ``store``; returns an :class:`ImportSummary`.

    ``config``: a line config (path or :class:`~workbench.config.LineConfig`) mapping tag names to ISA-95
    paths and giving units; ``mapping``: a ``source,path[,units]`` CSV (or dict). ``tz``/``ambiguous``/
    ``nonexistent``/``time_format``: see :mod:`.import_times`. ``block_bytes``: rows read per chunk;
    ``commit_bytes``: staged bytes per store append (both bound memory). Errors raise :class:`ExportError`
    before anything is stored.
    """
    from workbench.config import LineConfig, load_line_config

    line = config if isinstance(config, LineConfig) or config is None else load_line_config(config)
    fresh = not isinstance(store, HistoryStore) and not Path(store).exists()
    hist = store if isinstance(store, HistoryStore) else HistoryStore(store)
    try:
        return _import(files, hist, line, mapping, TimeRules(tz, ambiguous, nonexistent, time_format), encoding,
                       progress, block_bytes, commit_bytes)
    except Exception:
        if fresh and not any((hist.root / "ts").iterdir()):  # a store this import created holds nothing
            shutil.rmtree(hist.root, ignore_errors=True)
        raise


def _import(files, hist, line, mapping, time_rules, encoding, progress, block_bytes, commit_bytes) -> ImportSummary:
    tagmap = TagMap(hist, line, mapping if isinstance(mapping, dict) else read_map(mapping) if mapping else None)
    layouts = [sniff(f, encoding=encoding) for f in files]
    for lay in layouts:  # wide headers are planned before any row is read
        seen: dict[str, str] = {}
        for col, (name, unit) in lay.columns.items():
            target, _ = tagmap.resolve(name, unit, f"{lay.file}: column {col!r}")
            if target.path in seen:
                raise ExportError(f"{lay.file}: columns {seen[target.path]!r} and {col!r} both map to {target.path}; "
                                  f"drop one or map it to another tag")
            seen[target.path] = col
    summary = ImportSummary(files=[str(f) for f in files])
    stage = Stage(hist)
    bar = None
    try:
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=sum(lay.file.stat().st_size for lay in layouts), unit="B", unit_scale=True,
                       desc="import: read")
        for lay in layouts:
            rules = TimeRules(time_rules.tz, time_rules.ambiguous, time_rules.nonexistent, time_rules.time_format)
            counter = ReadProgress() if lay.format == "csv" else None
            done = 0
            try:
                for line0, table in iter_chunks(lay, block_bytes=block_bytes, counter=counter):
                    summary.rows += table.num_rows
                    (_stage_long if lay.kind == "long" else _stage_wide)(lay, table, line0, tagmap, rules, stage,
                                                                         summary)
                    if bar is not None:
                        now = counter.bytes_read if counter else lay.file.stat().st_size
                        bar.update(now - done)
                        done = now
            finally:
                if counter is not None:
                    counter.close()
        if bar is not None:
            bar.close()
            bar = None
        _commit(hist, stage, tagmap, summary, progress, commit_bytes)
    finally:
        if bar is not None:
            bar.close()
        stage.remove()
    summary.refused = Counter({k: v for k, v in summary.refused.items() if v})
    return summary


def _commit(hist: HistoryStore, stage: Stage, tagmap: TagMap, summary: ImportSummary, progress: bool,
            commit_bytes: int) -> None:
    by_station: dict[str, list[Target]] = {}
    for t in tagmap.targets.values():
        by_station.setdefault(t.station, []).append(t)
    for station, targets in by_station.items():
        kinds = {t.kind for t in targets}
        hist.declare_station(station, [TagSpec(t.path, t.units, t.resolution, t.reports) for t in targets],
                             kind=kinds.pop() if len(kinds) == 1 else "generic")
    stations = stage.stations()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(stage.hours(s)) for s in stations), unit="bucket", desc="import: store")
    events: list = []
    try:
        for station in stations:
            open_gaps: dict = {}
            folders = stage.hours(station)
            for k in range(0, len(folders), 24):
                _commit_station(hist, station, folders[k:k + 24], summary, open_gaps, events, commit_bytes)
                if bar is not None:
                    bar.update(len(folders[k:k + 24]))
            _close_runs(station, open_gaps, events)
    finally:
        if bar is not None:
            bar.close()
    summary.gap_events = _write_gaps(hist, events)


__all__ = ["import_files", "ImportSummary", "TagMap", "Target", "read_map", "numbers_and_markers", "good_quality"]

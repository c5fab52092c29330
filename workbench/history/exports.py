"""Historian and spreadsheet exports as read by ``workbench import``: layout, header units, chunked reading.

Two layouts, in CSV, Parquet or Excel (``.xlsx``):

- **wide** (PI DataLink, Seeq, Ignition, a spreadsheet): a time column and one column per tag. A header
  may carry the unit as ``name [unit]``; a *units row* (the first row under the header, with no time
  and a unit in each tag column) is recognised too.
- **long** (``time, tag, value[, units, quality]``): one sample per row.

The time column is the one named like a time (``time``, ``timestamp``, ``date``, ``t_stamp``, ...), else the
first column. :func:`sniff` reads only the header (and one row); :func:`iter_chunks` yields the rows as
Arrow tables of bounded size (CSV streamed with ``pyarrow.csv.open_csv``, Parquet by row group batches), so
a file larger than memory is read in constant memory. A tag cell holding a number is a value, any other
text (``Bad Input``, ``I/O Timeout``) is a quality marker (see :mod:`.importer`); value columns are parsed
as numbers by Arrow, and read as text from where a marker shows up.
Excel files are read whole (a sheet holds at most ~1 M rows).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from workbench.history.store import HistoryError

TIME_NAMES = {"time", "timestamp", "datetime", "date", "date time", "date/time", "t_stamp", "ts", "time stamp",
              "timestamp (utc)", "time (utc)", "zeit", "zeitstempel", "sample time", "local time"}
TAG_NAMES = {"tag", "tagname", "tag name", "tag_name", "name", "path", "tag path", "tagpath", "item", "item id",
             "itemid", "signal", "point", "pointname"}
VALUE_NAMES = {"value", "val", "v", "pv", "wert"}
UNITS_NAMES = {"units", "unit", "uom", "eng units", "engineering units", "engunits", "einheit"}
QUALITY_NAMES = {"quality", "status", "q", "qualitaet", "quality code"}
_HEADER_UNIT = re.compile(r"^(?P<name>.*?)\s*\[(?P<unit>[^\[\]]+)\]\s*$")
FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".xlsx": "excel", ".xlsm": "excel"}


class ExportError(HistoryError):
    """An export that cannot be imported as it is; the message names the file, row or column and the fix."""


@dataclass
class Layout:
    """What :func:`sniff` found: the file's format and layout, and which column plays which part.

    ``columns``: the tag columns of a wide file (header text as in the file) -> (tag name, unit or None);
    ``roles``: for a long file, {"tag": ..., "value": ..., "units": ..., "quality": ...} column names.
    ``first_row``: the file line of the first data row (1-based, for messages).
    """

    file: Path
    format: str
    kind: str
    time_column: str
    columns: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    delimiter: str = ","
    encoding: str = "utf-8"
    units_row: bool = False
    first_row: int = 2


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", str(name).strip().lower())


def split_header_unit(header: str) -> tuple[str, str | None]:
    """``'pump_rate [g/min]'`` -> ``('pump_rate', 'g/min')``; a header without brackets has no unit."""
    m = _HEADER_UNIT.match(str(header))
    return (m["name"].strip(), m["unit"].strip()) if m else (str(header).strip(), None)


def _looks_like_unit(text: str) -> bool:
    from workbench.units import parse_unit

    text = str(text).strip()
    if not text or re.fullmatch(r"[-+]?[\d.,eE+-]+", text):
        return False
    try:
        parse_unit(text)
    except ValueError:
        return False
    return True


def _csv_head(path: Path, encoding: str) -> tuple[list[str], list[str] | None, str]:
    """Header cells, the first data row's cells and the delimiter, read with the csv module (quotes honoured)."""
    try:
        with open(path, encoding="utf-8-sig" if encoding.lower().replace("-", "") == "utf8" else encoding,
                  newline="") as fh:
            head = [fh.readline() for _ in range(2)]
    except UnicodeDecodeError as exc:
        raise ExportError(f"{path}: not {encoding} text ({exc.reason} at byte {exc.start}); give the export's "
                          f"encoding, e.g. --encoding cp1252") from None
    if not head[0].strip():
        raise ExportError(f"{path}: line 1 is empty; the first line must be the header (time column, tags)")
    delimiter = max([",", ";", "\t"], key=head[0].count)
    rows = list(csv.reader(io.StringIO("".join(head)), delimiter=delimiter))
    return [c.strip() for c in rows[0]], (rows[1] if len(rows) > 1 else None), delimiter


def _time_column(names: list[str], path: Path) -> str:
    for n in names:
        if _norm(split_header_unit(n)[0]) in TIME_NAMES:
            return n
    if not names:
        raise ExportError(f"{path}: no columns; export a time column and one column per tag (or time, tag, value)")
    return names[0]


def _layout(path: Path, fmt: str, names: list[str], first: list | None, **kw) -> Layout:
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ExportError(f"{path}: column(s) {dup} appear twice in the header; rename or drop the copies")
    time_col = _time_column(names, path)
    norm = {_norm(n): n for n in names if n != time_col}
    tag_col = next((norm[k] for k in norm if k in TAG_NAMES), None)
    value_col = next((norm[k] for k in norm if k in VALUE_NAMES), None)
    if tag_col and value_col:
        roles = {"tag": tag_col, "value": value_col}
        for role, known in (("units", UNITS_NAMES), ("quality", QUALITY_NAMES)):
            col = next((norm[k] for k in norm if k in known), None)
            if col:
                roles[role] = col
        extra = [n for n in names if n != time_col and n not in roles.values()]
        if extra:
            raise ExportError(f"{path}: long layout (time, tag, value) with unknown column(s) {extra[:3]}; "
                              f"drop them or rename them to units/quality")
        return Layout(path, fmt, "long", time_col, roles=roles, **kw)
    tags = [n for n in names if n != time_col]
    if not tags:
        raise ExportError(f"{path}: only a time column ({time_col!r}); export one column per tag, or time, tag, value")
    columns = {n: split_header_unit(n) for n in tags}
    units_row = False
    if first is not None and len(first) == len(names):
        cells = dict(zip(names, first))
        t_cell = str(cells[time_col]).strip()
        unit_cells = {n: str(cells[n]).strip() for n in tags if str(cells[n]).strip() not in ("", "None", "nan")}
        if (not t_cell or _norm(t_cell) in UNITS_NAMES) and unit_cells and all(map(_looks_like_unit,
                                                                                  unit_cells.values())):
            units_row = True
            for n, u in unit_cells.items():
                name, head_unit = columns[n]
                if head_unit and head_unit != u:
                    raise ExportError(f"{path}: column {n!r} says [{head_unit}] in the header but {u!r} in the "
                                      f"units row; correct one of them")
                columns[n] = (name, u)
    return Layout(path, fmt, "wide", time_col, columns=columns, units_row=units_row,
                  first_row=3 if units_row else 2, **kw)


def sniff(path: str | Path, *, encoding: str = "utf-8") -> Layout:
    """Find the format and layout of an export from its name and header (no data rows read but the first)."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such file")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(f"{path}: unknown file type {path.suffix!r}; export CSV, Parquet or Excel (.xlsx)")
    if fmt == "csv":
        names, first, delim = _csv_head(path, encoding)
        return _layout(path, fmt, names, first, delimiter=delim, encoding=encoding)
    if fmt == "parquet":
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ExportError(f"{path}: not a readable Parquet file ({exc}); export it again") from None
        first = None
        if pf.metadata.num_rows:
            first = [str(v) for v in pf.read_row_group(0).slice(0, 1).to_pylist()[0].values()]
        return _layout(path, fmt, pf.schema_arrow.names, first, first_row=1)
    frame = _read_excel(path, nrows=2)
    return _layout(path, fmt, [str(c) for c in frame.columns], list(frame.iloc[0]) if len(frame) else None)


def _read_excel(path: Path, nrows: int | None = None):
    import pandas as pd

    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=object, nrows=nrows)
    except ImportError as exc:
        raise ExportError(f"{path}: reading Excel needs openpyxl ({exc}); pip install openpyxl, or export CSV") from None
    except (ValueError, OSError) as exc:
        raise ExportError(f"{path}: not a readable Excel workbook ({exc}); save it as .xlsx or export CSV") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


class CountingFile(io.RawIOBase):
    """A binary file that counts the bytes read (for the progress bar)."""

    def __init__(self, path: Path):
        self._fh = open(path, "rb")
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._fh.readinto(b)
        self.bytes_read += n or 0
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


class ReadProgress:
    """Bytes of a CSV file read so far, kept up to date by :func:`iter_chunks` (for the progress bar)."""

    bytes_read = 0

    def close(self) -> None:
        pass


_NOT_A_NUMBER = re.compile(r"In CSV column #(\d+): .*conversion error to double")
_NULLS = ["", "NaN", "nan", "NULL", "null", "None", "#N/A", "N/A"]
MAX_REREADS = 3  # value columns found holding text before all value columns are read as text


def _csv_chunks(layout: Layout, block_bytes: int, counter) -> Iterator[tuple[int, pa.Table]]:
    """CSV rows in chunks. Value columns are parsed as numbers by Arrow's reader, except those holding text
    (a quality marker) in the first block; a value column whose text shows up later is read as text from the
    chunk where it showed, by reading on from the rows already yielded (at most MAX_REREADS times, then every
    value column is text)."""
    names = [n for n in (layout.time_column, *layout.columns, *layout.roles.values())]
    values = set(layout.columns) if layout.kind == "wide" else {layout.roles.get("value")} - {None}
    parse = pacsv.ParseOptions(delimiter=layout.delimiter)
    text = _text_in_first_block(layout, names, values, parse, min(block_bytes, 1 << 20))  # markers at the top
    rereads = 0
    line, done = layout.first_row, 0
    while True:
        numeric = values - text if rereads < MAX_REREADS else set()
        read = pacsv.ReadOptions(block_size=block_bytes, encoding=layout.encoding,
                                 skip_rows_after_names=(1 if layout.units_row else 0) + done)
        conv = pacsv.ConvertOptions(column_types={n: pa.float64() if n in numeric else pa.string() for n in names},
                                    strings_can_be_null=True,
                                    null_values=_NULLS)
        source, header = CountingFile(layout.file), None
        try:
            reader = pacsv.open_csv(source, read_options=read, parse_options=parse, convert_options=conv)
            header = reader.schema.names
            for batch in reader:
                if counter is not None:
                    counter.bytes_read = max(counter.bytes_read, source.bytes_read)
                yield line, pa.Table.from_batches([batch])
                line += batch.num_rows
                done += batch.num_rows
            return
        except pa.ArrowInvalid as exc:
            hit = _NOT_A_NUMBER.search(str(exc))
            col = None
            if hit is not None:
                cols = header or _header(layout)
                k = int(hit.group(1))
                col = cols[k] if k < len(cols) else None
            if col not in numeric:
                raise ExportError(f"{layout.file}: CSV cannot be read near line {line} ({exc}); check that every "
                                  f"row has the header's {len(names)} columns and quotes are closed") from None
            text.add(col)                     # a marker ("Bad Input") in this column: read on with it as text
            rereads += 1
        finally:
            source.close()


def _text_in_first_block(layout: Layout, names: list[str], values: set[str], parse, size: int) -> set[str]:
    """The value columns holding text (not numbers) in the first ``size`` bytes of rows."""
    read = pacsv.ReadOptions(block_size=size, encoding=layout.encoding, use_threads=False,
                             skip_rows_after_names=1 if layout.units_row else 0)
    conv = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                                null_values=_NULLS)
    try:
        with pacsv.open_csv(layout.file, read_options=read, parse_options=parse, convert_options=conv) as reader:
            batch = next(iter(reader), None)
    except pa.ArrowInvalid:
        return set()                      # the full read names the problem and its line
    out = set()
    for name in values if batch is not None else ():
        try:
            pc.cast(batch.column(name), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out.add(name)
    return out


def _header(layout: Layout) -> list[str]:
    with open(layout.file, newline="", encoding=layout.encoding) as fh:
        return next(csv.reader(fh, delimiter=layout.delimiter))


def iter_chunks(layout: Layout, *, block_bytes: int = 8 << 20, counter=None) -> Iterator[tuple[int, pa.Table]]:
    """Yield (file line of the chunk's first row, Arrow table) in file order, at most ~``block_bytes`` each.

    CSV: value columns come as float64 where every cell is a number, else as text (null where empty), as do
    the other columns; ``counter`` (a :class:`ReadProgress`) follows the bytes read. Parquet columns keep
    their types.
    """
    if layout.format == "csv":
        yield from _csv_chunks(layout, block_bytes, counter)
        return
    if layout.format == "parquet":
        pf = pq.ParquetFile(layout.file)
        line = 1
        rows = max(1024, block_bytes // max(1, 8 * len(pf.schema_arrow.names)))
        for batch in pf.iter_batches(batch_size=rows):
            yield line, pa.Table.from_batches([batch])
            line += batch.num_rows
        return
    frame = _read_excel(layout.file)
    if layout.units_row:
        frame = frame.iloc[1:]
    for col in frame.columns:  # everything as text, as from a CSV (datetimes in ISO 8601)
        frame[col] = [None if v is None or v != v else v.isoformat() if hasattr(v, "isoformat") else str(v)
                      for v in frame[col]]
    yield layout.first_row, pa.Table.from_pandas(frame, preserve_index=False)


__all__ = ["Layout", "ExportError", "sniff", "iter_chunks", "split_header_unit", "CountingFile", "ReadProgress"]

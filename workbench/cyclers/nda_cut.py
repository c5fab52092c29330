"""Was a Neware ``.nda`` cut off while it was written? Found from the file's record layout, before or beside
NewareNDA, which reads whole records and skips a partial last one without a word.

The layout (as NewareNDA reads it; byte 14 is the format version):

- version 130 (BTS 9): records of a fixed length from byte 1024 (56 bytes on BTS 9.1, whose records start
  with ``0x55``; else 88), closed by an end-of-data record that starts with ``0x81``, then the test's step
  table. No end-of-data record: the file stops inside the data, at a record boundary or inside a record.
- version 29 (BTS 7): 86-byte records after the header up to the end of the file, no closing record. A file
  whose data is not a whole number of records stops inside one; a cut exactly at a record boundary cannot
  be told from a shorter test.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

_V29_RECORD = 86
_V29_START = b"\x00\x00\x00\x00\x55\x00"      # 4 bytes before a data record, then its 0x55 0x00
_V130_START = 1024
_END_OF_DATA = 0x81


def nda_cut(path) -> str | None:
    """How the ``.nda`` at ``path`` was cut off (a sentence naming the record and bytes), or None when its
    data ends where the format closes it (or where a cut cannot be seen, see the module)."""
    with open(Path(path), "rb") as fh:
        if len(fh.read(15)) < 15 or Path(path).stat().st_size == 0:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as b:      # no copy of a large file
            if b[:6] != b"NEWARE":
                return None
            version = b[14]
            if version == 29:
                return _cut_v29(b)
            if version == 130:
                return _cut_v130(b)
            return None


def _cut_v29(b) -> str | None:
    start = _v29_data_start(b)
    if start is None:
        return f"the file stops at byte {len(b)} before any whole data record (version 29)"
    whole, rest = divmod(len(b) - start, _V29_RECORD)
    if rest == 0:
        return None
    return (f"the data ends {rest} bytes into record {whole + 1} (records are {_V29_RECORD} bytes from byte "
            f"{start}, version 29)")


def _v29_data_start(b) -> int | None:
    """First data record: after the 4 zero bytes, a 0x55 0x00 record with a non-zero status (byte 12) whose
    successor also starts with 0x55 (NewareNDA's rule)."""
    at = b.find(_V29_START)
    while at != -1:
        rec = at + 4
        nxt = rec + _V29_RECORD
        if nxt >= len(b) or (b[nxt] == 0x55 and b[rec + 12] != 0):
            return rec
        at = b.find(_V29_START, at + 4)
    return None


def _cut_v130(b) -> str | None:
    if len(b) <= _V130_START:
        return "the file stops inside its 1024-byte header (version 130)"
    length = 88
    if b[_V130_START] == 0x55:                  # BTS 9.1: the next record's first two bytes give the length
        nxt = b.find(b[_V130_START:_V130_START + 2], _V130_START + 2)
        length = nxt - _V130_START if nxt > 0 else 56
    whole, rest = divmod(len(b) - _V130_START, length)
    first = np.frombuffer(b, np.uint8, count=whole * length, offset=_V130_START)[::length]
    ends = np.flatnonzero(first == _END_OF_DATA)
    del first                                   # the mmap closes only when no array views it
    ident = b[_V130_START:_V130_START + 6]
    for k in ends:                              # a data record of the 88-byte layout may start with 0x81 too
        if b[_V130_START + k * length:_V130_START + k * length + 6] != ident:
            return None
    where = f"{rest} bytes into record {whole + 1}" if rest else f"at the end of record {whole}"
    return (f"no end-of-data record (0x81): the data stops {where} (records are {length} bytes from byte "
            f"{_V130_START}, version 130)")

"""Append-only, durable, tamper-evident log of every setpoint write attempt.

Stored in SQLite (one file; WAL, ``synchronous=FULL`` so an entry is on disk before ``append``
returns). Triggers refuse UPDATE and DELETE; each row carries ``hash = sha256(prev_hash + entry)``,
so editing the file by other means breaks the chain and :func:`verify` names the first bad entry.

Example
-------
>>> import tempfile, os
>>> from data_adapters.audit import AuditLog, verify
>>> from data_adapters.base import WriteResult
>>> log = AuditLog(os.path.join(tempfile.mkdtemp(), "audit.sqlite"))
>>> seq = log.append(WriteResult("a/b/c/d/e", 1.0, "W", False, "refused", "not armed"), session=None)
>>> verify(log.path).ok
True
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

GENESIS = "0" * 64

_COLUMNS = ("seq", "time", "user", "reason", "trial_id", "tag", "units", "old_value", "requested",
            "written", "readback", "result", "message")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    user TEXT, reason TEXT, trial_id TEXT,
    tag TEXT NOT NULL, units TEXT,
    old_value REAL, requested REAL, written REAL, readback REAL,
    result TEXT NOT NULL CHECK (result IN ('written', 'refused', 'failed')),
    message TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only: entries cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only: entries cannot be deleted'); END;
"""


def durable_connection(path: Path) -> sqlite3.Connection:
    """A SQLite connection whose commits are on disk when they return (WAL, synchronous=FULL, autocommit)."""
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    return con


class DurableFile:
    """A SQLite file created with its schema on first use, every commit on disk when it returns; the
    audit log and the trial journal are both one. ``_lock`` serialises writers within the process."""

    def __init__(self, path: str | Path, schema: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as con:
            con.executescript(schema)

    def _connect(self) -> sqlite3.Connection:
        return durable_connection(self.path)


def _canonical(entry: dict) -> str:
    def norm(v):
        if isinstance(v, float) and v != v:  # NaN is not JSON; keep it distinguishable
            return "NaN"
        return v
    return json.dumps({k: norm(entry[k]) for k in _COLUMNS}, sort_keys=True, separators=(",", ":"))


def entry_hash(prev_hash: str, entry: dict) -> str:
    return hashlib.sha256((prev_hash + _canonical(entry)).encode()).hexdigest()


class AuditLog(DurableFile):
    """The audit log at ``path`` (created if missing). Thread-safe; safe across processes (SQLite locks)."""

    def __init__(self, path: str | Path):
        super().__init__(path, _SCHEMA)

    def append(self, result, *, session=None, now: datetime | None = None) -> int:
        """Append one attempt (a :class:`data_adapters.base.WriteResult`); durable on return. Returns seq."""
        now = now or datetime.now(timezone.utc)
        with self._lock, self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                row = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
                entry = {
                    "seq": seq, "time": now.astimezone(timezone.utc).isoformat(),
                    "user": getattr(session, "user", None), "reason": getattr(session, "reason", None),
                    "trial_id": getattr(session, "trial_id", None), "tag": result.path, "units": result.units,
                    "old_value": result.old_value, "requested": result.requested, "written": result.written,
                    "readback": result.readback, "result": result.result, "message": result.message,
                }
                h = entry_hash(prev, entry)
                con.execute(
                    f"INSERT INTO audit ({', '.join(_COLUMNS)}, prev_hash, hash) "
                    f"VALUES ({', '.join('?' * len(_COLUMNS))}, ?, ?)",
                    [entry[k] for k in _COLUMNS] + [prev, h],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return seq

    def entries(self, *, tag: str | None = None, trial_id: str | None = None, limit: int | None = None):
        """Entries as a list of dicts, oldest first (optionally filtered)."""
        sql, args = "SELECT * FROM audit", []
        where = []
        if tag:
            where.append("tag = ?")
            args.append(tag)
        if trial_id:
            where.append("trial_id = ?")
            args.append(trial_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        if limit:
            sql = f"SELECT * FROM ({sql.replace(' ORDER BY seq', ' ORDER BY seq DESC')} LIMIT {int(limit)}) ORDER BY seq"
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, args)]

    def to_dataframe(self, **kw):
        import pandas as pd

        df = pd.DataFrame(self.entries(**kw))
        if not df.empty:
            # ISO 8601 from datetime.isoformat(), which drops the fraction on whole seconds (a station
            # clock); pandas would take the first row's format for all and fail on the others
            df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
        return df


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad_seq: int | None
    message: str


def verify(path: str | Path) -> VerifyResult:
    """Walk the hash chain; report the first entry whose hash, link or sequence does not hold."""
    path = Path(path)
    if not path.exists():
        return VerifyResult(False, 0, None, f"{path}: no audit log at this path")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY seq")]
        con.close()
    except sqlite3.DatabaseError as exc:
        return VerifyResult(False, 0, None, f"{path}: not a readable audit log ({exc})")
    prev, expected_seq = GENESIS, 1
    for row in rows:
        if row["seq"] != expected_seq:
            return VerifyResult(False, len(rows), expected_seq, f"entry {expected_seq} is missing (found {row['seq']})")
        if row["prev_hash"] != prev:
            return VerifyResult(False, len(rows), row["seq"], f"entry {row['seq']} does not link to entry {row['seq'] - 1}")
        if entry_hash(prev, row) != row["hash"]:
            return VerifyResult(False, len(rows), row["seq"], f"entry {row['seq']} was altered (hash mismatch)")
        prev, expected_seq = row["hash"], expected_seq + 1
    return VerifyResult(True, len(rows), None, f"{len(rows)} entries, hash chain intact")


__all__ = ["AuditLog", "verify", "VerifyResult", "entry_hash", "durable_connection", "DurableFile"]

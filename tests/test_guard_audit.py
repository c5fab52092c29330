"""The setpoint guard (pure, deny by default) and the hash-chained audit log."""

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from data_adapters.audit import AuditLog, verify
from data_adapters.base import ArmedSession, WriteResult
from data_adapters.guard import LastWrite, check_write
from workbench.config import default_config_path, load_line_config

LINE = load_line_config(default_config_path())
PUMP = "plant1/electrode/coat1/coater/pump_rate_setpoint"  # min 2500 max 3400 step 90 rate 30/s
NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
ARMED = ArmedSession("alice", "pump step trial", NOW + timedelta(minutes=30))


def check(value, *, path=PUMP, session=ARMED, current=2950.0, last=None, now=NOW, audit=True):
    tag = LINE.tags.get(path)
    return check_write(tag, path, value, session=session, current=current, last=last, now=now,
                       audit_available=audit)


@pytest.mark.parametrize(
    "kwargs, rule",
    [
        (dict(value=3000.0, audit=False), "audit"),
        (dict(value=3000.0, path="plant1/electrode/coat1/coater/pump_rate"), "writable"),
        (dict(value=3000.0, path="plant1/x/y/z/nope"), "unknown_tag"),
        (dict(value=3000.0, session=None), "armed"),
        (dict(value=3000.0, now=NOW + timedelta(hours=1)), "armed"),
        (dict(value=float("nan")), "value"),
        (dict(value=True), "value"),
        (dict(value=3450.0, current=3400.0), "limits"),
        (dict(value=2499.0, current=2550.0), "limits"),
        (dict(value=3000.0, current=None), "readback"),
        (dict(value=3041.0), "max_step"),
        (dict(value=3040.0, last=LastWrite(2950.0, NOW - timedelta(seconds=2))), "max_rate"),
    ],
)
def test_each_rule_refuses(kwargs, rule):
    decision = check(**kwargs)
    assert not decision.ok and decision.rule == rule, decision


def test_accepts_within_limits_step_and_rate():
    assert check(3040.0).ok  # step 90 == max_step
    assert check(3040.0, last=LastWrite(2950.0, NOW - timedelta(seconds=3))).ok  # 90 in 3 s == 30/s


def test_refusal_messages_say_how_to_fix():
    assert "split it into smaller steps" in check(3100.0).reason
    assert "wait" in check(3040.0, last=LastWrite(2950.0, NOW - timedelta(seconds=1))).reason
    assert "arm a session" in check(3000.0, session=None).reason


def test_armed_session_needs_user_reason_and_utc():
    with pytest.raises(ValueError, match="named user"):
        ArmedSession(" ", "x", NOW)
    with pytest.raises(ValueError, match="reason"):
        ArmedSession("bob", "", NOW)
    with pytest.raises(ValueError, match="timezone"):
        ArmedSession("bob", "x", datetime(2026, 1, 1))


def _result(i, result="written"):
    return WriteResult(PUMP, 2950.0 + i, "g/min", result == "written", result, f"attempt {i}",
                       old_value=2950.0, written=2950.0 + i if result == "written" else None)


def test_audit_chain_verifies_and_detects_tampering(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    for i in range(5):
        assert log.append(_result(i, "written" if i % 2 else "refused"), session=ARMED, now=NOW) == i + 1
    ok = verify(log.path)
    assert ok.ok and ok.entries == 5
    rows = log.entries(tag=PUMP)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5] and rows[0]["user"] == "alice"

    with sqlite3.connect(log.path) as con:  # append-only: the database itself refuses edits
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("UPDATE audit SET requested = 9999 WHERE seq = 3")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("DELETE FROM audit WHERE seq = 3")
        # someone who drops the trigger and edits a value is still caught by the hash chain
        con.execute("DROP TRIGGER audit_no_update")
        con.execute("UPDATE audit SET requested = 9999 WHERE seq = 3")
    bad = verify(log.path)
    assert not bad.ok and bad.first_bad_seq == 3 and "altered" in bad.message


def test_audit_detects_removed_entry(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    for i in range(4):
        log.append(_result(i), session=ARMED, now=NOW)
    with sqlite3.connect(log.path) as con:
        con.execute("DROP TRIGGER audit_no_delete")
        con.execute("DELETE FROM audit WHERE seq = 2")
    bad = verify(log.path)
    assert not bad.ok and bad.first_bad_seq == 2 and "missing" in bad.message


def test_verify_reports_missing_or_corrupt_file(tmp_path):
    assert "no audit log" in verify(tmp_path / "none.sqlite").message
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    res = verify(junk)
    assert not res.ok and "not a readable audit log" in res.message

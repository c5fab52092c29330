"""Results shared by every session of a dashboard server (apps.dashboard.common.shared_result): computed once
per period; with ``refresh_off_loop`` an outdated result is shown at once and recomputed in the analysis
thread, so opening a page does not wait for it. The clock is virtual; waits on the thread are bounded."""

from __future__ import annotations

import threading
import time

import pytest

from apps.dashboard import common


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    monkeypatch.setattr(common, "_SHARED_RESULTS", {})
    return now


def counter():
    calls, done = [], threading.Event()

    def compute():
        calls.append(threading.current_thread().name)
        done.set()
        return len(calls)
    return compute, calls, done


def test_an_outdated_result_is_shown_and_recomputed_off_the_event_loop(clock):
    compute, calls, done = counter()
    key = "test-shared:off-loop"
    assert common.shared_result(key, 5.0, compute, refresh_off_loop=True) == 1  # nothing yet: computed here
    assert calls == [threading.current_thread().name]
    clock[0] += 2.0
    assert common.shared_result(key, 5.0, compute, refresh_off_loop=True) == 1  # fresh: not recomputed
    assert len(calls) == 1
    clock[0] += 10.0  # outdated: the old result at once, the new one computed in the analysis thread
    done.clear()
    assert common.shared_result(key, 5.0, compute, refresh_off_loop=True) == 1
    assert done.wait(30), "the analysis thread did not recompute the outdated result"
    assert calls[1] != threading.current_thread().name and calls[1].startswith("dashboard-analysis")
    for _ in range(300):  # bounded: the thread stores its result right after computing it
        if common.shared_result(key, 5.0, compute, refresh_off_loop=True) == 2:
            break
        threading.Event().wait(0.01)
    assert common.shared_result(key, 5.0, compute, refresh_off_loop=True) == 2
    assert len(calls) == 2


def test_a_result_too_old_is_computed_before_it_is_shown(clock):
    compute, calls, _ = counter()
    key = "test-shared:too-old"
    common.shared_result(key, 5.0, compute, refresh_off_loop=True)
    clock[0] += 5.0 * common.STALE_AT_MOST + 1.0
    assert common.shared_result(key, 5.0, compute, refresh_off_loop=True) == 2
    assert calls == [threading.current_thread().name] * 2


def test_without_refresh_off_loop_an_outdated_result_is_recomputed_at_once(clock):
    compute, calls, _ = counter()
    common.shared_result("test-shared:sync", 5.0, compute)
    clock[0] += 6.0
    assert common.shared_result("test-shared:sync", 5.0, compute) == 2
    assert calls == [threading.current_thread().name] * 2

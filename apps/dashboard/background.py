"""Heavy analyses shared by every browser session of a dashboard server, computed off the event loop in
one worker thread (:func:`shared_background`); sessions render the newest result."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger(__name__)


@dataclass
class Background:
    """The newest result of a shared analysis (``value`` None until the first run ends; ``error`` the
    message of the last failure, if it failed; ``at`` monotonic time of the last finished run)."""

    value: Any = None
    error: str | None = None
    at: float = -math.inf
    started: float = -math.inf
    running: bool = False
    runs: int = 0


_BACKGROUND: dict[str, Background] = {}
_BACKGROUND_LOCK = threading.Lock()
_EXECUTOR: Any = None


def shared_background(key: str, period_s: float, compute: Callable[[], Any]) -> Background:
    """A heavy analysis shared by all sessions of this process, re-run at most every ``period_s`` s in
    one worker thread so the server's event loop never waits for it. Returns at once with the newest
    result (sessions render whatever is there; the first call starts the first run).

    >>> import time
    >>> r = shared_background("doc-example", 60.0, lambda: 6 * 7)
    >>> for _ in range(200):
    ...     if r.value is not None: break
    ...     time.sleep(0.01)
    >>> r.value, shared_background("doc-example", 60.0, lambda: 0).value   # not re-run within the period
    (42, 42)
    """
    import time
    from concurrent.futures import ThreadPoolExecutor

    global _EXECUTOR
    with _BACKGROUND_LOCK:
        job = _BACKGROUND.setdefault(key, Background())
        if job.running or time.monotonic() - job.started < period_s:
            return job
        job.running, job.started = True, time.monotonic()
        if _EXECUTOR is None:  # one worker: analyses queue up instead of taking both cores from the server
            _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-analysis")

    def run() -> None:
        try:
            value, error = compute(), None
        except Exception as exc:  # shown on the page; a failing analysis must not stop the others
            log.warning("dashboard analysis %s failed: %s", key, exc)
            value, error = None, f"{type(exc).__name__}: {exc}"
        with _BACKGROUND_LOCK:
            if error is None:
                job.value = value
            job.error, job.at, job.running = error, time.monotonic(), False
            job.runs += 1

    _EXECUTOR.submit(run)
    return job



__all__ = ["Background", "shared_background"]

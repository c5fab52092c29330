"""The ring buffer of one tag: fixed memory, oldest sample overwritten when full (no I/O, no clock)."""

from __future__ import annotations

import numpy as np

from workbench.live.reading import Quality

QUALITY_CODES = {q: i for i, q in enumerate(Quality)}
GOOD = QUALITY_CODES[Quality.GOOD]


class LiveError(ValueError):
    """Bad input to the live data path (capacity, user name, unknown alarm or tag)."""


class TagBuffer:
    """A fixed-size ring buffer of one tag: source time (epoch seconds, UTC), value, quality code.

    Memory is allocated once; the oldest sample is overwritten when full (bounded by design).

    >>> b = TagBuffer(3)
    >>> for i in range(5):
    ...     b.append(float(i), 10.0 * i, Quality.GOOD)
    >>> b.arrays()[1].tolist(), len(b), b.last_value()
    ([20.0, 30.0, 40.0], 3, 40.0)
    """

    def __init__(self, capacity: int):
        if not isinstance(capacity, int) or capacity < 2:
            raise LiveError(f"buffer capacity must be an integer >= 2 samples, got {capacity!r}")
        self.capacity = capacity
        self._t = np.full(capacity, np.nan)
        self._v = np.full(capacity, np.nan)
        self._q = np.zeros(capacity, dtype=np.int8)
        self._n = 0  # samples ever appended

    def __len__(self) -> int:
        return min(self._n, self.capacity)

    def append(self, t: float, value: float, quality: Quality) -> None:
        i = self._n % self.capacity
        self._t[i], self._v[i], self._q[i] = t, value, QUALITY_CODES[quality]
        self._n += 1

    @property
    def total(self) -> int:
        """Samples appended since start (grows; the buffer itself does not)."""
        return self._n

    def last_value(self) -> float:
        """The newest value (NaN if the buffer is empty)."""
        return float(self._v[(self._n - 1) % self.capacity]) if self._n else float("nan")

    def arrays(self, last: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of (time s, value, quality code), oldest first; ``last`` limits to the newest n."""
        n = len(self)
        if self._n <= self.capacity:
            idx = np.arange(n)
        else:
            start = self._n % self.capacity
            idx = (np.arange(n) + start) % self.capacity
        if last is not None:
            idx = idx[-last:]
        return self._t[idx].copy(), self._v[idx].copy(), self._q[idx].copy()

    def since(self, total_before: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The samples appended after ``total`` was ``total_before`` (at most a full buffer)."""
        new = min(self._n - total_before, len(self))
        if new <= 0:
            return np.empty(0), np.empty(0), np.empty(0, dtype=np.int8)
        return self.arrays(last=new)


__all__ = ["TagBuffer", "LiveError", "QUALITY_CODES", "GOOD"]

"""Identifier strings (roll, lot, cell ids) from integer counters, vectorised."""

from __future__ import annotations

import numpy as np


def ids(prefix: str, numbers, width: int) -> np.ndarray:
    """``prefix`` + zero-padded numbers (empty input -> empty array).

    >>> ids("CR", [5000, 5001], 6).tolist()
    ['CR005000', 'CR005001']
    """
    n = np.asarray(numbers, dtype=np.int64)
    if n.size == 0:
        return np.zeros(n.shape, dtype=f"U{len(prefix) + width}")
    return np.char.add(prefix, np.char.zfill(n.astype(str), width))

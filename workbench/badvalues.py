"""PLC bad-value codes: numbers a controller writes in place of a reading when an input fails.

A wire break, an over-range analogue input or a lost fieldbus slave does not always make the value's
quality bad: many PLCs keep the quality good and write a code instead (``-9999``, the 16-bit limits
``32767``/``-32768``, or a float far out of range such as ``3.4e38`` or ``-9.9e37``). Such a number is
never a reading. Readers mask it to a gap (NaN) and count it; analyses never see it as a value.

>>> import numpy as np
>>> masked, n = mask_bad_values(np.array([17.21, -9999.0, 17.19, 3.4e38]))
>>> masked.tolist()[1], n
(nan, 2)
"""

from __future__ import annotations

import numpy as np

PLC_BAD_VALUES: tuple[float, ...] = (-9999.0, 32767.0, -32768.0, 3.4e38, -9.9e37)
PLC_ABSURD = 1e30  # |x| at or above this is a controller's bad-value code (as workbench.changepoints masks)
_CODES = frozenset(PLC_BAD_VALUES)


def is_bad_value(values, codes=PLC_BAD_VALUES) -> np.ndarray:
    """True where a value is a PLC bad-value code: one of ``codes`` or ``|x| >= 1e30`` (NaN is not a code)."""
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isin(x, np.asarray(codes, dtype=np.float64)) | (np.abs(x) >= PLC_ABSURD)


def is_bad_reading(value: float) -> bool:
    """:func:`is_bad_value` of one reading (the adapters qualify every reading as it arrives).

    >>> is_bad_reading(-9.9e37), is_bad_reading(21.5), is_bad_reading(float("nan"))
    (True, False, False)
    """
    v = float(value)
    return v in _CODES or abs(v) >= PLC_ABSURD


def mask_bad_values(values, codes=PLC_BAD_VALUES) -> tuple[np.ndarray, int]:
    """(copy of ``values`` with bad-value codes set to NaN, how many were masked)."""
    x = np.array(values, dtype=np.float64)
    bad = is_bad_value(x, codes)
    x[bad] = np.nan
    return x, int(bad.sum())


def bad_value_markers(values, markers=None) -> tuple[np.ndarray, np.ndarray | None]:
    """(values with bad-value codes set to NaN, markers) for a column read from a file: each code becomes a
    gap marker ``"PLC bad-value code 3.4e+38"`` beside the text markers already found (``markers``: an object
    array, None where the cell was a number; None if there is none at all).

    >>> v, m = bad_value_markers(np.array([17.2, 3.4e38, -9999.0]))
    >>> v.tolist()[1:], m.tolist()
    ([nan, nan], [None, 'PLC bad-value code 3.4e+38', 'PLC bad-value code -9999'])
    """
    x = np.asarray(values, dtype=np.float64)
    bad = is_bad_value(x)
    if not bad.any():
        return x, markers
    out = np.full(len(x), None, dtype=object) if markers is None else markers.copy()
    out[bad] = [f"PLC bad-value code {c:g}" for c in x[bad]]
    return np.where(bad, np.nan, x), out


__all__ = ["PLC_BAD_VALUES", "PLC_ABSURD", "is_bad_value", "is_bad_reading", "mask_bad_values", "bad_value_markers"]

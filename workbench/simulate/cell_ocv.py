"""The virtual cell's open-circuit voltage: cathode minus anode open-circuit potential.

Chen et al. 2020 (J. Electrochem. Soc. 167 080534, LG M50 NMC811 and graphite fits), with stoichiometry
windows 0.9084 -> 0.2661 (cathode) and 0.0279 -> 0.9014 (anode) mapped to a state of charge ``s`` in
0..1 (2.50 -> 4.19 V).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ocv", "ocv_table", "soc_at", "ocv_slope"]


def _u_graphite(x):
    return (1.9793 * np.exp(-39.3631 * x) + 0.2482 - 0.0909 * np.tanh(29.8538 * (x - 0.1234))
            - 0.04478 * np.tanh(14.9159 * (x - 0.2769)) - 0.0205 * np.tanh(30.4444 * (x - 0.6103)))


def _u_nmc811(y):
    return (-0.8090 * y + 4.4875 - 0.0428 * np.tanh(18.5138 * (y - 0.5542))
            - 17.7326 * np.tanh(15.7890 * (y - 0.3117)) + 17.5842 * np.tanh(15.9308 * (y - 0.3120)))


def ocv(soc):
    """Open-circuit voltage (V) of the virtual cell at state of charge ``soc`` (0..1, fraction).

    >>> round(float(ocv(0.5)), 3)
    3.708
    """
    s = np.asarray(soc, dtype=float)
    return _u_nmc811(0.9084 - s * (0.9084 - 0.2661)) - _u_graphite(0.0279 + s * (0.9014 - 0.0279))


_S_TABLE = np.linspace(0.0, 1.1, 4401)
_V_TABLE = ocv(_S_TABLE)


def ocv_table(s):
    """OCV by interpolation in a 4,401-point table (fast, for the segment solver)."""
    return np.interp(s, _S_TABLE, _V_TABLE)


def soc_at(v):
    """The state of charge at open-circuit voltage ``v`` (the table inverted; OCV is monotonic)."""
    return np.interp(v, _V_TABLE, _S_TABLE)


def ocv_slope(s):
    """dOCV/ds (V per unit state of charge) from the table."""
    return np.interp(s, _S_TABLE, np.gradient(_V_TABLE, _S_TABLE))

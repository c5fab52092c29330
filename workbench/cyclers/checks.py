"""Checks that change nothing: what kind of cell a record is and how far its columns can be trusted, listed in
the curve's ``attrs["checks"]`` (shown by the CLI) so that a number that looks wrong comes with its reason.

- :func:`half_cell`: a record whose voltage falls below :data:`HALF_CELL_BELOW_V` while discharging (and is
  above :data:`HALF_CELL_ABOVE_V` somewhere) is an electrode against lithium metal (graphite, silicon, hard
  carbon vs Li); no full Li-ion cell works there. Its discharge is the electrode's lithiation and its charge
  the delithiation, so with ``first="auto"`` cycles open with the discharge and CE = charge / discharge (the
  electrode's first-cycle efficiency), whatever stray step comes first. Named in ``attrs["cell_type"]``.
- :func:`current_against_capacity`: the current integrated over each charge or discharge step against the
  capacity the cycler counted for it. A cycler counts capacity from its raw current; a current column that
  disagrees by more than :data:`CURRENT_CAPACITY_TOL` was written too coarsely (or offset), so capacities
  and CE come from the capacity columns and the current is good for direction only.
"""

from __future__ import annotations

import numpy as np

from workbench.cyclers.table import Table

HALF_CELL_BELOW_V = 0.3
HALF_CELL_ABOVE_V = 0.5      # ... and rises above this somewhere (rest or delithiation); a Li|Li cell never does
CURRENT_CAPACITY_TOL = 0.05


def _active(t: Table) -> np.ndarray:
    i = t.cols["current"]
    tol = max(1e-4 * float(np.nanmax(np.abs(i), initial=0.0)), 1e-9)
    return np.where(i > tol, 1, np.where(i < -tol, -1, 0))


def half_cell(t: Table) -> None:
    """Name a low-potential electrode against Li metal (see the module); nothing for any other record."""
    mode, v = _active(t), t.cols["voltage"]
    dis = mode < 0
    if not dis.any() or float(np.nanmin(v[dis])) >= HALF_CELL_BELOW_V or float(np.nanmax(v)) < HALF_CELL_ABOVE_V:
        return
    low, high = float(np.nanmin(v[dis])), float(np.nanmax(v[mode != 0]))
    t.attrs["cell_type"] = "half cell: a negative electrode against Li metal"
    t.attrs.setdefault("checks", []).append(
        f"half_cell: {t.where('voltage')} falls to {low:.3g} V while discharging (works {low:.3g}-{high:.3g} V), "
        f"below any full Li-ion cell: an electrode against Li metal (a half cell). Its discharge is the "
        f"electrode's lithiation, its charge the delithiation; cycles open with the discharge "
        f"and CE = charge / discharge = delithiation / lithiation. If this is a full cell, it was over-discharged")


def current_against_capacity(t: Table) -> None:
    """Compare ∫I dt per step with the capacity columns (see the module); a note when they disagree."""
    from workbench.cyclers.repairs import _charge_ratio

    r = _charge_ratio(t)
    if r is None or abs(r - 1) <= CURRENT_CAPACITY_TOL:
        return
    mode, i = _active(t), t.cols["current"]
    levels = np.unique(i[mode != 0])
    coarse = (f"; it holds only {levels.size} distinct value(s) while current flows ({', '.join(f'{x:g}' for x in levels[:4])}"
              f"{' ...' if levels.size > 4 else ''} A): written too coarsely") if levels.size <= 10 else ""
    cap = t.names.get("charge_capacity", t.names.get("capacity", "capacity"))
    t.attrs.setdefault("checks", []).append(
        f"current_vs_capacity: {t.where('current')} integrated over each step gives {r:.3g}x the cycler's capacity "
        f"column {cap!r} (median over the steps){coarse}. Capacities and CE are taken from the capacity "
        f"columns; anything computed from the current (C-rate, DCIR) is off by as much")

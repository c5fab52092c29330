"""Repairs of real-file flaws, each listed in the curve's ``attrs["repairs"]`` (or raised with ``strict``).

Order matters: units of voltage first, then cycle numbers, exact duplicate records, time restarts, the
time unit (against a clock column, else against the file's own capacity column), and the current's sign.
Every repair is decided from physics or from an independent column of the same file, never from a file
name or a vendor's habit, and each message names the file, the column, the row and what was done.
"""

from __future__ import annotations

import numpy as np

from workbench.cyclers.checks import current_against_capacity, half_cell
from workbench.cyclers.curve import FormationDataError, _renumber
from workbench.cyclers.table import Table

# factors by which a time column is commonly off: ms labelled s, h or min labelled s, s labelled h
_TIME_FACTORS = {1000.0: "milliseconds", 3600.0: "3600x (hours counted as seconds twice)", 60.0: "60x",
                 1 / 60: "minutes", 1 / 3600: "hours"}
_MAX_CELL_V = 6.0            # no single Li-ion/Na-ion cell reads above this
_PLAUSIBLE_TEST_S = 2 * 365 * 86400.0


class FormationRepairError(FormationDataError):
    """A repair was needed but ``strict=True`` was asked for; the message lists the repairs."""


def repair(table: Table, *, strict: bool = False) -> Table:
    """Apply every repair in order; with ``strict`` raise :class:`FormationRepairError` if any was needed."""
    for fix in (_no_missing, _millivolts, _cycle_numbers, _exact_duplicates, _time_restarts, _ties_within_step, _time_unit, _current_sign,
                _step_change_duplicates, _temperature_not_measured):
        fix(table)
    _check_physics(table)
    for check in (half_cell, current_against_capacity):       # notes only: they change nothing
        check(table)
    if strict and table.repairs:
        raise FormationRepairError(f"{table.source}: strict reading refused {len(table.repairs)} repair(s): "
                                   + " | ".join(table.repairs) + " ; fix the file or read with strict=False")
    return table


def _no_missing(t: Table) -> None:
    for key in ("time", "voltage", "current"):
        bad = ~np.isfinite(t.cols[key])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise FormationDataError(f"{t.where(key)}: NaN/missing at row {t.lines[i]}; drop or fill that row")


def _millivolts(t: Table) -> None:
    v = t.cols["voltage"]
    med = float(np.nanmedian(np.abs(v))) if v.size else 0.0
    if med > _MAX_CELL_V and med / 1000 < _MAX_CELL_V:
        t.cols["voltage"] = v / 1000.0
        t.repairs.append(f"millivolts: {t.where('voltage')} has median {med:.4g}, impossible for a cell in V; "
                         f"read as mV (divided by 1000)")
    elif med > _MAX_CELL_V:
        raise FormationDataError(f"{t.where('voltage')}: median {med:.4g} is not a cell voltage in V or mV; "
                                 f"is this a module/pack record or another column? Export cell voltage")


def _cycle_numbers(t: Table) -> None:
    cyc = t.cols.get("cycle")
    if cyc is None:
        return
    frac = np.isfinite(cyc) & (np.abs(cyc - np.round(cyc)) > 1e-9)
    if frac.any():
        i = int(np.flatnonzero(frac)[0])
        del t.cols["cycle"]
        t.repairs.append(f"cycle_not_integer: {t.where('cycle')} holds {cyc[i]!r} at line {t.lines[i]}, not a cycle "
                         f"number; ignored the column, cycles derived from the current")
    elif np.nanmin(cyc) == np.nanmax(cyc) and _alternations(t) >= 2:
        del t.cols["cycle"]
        t.repairs.append(f"cycle_constant: {t.where('cycle')} is {cyc[0]:g} throughout a record that charges and "
                         f"discharges repeatedly; cycles derived from the current")


def _alternations(t: Table) -> int:
    i = t.cols["current"]
    tol = max(1e-4 * float(np.nanmax(np.abs(i), initial=0.0)), 1e-9)
    mode = np.sign(i[np.abs(i) > tol])
    return int(np.count_nonzero(mode[1:] != mode[:-1]))


def _exact_duplicates(t: Table) -> None:
    keys = [k for k in ("time", "voltage", "current", "step", "capacity", "charge_capacity", "discharge_capacity")
            if k in t.cols]
    same = np.ones(len(t) - 1, dtype=bool) if len(t) > 1 else np.zeros(0, bool)
    for k in keys:
        v = t.cols[k]
        same &= (v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1]))
    if same.any():
        n = int(same.sum())
        t.take(np.r_[True, ~same])
        t.repairs.append(f"duplicate_rows: {n} record(s) repeated exactly (first at line "
                         f"{t.lines[max(int(np.flatnonzero(same)[0]), 0)]}); dropped the repeats")


def _step_change_duplicates(t: Table) -> None:
    tt, st = t.cols["time"], t.cols.get("step")
    if st is None:
        return
    same = (np.diff(tt) == 0) & (st[1:] != st[:-1])
    if same.any():
        t.repairs.append(f"same_time_at_step_change: {int(same.sum())} step change(s) logged twice at one time "
                         f"(end of one step, start of the next; first at line {t.lines[int(np.flatnonzero(same)[0]) + 1]}); "
                         f"kept both records, in order")


def _ties_within_step(t: Table) -> None:
    """Records closer than the export's time resolution (hh:mm:ss text: 1 s) share a time within a step:
    keep the last record of each tie (the state at the end of that second)."""
    res, step = t.attrs.get("time_resolution_s"), t.cols.get("step")
    if not res or step is None:
        return
    tt = t.cols["time"]
    tie_next = np.r_[(np.diff(tt) == 0) & (step[1:] == step[:-1]), False]
    if tie_next.any():
        first = int(np.flatnonzero(tie_next)[0])
        t.take(~tie_next)
        t.repairs.append(f"time_resolution: {int(tie_next.sum())} record(s) share a time with the next record of their "
                         f"step ({t.where('time')} is written to {res:g} s; first at line {t.lines[min(first, len(t) - 1)]}); "
                         f"kept the last record of each tie")


def _time_restarts(t: Table) -> None:
    tt = t.cols["time"].copy()
    back = np.flatnonzero(np.diff(tt) < 0) + 1
    if not back.size:
        return
    clock, st_time, step = t.cols.get("clock"), t.cols.get("step_time"), t.cols.get("step")
    for i in back:                       # positions stay valid: only later values shift
        dt = np.nan
        if clock is not None and np.isfinite(clock[i] - clock[i - 1]) and clock[i] >= clock[i - 1]:
            dt, how = clock[i] - clock[i - 1], f"the clock column {t.names.get('clock')!r}"
        elif st_time is not None:
            new_step = step is not None and step[i] != step[i - 1]
            dt = st_time[i] if new_step else st_time[i] - st_time[i - 1]
            how = f"the step-time column {t.names.get('step_time')!r}"
        if not np.isfinite(dt) or dt < 0:
            raise FormationDataError(f"{t.where('time')}: time goes backwards at row {t.lines[i]} ({tt[i - 1]:g} -> "
                                     f"{tt[i]:g} s: a restart?) and the file has no clock or step-time column to bridge it; "
                                     f"split the file at row {t.lines[i]} or export it with a date/time column")
        tt[i:] += tt[i - 1] + dt - tt[i]
    t.cols["time"] = tt
    t.repairs.append(f"time_restart: {t.where('time')} restarts {back.size} time(s) (first at line "
                     f"{t.lines[back[0]]}); continued from {how}")


def _near(r: float, tol: float = 0.05) -> float | None:
    """The known unit slip within ``tol`` (relative) of ratio ``r``; the slips are >= 3.6x apart."""
    for k in _TIME_FACTORS:
        if abs(r / k - 1) < tol:
            return k
    return None


def _time_unit(t: Table) -> None:
    tt, clock = t.cols["time"], t.cols.get("clock")
    if clock is not None and np.isfinite(clock).sum() > 2:
        d_t, d_c = np.diff(tt), np.diff(clock)
        ok = (d_t > 0) & (d_c > 0) & np.isfinite(d_c)
        if ok.sum() >= 3:
            r = float(np.median(d_t[ok] / d_c[ok]))
            k = _near(r) if abs(r - 1) > 0.05 else None
            if k:
                t.cols["time"] = tt / k
                t.repairs.append(f"time_unit: {t.where('time')} runs {r:.4g}x the clock column "
                                 f"{t.names.get('clock')!r} (median over {int(ok.sum())} intervals): "
                                 f"{_TIME_FACTORS[k]}; divided by {k:g}")
            elif abs(r - 1) > 0.05:
                t.attrs.setdefault("checks", []).append(
                    f"time_unit: {t.where('time')} runs {r:.4g}x the clock column; not a known unit slip, left as is")
            return
    r = _charge_ratio(t)            # coarse current/capacity resolution: +-30 % still tells the slips apart
    if r is not None and abs(r - 1) > 0.3:
        k = _near(r, 0.3)
        if k and k > 1:
            t.cols["time"] = tt / k
            t.repairs.append(f"time_unit: {t.where('time')}: the current integrated over it gives {r:.4g}x the "
                             f"capacity column {t.names.get('charge_capacity', t.names.get('capacity'))!r} and the "
                             f"file has no clock column: time read as {_TIME_FACTORS[k]}; divided by {k:g}")
            return
        if abs(r * 1000 - 1) < 0.3:
            t.cols["current"] = t.cols["current"] * 1000
            t.repairs.append(f"current_unit: {t.where('current')} integrates to 1/1000 of the capacity column: "
                             f"the header's mA holds A; multiplied by 1000")
            return
    span = float(np.nanmax(t.cols["time"]) - np.nanmin(t.cols["time"]))
    d_t = np.diff(t.cols["time"])
    typical = float(np.median(d_t[d_t > 0])) if (d_t > 0).any() else 0.0
    if typical > 3600.0:
        t.attrs.setdefault("checks", []).append(
            f"time_unit: {t.where('time')} samples every {typical / 3600:.3g} h (median), not a cycler's logging "
            f"interval; is the column in ms or h rather than s?")
    if span > _PLAUSIBLE_TEST_S:
        raise FormationDataError(f"{t.where('time')}: the record spans {span / 86400 / 365.25:.1f} years, not a "
                                 f"cycler test; its unit is wrong (ms or h counted as s?) and the file has no clock "
                                 f"or capacity column to tell which: convert the column to seconds")


def _charge_ratio(t: Table) -> float | None:
    """Median over active steps of |∫I dt| / (capacity the file reports), or None without a capacity column."""
    step = t.cols.get("step")
    caps = [t.cols[k] for k in ("charge_capacity", "discharge_capacity", "capacity") if k in t.cols]
    if step is None or not caps:
        return None
    tt, i = t.cols["time"], t.cols["current"]
    starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]])
    ends = np.r_[starts[1:], len(step)]
    ratios = []
    for a, b in zip(starts, ends):
        if b - a < 5:
            continue
        q_file = max(float(np.nanmax(c[a:b]) - np.nanmin(c[a:b])) for c in caps)
        q_int = abs(float(np.sum(0.5 * (i[a + 1:b] + i[a:b - 1]) * np.diff(tt[a:b])))) / 3600.0
        if q_file > 0 and q_int > 0:
            ratios.append(q_int / q_file)
    return float(np.median(ratios)) if len(ratios) >= 1 else None


def _current_sign(t: Table) -> None:
    """Positive current charges. Vote per step: the capacity column that grows, else the voltage's slope."""
    i, step = t.cols["current"], t.cols.get("step")
    if step is None:
        step = _renumber(np.sign(np.round(i, 9)))
    qc, qd = t.cols.get("charge_capacity"), t.cols.get("discharge_capacity")
    starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]])
    ends = np.r_[starts[1:], len(step)]
    agree = disagree = 0
    for a, b in zip(starts, ends):
        s = np.sign(np.median(i[a:b]))
        if s == 0 or b - a < 3:
            continue
        if qc is not None and qd is not None:
            gc, gd = np.nanmax(qc[a:b]) - np.nanmin(qc[a:b]), np.nanmax(qd[a:b]) - np.nanmin(qd[a:b])
            if gc == gd:
                continue
            vote = 1 if gc > gd else -1
        else:
            dv = t.cols["voltage"][b - 1] - t.cols["voltage"][a]
            if abs(dv) < 1e-3:
                continue
            vote = int(np.sign(dv))
        agree, disagree = agree + (vote == s), disagree + (vote != s)
    if disagree >= 2 and disagree > 4 * agree:
        t.cols["current"] = -i
        by = "which capacity column grows" if qc is not None and qd is not None else "the voltage's rise and fall"
        t.repairs.append(f"current_sign: {t.where('current')} is negative while charging in {disagree} of "
                         f"{agree + disagree} steps (judged by {by}); sign flipped so that charge is positive")


def _temperature_not_measured(t: Table) -> None:
    """A temperature of exactly 0 in every record is no reading (a sensor's reading moves by its last digit over
    a test; cyclers write 0 where no sensor is connected): marked as a gap (NaN), never kept as 0 degC."""
    temp = t.cols.get("temperature")
    if temp is None or len(temp) < 3 or not np.all(temp == 0):
        return
    t.cols["temperature"] = np.full(len(temp), np.nan)
    t.repairs.append(f"temperature_not_measured: {t.where('temperature')} is exactly 0 in all {len(temp)} records: no "
                     f"sensor was connected; marked as missing (NaN), not 0 degC")


def _check_physics(t: Table) -> None:
    v = t.cols["voltage"]
    hi = np.flatnonzero(v > _MAX_CELL_V)
    if hi.size:
        raise FormationDataError(f"{t.where('voltage')}: {v[hi[0]]:.4g} V at line {t.lines[hi[0]]} is beyond any "
                                 f"cell ({_MAX_CELL_V} V); check the column and its unit")
    checks = t.attrs.setdefault("checks", [])
    caps = [t.cols[k] for k in ("charge_capacity", "discharge_capacity", "capacity") if k in t.cols]
    q = max((float(np.nanmax(np.abs(c))) for c in caps), default=0.0)
    imax = float(np.nanmax(np.abs(t.cols["current"]), initial=0.0))
    if q > 0 and imax / q > 50:
        checks.append(f"c_rate: the largest current {imax:.4g} A is {imax / q:.0f}x the largest capacity "
                      f"{q:.4g} Ah (C-rate); check the current and capacity units")

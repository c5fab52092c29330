"""The virtual line's formation racks: per-cell formation curves and results from a cell model.

Cell model (an NMC811 | graphite pouch cell of about 3 Ah):

- OCV: :mod:`workbench.simulate.cell_ocv` (Chen et al. 2020 NMC811 | graphite fits, 2.50 -> 4.19 V).
- Capacity: the first charge delithiates the cathode, ``C_ch = K_AREA * areal_mass`` (2 x 490 cm²,
  96 % active, 210 mAh/g to 4.2 V; 3.4 Ah at the coater's 17.2 mg/cm²), so capacity is
  proportional to the areal mass. A fraction
  ``f_irr`` (9 % + moisture) of that charge is lost to SEI during the first charge; the reversible
  capacity is ``C_rev = C_ch (1 - f_irr)``. SEI forms early: of the first Q (Ah) charged,
  ``Q_irr (1 - exp(-Q/Q_irr))`` goes to SEI.
- Overpotential: an ohmic part R0 (cell + weld), one RC branch (R1, 8 s) and a slow diffusion
  branch (Rd = 0.1 V·h / C_nom, 30 min); the current is piecewise constant except in CV, so every
  segment has a closed form. DCIR (1 s, 3C pulse) is ≈ 1 mΩ, the proportions of a large-format
  cell, so that a 100 µΩ cold weld is ~10 % of it (DOMAIN.md); a real 3 Ah energy cell would read
  10-20 mΩ and hide the weld. The curves are a pure function of time: the same seed and time give
  the same sample in batch curves, results and live channel reads.
- Moisture (ppmv·h above the dry-room baseline) raises SEI loss (lower first-cycle CE and discharge
  capacity), self-discharge (K) and resistance; weld resistance adds 1:1 to the ohmic part (DCIR).
- A weak channel (event ``weak_formation_channel``) reads current and capacity low by ``magnitude``
  (a shunt/contact gain error; so its DCIR, ΔV over a low-read ΔI, reads high by 1/(1 - magnitude)).

Protocol on the channel (segments): rest 10 min, CC C/10 for 3 h (SEI formation), CC C/5 to
4.2 V, CV to C/50, rest 30 min, CC C/5 discharge to 3.0 V, rest 30 min, CC C/5 to 50 % SOC (by capacity), rest 1 h, DCIR pulse
3C discharge 12 s, rest 10 min; then off the channel, aging on the shelf for 3 days where an OCV
tester reads the open-circuit voltage (K-value from +1 day and +3 days).

Example
-------
>>> import pandas as pd
>>> cells = pd.DataFrame({"cell_id": ["C1"], "rack": [1], "channel": [1],
...     "formation_start": [pd.Timestamp("2026-01-05T06:00Z")], "areal_mass": [17.2],
...     "moisture_exposure": [0.0], "weld_resistance": [90.0]})
>>> res = formation_results(cells, seed=0, events=None)
>>> round(float(res.discharge_capacity[0]), 1), res.dcir.attrs["units"]
(3.0, 'mohm')
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from workbench.simulate.cell_ocv import ocv
from workbench.simulate.cell_ocv import ocv_slope as _ocv_slope
from workbench.simulate.cell_ocv import ocv_table as _ocv_table
from workbench.simulate.cell_ocv import soc_at as _soc_at
from workbench.simulate.formation_inputs import check_cells
from workbench.simulate.rng import normal, quantise, stream_key

__all__ = [
    "ocv",
    "formation_results",
    "formation_curves",
    "on_channel_hours",
    "FormationLine",
    "NOMINAL_CAPACITY_AH",
    "SEGMENTS",
]

# --- cell and protocol constants (each a plant fact or a stated modelling choice) ---------------
NOMINAL_CAPACITY_AH = 3.0          # sets the C-rates of the protocol
K_AREA = 2 * 490.0 * 1e-3 * 0.96 * 0.210   # Ah per (mg/cm² per side): 2 sides x 490 cm², 96 % active, 210 mAh/g
F_IRR_BASE = 0.090                 # first-cycle SEI loss of a dry cell (NMC811/graphite: CE ≈ 88-90 %)
MOISTURE_LOSS_MAX = 0.08           # saturating extra SEI loss from moisture
MOISTURE_SCALE = 1300.0            # ppmv·h; initial slope 0.08/1300 ≈ 6e-5 per ppmv·h (300 ppmv·h: -1.7 %-pt CE)
R0_MOHM, R1_MOHM, TAU1_S = 0.70, 0.40, 8.0
RD_VH, TAUD_S = 0.10, 1800.0       # diffusion branch: Rd = 0.1 V·h / C_nom
K_BASE_MV_DAY, K_MOISTURE = 0.8, 3.0e-3   # mV/day, and mV/day per ppmv·h (HF/water side reactions)
R_MOISTURE = 0.05e-3               # relative rise of cell resistance (SEI film, charge transfer) per ppmv·h
RELAX_MV, RELAX_TAU_S = 3.0, 6 * 3600.0   # slow post-formation relaxation seen on the aging shelf
V_MAX, V_MIN, V_FRESH_DROP, Q_FRESH_FRAC = 4.2, 3.0, 2.2, 0.004
T_RACK_C, T_AGING_C = 35.0, 25.0
R_TH_K_PER_W, TAU_TH_S = 5.0, 600.0   # cell-to-rack thermal resistance and time constant (pouch in a fixture)
PULSE_C_RATE, PULSE_S = 3.0, 12.0
DCIR_DT_S = 1.0                    # reported DCIR: 1 s after the pulse edge (ohmic + fast charge transfer)
AGING_S = 3 * 86400.0 + 3600.0
K_T1_S, K_T2_S = 86400.0, 3 * 86400.0     # OCV readings after the start of aging
V_RES, I_RES, T_RES = 1e-4, 1e-4, 0.01    # channel logger resolution (V, A, degC)
V_NOISE, I_NOISE, T_NOISE = 1e-4, 1e-4, 0.03
OCV_RES, OCV_NOISE = 1e-5, 2e-5           # aging-shelf OCV tester (V)

REST, CC, CV = 0, 1, 2
# name, mode, cycle, logging interval (s)
SEGMENTS = (
    ("rest_initial", REST, 1, 10.0),
    ("cc_charge_sei", CC, 1, 60.0),       # C/10 through SEI formation (first 3 h)
    ("cc_charge", CC, 1, 30.0),           # C/5 to 4.2 V
    ("cv_charge", CV, 1, 30.0),
    ("rest_after_charge", REST, 1, 30.0),
    ("cc_discharge", CC, 1, 30.0),
    ("rest_after_discharge", REST, 2, 30.0),
    ("cc_charge_to_soc", CC, 2, 60.0),
    ("rest_before_pulse", REST, 2, 60.0),
    ("dcir_pulse", CC, 2, 0.1),
    ("rest_after_pulse", REST, 2, 1.0),
    ("aging_ocv", REST, 2, 3600.0),
)
NSEG = len(SEGMENTS)
ON_CHANNEL_SEGMENTS = NSEG - 1     # the aging segment is on the shelf, not on the channel
FIRST_CHARGE_SEGS, PULSE_SEG, AGING_SEG = (1, 2), 9, 11
SEI_STAGE_S, SEI_STAGE_MAX_FRAC = 3 * 3600.0, 0.3

# --- inputs ----------------------------------------------------------------------------------

def _cell_keys(seed: int, cell_ids) -> np.ndarray:
    """One 64-bit random-stream key per cell: depends on (seed, cell_id) only, not on the other cells."""
    base = int(stream_key(seed, "formation"))
    return np.array([int.from_bytes(hashlib.blake2b(str(c).encode(), digest_size=8,
                                                    key=base.to_bytes(8, "little")).digest(), "little")
                     for c in cell_ids], dtype=np.uint64)


def _rack_temperature(seed: int, racks: np.ndarray) -> np.ndarray:
    """Ambient temperature (degC) of each rack: 35 °C plus a fixed per-rack offset (σ 0.3 K)."""
    uniq, inv = np.unique(racks, return_inverse=True)
    offs = np.array([0.3 * float(normal(stream_key(seed, "formation_rack", int(r)), 0)) for r in uniq])
    return T_RACK_C + offs[inv.reshape(-1)] if uniq.size else np.zeros(0)


def _weak_channel_gain(df: pd.DataFrame, events: pd.DataFrame | None) -> np.ndarray:
    """Measured/true current ratio per cell: 1 - magnitude on a weak channel during the event."""
    gain = np.ones(len(df))
    if events is None or len(events) == 0:
        return gain
    weak = events[events["kind"] == "weak_formation_channel"]
    for _, ev in weak.iterrows():
        try:
            rack_txt, ch_txt = str(ev["target"]).split("/")[-2:]
            rack, ch = int(rack_txt.lower().removeprefix("rack")), int(ch_txt.lower().removeprefix("ch"))
        except ValueError:
            raise ValueError(f"events: weak_formation_channel target {ev['target']!r} is not like 'rack2/ch07'") from None
        mag = abs(float(ev["magnitude"]))
        if str(ev.get("units", "1")).strip() in ("%", "percent"):
            mag /= 100.0
        start = pd.Timestamp(ev["start"]).tz_convert("UTC") if pd.Timestamp(ev["start"]).tzinfo else pd.Timestamp(ev["start"], tz="UTC")
        end = pd.Timestamp(ev["end"]).tz_convert("UTC") if pd.Timestamp(ev["end"]).tzinfo else pd.Timestamp(ev["end"], tz="UTC")
        hit = (df.rack.to_numpy() == rack) & (df.channel.to_numpy() == ch) & \
              (df.formation_start >= start).to_numpy() & (df.formation_start < end).to_numpy()
        gain[hit] *= 1.0 - mag
    return gain


# --- per-cell model: segment table in closed form ---------------------------------------------


class _Cells:
    """Per-cell parameters and the closed-form segment table (arrays over cells)."""

    def __init__(self, cells: pd.DataFrame, seed: int, events: pd.DataFrame | None):
        df = check_cells(cells)
        self.df, self.seed, n = df, int(seed), len(df)
        self.keys = _cell_keys(seed, df.cell_id)
        z = normal(self.keys[:, None], np.arange(8)[None, :]) if n else np.zeros((0, 8))
        m, wet, weld = (df[c].to_numpy(float) for c in ("areal_mass", "moisture_exposure", "weld_resistance"))
        self.t_cell = _rack_temperature(seed, df.rack.to_numpy()) + 0.1 * z[:, 5]
        self.c_ch = K_AREA * m * (1.0 + 0.003 * z[:, 0])
        moist = MOISTURE_LOSS_MAX * (1.0 - np.exp(-wet / MOISTURE_SCALE))
        self.q_irr = self.c_ch * (F_IRR_BASE + 0.003 * z[:, 1] + moist)
        self.c_rev = self.c_ch - self.q_irr
        arrh = np.exp(2400.0 * (1.0 / (self.t_cell + 273.15) - 1.0 / 308.15))
        sei = 1.0 + R_MOISTURE * wet                       # a thicker SEI film: seen within 1 s
        self.r0 = (R0_MOHM * (1.0 + 0.03 * z[:, 2]) * sei + weld * 1e-3) * 1e-3         # ohm
        self.r1 = R1_MOHM * (1.0 + 0.03 * z[:, 3]) * arrh * (1.0 + R_MOISTURE * wet) * 1e-3
        self.rd = np.full(n, RD_VH / NOMINAL_CAPACITY_AH)
        self.r_slow = self.r0 + self.r1 + self.rd
        self.k_true = K_BASE_MV_DAY * np.exp(0.15 * z[:, 4]) + K_MOISTURE * wet
        self.gain = _weak_channel_gain(df, events)
        self.start_ns = pd.DatetimeIndex(df.formation_start).as_unit("ns").asi8
        self._build()

    def _build(self):
        """Segment durations (rounded to the logger's 0.1 s tick) and the state at each segment start."""
        n = len(self.df)
        c_nom = NOMINAL_CAPACITY_AH
        dur, cur, q0 = np.zeros((n, NSEG)), np.zeros((n, NSEG)), np.zeros((n, NSEG))
        s0, v1, vd = np.zeros((n, NSEG)), np.zeros((n, NSEG)), np.zeros((n, NSEG))
        i_slow, i_c, i_d, i_p = c_nom / 10, c_nom / 5, -c_nom / 5, -PULSE_C_RATE * c_nom
        tick = lambda x: np.round(np.asarray(x, dtype=float) * 10.0) / 10.0  # noqa: E731
        dur[:, 0] = 600.0
        cur[:, 1] = i_slow                                 # C/10 through the SEI-forming start
        dur[:, 1] = tick(np.minimum(SEI_STAGE_S, SEI_STAGE_MAX_FRAC * self.c_ch * 3600.0 / i_slow))
        q1 = i_slow * dur[:, 1] / 3600.0
        q0[:, 2], cur[:, 2] = q1, i_c                      # C/5 until the steady voltage hits V_MAX
        v1[:, 2], vd[:, 2] = self._cc_end(0.0, 0.0, i_slow, dur[:, 1])
        dur[:, 2] = tick((self._solve_cc_charge(i_c, q1) - q1) * 3600.0 / i_c)
        self.q_cc = q1 + i_c * dur[:, 2] / 3600.0
        s_cc = self._s_first(self.q_cc)
        s0[:, 3], cur[:, 3] = s_cc, i_c                    # CV at V_MAX: I = i_c exp(-t/tau)
        v1[:, 3], vd[:, 3] = self._cc_end(v1[:, 2], vd[:, 2], i_c, dur[:, 2])
        self.tau_cv = self.r_slow * self.c_rev * 3600.0 / _ocv_slope(s_cc)
        dur[:, 3] = tick(self.tau_cv * np.log(i_c / (c_nom / 50)))
        i_end = i_c * np.exp(-dur[:, 3] / self.tau_cv)
        self.q_cv = (i_c - i_end) * self.tau_cv / 3600.0
        s_top = s_cc + self.q_cv / self.c_rev
        s0[:, 4], v1[:, 4], vd[:, 4], dur[:, 4] = s_top, i_end * self.r1, i_end * self.rd, 1800.0
        s0[:, 5], cur[:, 5] = s_top, i_d                   # CC C/5 discharge to V_MIN
        v1[:, 5], vd[:, 5] = self._decay(v1[:, 4], vd[:, 4], 1800.0)
        s_end = _soc_at(V_MIN - i_d * self.r_slow)
        dur[:, 5] = tick(np.maximum(s_top - s_end, 0.0) * self.c_rev * 3600.0 / -i_d)
        self.q_dis = -i_d * dur[:, 5] / 3600.0
        s_end = s_top - self.q_dis / self.c_rev
        s0[:, 6], dur[:, 6] = s_end, 1800.0
        v1[:, 6], vd[:, 6] = self._cc_end(v1[:, 5], vd[:, 5], i_d, dur[:, 5])
        s0[:, 7], cur[:, 7] = s_end, i_c                   # C/5 charge to 50 % of the discharge capacity
        v1[:, 7], vd[:, 7] = self._decay(v1[:, 6], vd[:, 6], 1800.0)
        dur[:, 7] = tick(0.5 * self.q_dis * 3600.0 / i_c)
        s_mid = s_end + i_c * dur[:, 7] / 3600.0 / self.c_rev
        s0[:, 8], dur[:, 8] = s_mid, 3600.0
        v1[:, 8], vd[:, 8] = self._cc_end(v1[:, 7], vd[:, 7], i_c, dur[:, 7])
        s0[:, 9], cur[:, 9], dur[:, 9] = s_mid, i_p, PULSE_S
        v1[:, 9], vd[:, 9] = self._decay(v1[:, 8], vd[:, 8], 3600.0)
        s0[:, 10], dur[:, 10] = s_mid + i_p * PULSE_S / 3600.0 / self.c_rev, 600.0
        v1[:, 10], vd[:, 10] = self._cc_end(v1[:, 9], vd[:, 9], i_p, PULSE_S)
        s0[:, 11], dur[:, 11] = s0[:, 10], AGING_S
        v1[:, 11], vd[:, 11] = self._decay(v1[:, 10], vd[:, 10], 600.0)
        self.dur, self.cur, self.q0, self.s0, self.v1, self.vd = dur, cur, q0, s0, v1, vd
        self.bounds = tick(np.concatenate([np.zeros((n, 1)), np.cumsum(dur, axis=1)], axis=1))
        # self-heating I²R (first order, τ 10 min); in CV the step's first current sets the level; the
        # slow diffusion branch only heats in steps long enough to build its overpotential
        r_heat = (self.r0 + self.r1)[:, None] + self.rd[:, None] * np.minimum(1.0, dur / TAUD_S)
        self.th_ss = R_TH_K_PER_W * cur ** 2 * r_heat
        self.th0 = np.zeros((n, NSEG))
        for k in range(NSEG - 1):
            self.th0[:, k + 1] = self.th_ss[:, k] + (self.th0[:, k] - self.th_ss[:, k]) * np.exp(-dur[:, k] / TAU_TH_S)

    def _s_first(self, q):
        """Reversible SOC after charging q (Ah) on the first charge (SEI takes its share first)."""
        q_irr = self.q_irr if np.ndim(q) == 1 else self.q_irr[:, None]
        c_rev = self.c_rev if np.ndim(q) == 1 else self.c_rev[:, None]
        return np.maximum(q - q_irr * (1.0 - np.exp(-q / q_irr)), 0.0) / c_rev

    def _v_first_ocv(self, q):
        c_ch = self.c_ch if np.ndim(q) == 1 else self.c_ch[:, None]
        return _ocv_table(self._s_first(q)) - V_FRESH_DROP * np.exp(-q / (Q_FRESH_FRAC * c_ch))

    def _solve_cc_charge(self, i_c, q_from):
        """Charge (Ah) at which the steady CC voltage reaches V_MAX: bisection over all cells at once."""
        lo, hi = np.asarray(q_from, dtype=float).copy(), 1.3 * self.c_ch
        target = V_MAX - i_c * self.r_slow
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = self._v_first_ocv(mid) >= target
            hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
        return 0.5 * (lo + hi)

    def _decay(self, v1, vd, dt):
        return v1 * np.exp(-dt / TAU1_S), vd * np.exp(-dt / TAUD_S)

    def _cc_end(self, v1, vd, i, dt):
        e1, ed = np.exp(-dt / TAU1_S), np.exp(-dt / TAUD_S)
        return i * self.r1 + (v1 - i * self.r1) * e1, i * self.rd + (vd - i * self.rd) * ed

    # --- evaluation at arbitrary times (pure function of cell and time) ---

    def true_state(self, idx: np.ndarray, t: np.ndarray) -> dict:
        """Noise-free voltage (V), true current (A), step throughput (Ah) and segment at (cell idx, t s)."""
        idx, t = np.asarray(idx, dtype=np.int64), np.asarray(t, dtype=float)
        b = self.bounds[idx]
        seg = np.clip(np.sum(t[:, None] >= b[:, :NSEG], axis=1) - 1, 0, NSEG - 1)
        dt = np.clip(t - b[np.arange(len(t)), seg], 0.0, None)
        g = (idx, seg)
        i_set, s0, v1_0, vd_0 = self.cur[g], self.s0[g], self.v1[g], self.vd[g]
        r0, r1, rd = self.r0[idx], self.r1[idx], self.rd[idx]
        mode = np.array([m for _, m, _, _ in SEGMENTS])[seg]
        volt, curr, cap = np.zeros(len(t)), np.zeros(len(t)), np.zeros(len(t))
        # constant current (and rest, i = 0): s linear in time, RC branches relax towards i*R
        e1, ed = np.exp(-dt / TAU1_S), np.exp(-dt / TAUD_S)
        s = s0 + i_set * dt / 3600.0 / self.c_rev[idx]
        cc = mode != CV
        i_cc = np.where(mode == REST, 0.0, i_set)
        over = i_cc * r0 + i_cc * r1 + (v1_0 - i_cc * r1) * e1 + i_cc * rd + (vd_0 - i_cc * rd) * ed
        volt[cc] = _ocv_table(s[cc]) + over[cc]
        curr[cc], cap[cc] = i_cc[cc], np.abs(i_cc[cc]) * dt[cc] / 3600.0
        first = seg <= FIRST_CHARGE_SEGS[-1]   # fresh cell and first CC charge follow the SEI curve
        q = np.where(seg == 0, 0.0, self.q0[g] + i_set * dt / 3600.0)
        volt[first] = self._v_first_ocv_idx(idx[first], q[first]) + over[first]
        cv = mode == CV
        tau = self.tau_cv[idx[cv]]
        curr[cv] = i_set[cv] * np.exp(-dt[cv] / tau)
        cap[cv] = i_set[cv] * tau * (1.0 - np.exp(-dt[cv] / tau)) / 3600.0
        volt[cv] = V_MAX
        aging = seg == AGING_SEG
        volt[aging] += (RELAX_MV * np.exp(-dt[aging] / RELAX_TAU_S) - RELAX_MV
                        - self.k_true[idx[aging]] * dt[aging] / 86400.0) * 1e-3
        heat = self.th_ss[g] + (self.th0[g] - self.th_ss[g]) * np.exp(-dt / TAU_TH_S)
        return {"voltage": volt, "current": curr, "capacity": cap, "segment": seg, "heat": heat}

    def _v_first_ocv_idx(self, idx, q):
        s = np.maximum(q - self.q_irr[idx] * (1.0 - np.exp(-q / self.q_irr[idx])), 0.0) / self.c_rev[idx]
        return _ocv_table(s) - V_FRESH_DROP * np.exp(-q / (Q_FRESH_FRAC * self.c_ch[idx]))

    def measured(self, idx: np.ndarray, t: np.ndarray) -> dict:
        """What the channel logs at (cell idx, t s since formation_start): noise, resolution, gain."""
        idx, t = np.asarray(idx, dtype=np.int64), np.asarray(t, dtype=float)
        st = self.true_state(idx, t)
        k = np.round(t * 10.0).astype(np.int64)          # noise index: 0.1 s ticks since the start
        key = self.keys[idx]
        gain = self.gain[idx]
        aging = st["segment"] == AGING_SEG
        v = quantise(st["voltage"] + V_NOISE * normal(key, k), V_RES)
        v[aging] = quantise(st["voltage"][aging] + OCV_NOISE * normal(key[aging], k[aging]), OCV_RES)
        i_true = st["current"]
        i = quantise(i_true * gain + np.where(i_true != 0, I_NOISE * normal(key ^ np.uint64(0xA5A5), k), 0.0), I_RES)
        temp_base = np.where(st["segment"] == AGING_SEG, T_AGING_C, self.t_cell[idx])
        heat = np.where(st["segment"] == AGING_SEG, 0.0, st["heat"])
        temp = quantise(temp_base + heat + T_NOISE * normal(key ^ np.uint64(0x5A5A), k), T_RES)
        return {"voltage": v, "current": i, "temperature": temp, "capacity": st["capacity"] * gain,
                "segment": st["segment"]}

    def sample_times(self, j: int) -> np.ndarray:
        """The logger's sample times (s) for cell j: per-segment intervals plus each step's last point."""
        parts = []
        for k, (_, _, _, step) in enumerate(SEGMENTS):
            a, b = self.bounds[j, k], self.bounds[j, k + 1]
            grid = a + np.arange(0.0, max(b - a, 0.0), step)
            if k == 1:   # log the fresh-cell voltage rise finely (the cycler's ΔV trigger)
                grid = np.union1d(grid, a + np.arange(0.0, min(1200.0, b - a), 10.0))
            if k == AGING_SEG:  # OCV tester: hourly readings from the start of aging
                grid = a + np.arange(0.0, b - a, step)
            end = np.round((b - 0.1) * 10.0) / 10.0
            parts.append(np.unique(np.round(np.append(grid[grid < end], end) * 10.0) / 10.0))
        return np.concatenate(parts)


# --- public API --------------------------------------------------------------------------------


def on_channel_hours(cells: pd.DataFrame, seed: int) -> pd.Series:
    """Hours each cell occupies its channel (rest .. DCIR pulse .. rest; aging is off-channel).

    >>> import pandas as pd
    >>> c = pd.DataFrame({"cell_id": ["C1"], "rack": [1], "channel": [1], "formation_start":
    ...     [pd.Timestamp("2026-01-05", tz="UTC")], "areal_mass": [20.0], "moisture_exposure": [0.0],
    ...     "weld_resistance": [45.0]})
    >>> 17 < float(on_channel_hours(c, seed=0).iloc[0]) < 22
    True
    """
    m = _Cells(cells, seed, None)
    return pd.Series(m.bounds[:, ON_CHANNEL_SEGMENTS] / 3600.0, index=m.df.cell_id.to_numpy(),
                     name="on_channel_hours")


def formation_results(cells: pd.DataFrame, *, seed: int, events: pd.DataFrame | None = None) -> xr.Dataset:
    """First-cycle formation results per cell (what the cycler and the OCV tester report).

    Inputs (``cells`` columns): cell_id, rack, channel, formation_start (UTC), areal_mass (mg/cm²,
    cathode per side), moisture_exposure (ppmv·h above baseline), weld_resistance (µΩ).
    Returns a Dataset with dim ``cell``: charge_capacity, discharge_capacity (Ah), coulombic_efficiency
    (1), first_cycle_loss (Ah), dcir (mΩ, Δt = 1 s at 50 % SOC, 3C discharge pulse), ocv (V, aging
    day 1), k_value (mV/day, days 1..3), temperature (degC), grade. The values are the ones the
    curves of :func:`formation_curves` carry (same samples), so analysing the curves gives them back.

    >>> import pandas as pd
    >>> c = pd.DataFrame({"cell_id": ["A", "B"], "rack": [1, 1], "channel": [1, 2],
    ...     "formation_start": pd.Timestamp("2026-01-05", tz="UTC"), "areal_mass": [20.0, 22.0],
    ...     "moisture_exposure": 0.0, "weld_resistance": 45.0})
    >>> r = formation_results(c, seed=1)
    >>> bool(r.discharge_capacity[1] > r.discharge_capacity[0])
    True
    """
    from workbench.models.formation import grade

    m = _Cells(cells, seed, events)
    n = len(m.df)
    idx = np.arange(n)
    t_pulse = m.bounds[:, PULSE_SEG]
    before = m.measured(idx, np.round((t_pulse - 0.1) * 10) / 10)   # last sample of the rest before the pulse
    after = m.measured(idx, t_pulse + DCIR_DT_S)
    dcir = (after["voltage"] - before["voltage"]) / (after["current"] - before["current"]) * 1e3
    t_age = m.bounds[:, AGING_SEG]
    ocv1 = m.measured(idx, t_age + K_T1_S)["voltage"]
    ocv2 = m.measured(idx, t_age + K_T2_S)["voltage"]
    k_value = (ocv1 - ocv2) * 1e3 / ((K_T2_S - K_T1_S) / 86400.0)
    # capacities as the cycler logs them: each step's throughput at its last logged sample (end - 0.1 s)
    step_end = lambda k: m.measured(idx, np.round((m.bounds[:, k + 1] - 0.1) * 10) / 10)["capacity"]  # noqa: E731
    ch = step_end(1) + step_end(2) + step_end(3)
    dis = step_end(5)
    start = m.df.formation_start.dt.tz_localize(None).to_numpy()
    coords = {
        "cell": np.arange(n),
        "cell_id": ("cell", m.df.cell_id.astype(str).to_numpy()),
        "rack": ("cell", m.df.rack.to_numpy()),
        "channel": ("cell", m.df.channel.to_numpy()),
        "formation_start": ("cell", start),
        "formation_end": ("cell", start + (m.bounds[:, ON_CHANNEL_SEGMENTS] * 1e9).astype("timedelta64[ns]")),
    }
    ds = xr.Dataset(
        {
            "charge_capacity": ("cell", ch, {"units": "A*h", "long_name": "first charge capacity (CC-CV to 4.2 V)"}),
            "discharge_capacity": ("cell", dis, {"units": "A*h", "long_name": "first discharge capacity (C/5 to 3.0 V)"}),
            "coulombic_efficiency": ("cell", dis / ch, {"units": "1", "definition": "discharge / charge, cycle 1"}),
            "first_cycle_loss": ("cell", ch - dis, {"units": "A*h"}),
            "dcir": ("cell", dcir, {"units": "mohm", "dt_s": DCIR_DT_S, "soc_percent": 50.0,
                                    "current_A": -PULSE_C_RATE * NOMINAL_CAPACITY_AH,
                                    "definition": "(V(t0+dt) - V_before) / (I(t0+dt) - I_before)"}),
            "ocv": ("cell", ocv1, {"units": "V", "long_name": "OCV after 1 day of aging"}),
            "k_value": ("cell", k_value, {"units": "mV/day", "definition": "(OCV day 1 - OCV day 3) / 2 day"}),
            "temperature": ("cell", m.t_cell, {"units": "degC", "long_name": "formation temperature"}),
        },
        coords=coords,
        attrs={"source": "workbench.simulate.formation", "seed": int(seed), "station": "formation"},
    )
    ds["grade"] = grade(ds)
    return ds


def _curve_dataset(m: _Cells, j: int) -> xr.Dataset:
    t = m.sample_times(j)
    meas = m.measured(np.full(len(t), j), t)
    seg = meas["segment"]
    names = np.array([s[0] for s in SEGMENTS], dtype=object)[seg].astype(str)
    cycle = np.array([s[2] for s in SEGMENTS])[seg]
    start = m.df.formation_start.iloc[j]
    return xr.Dataset(
        {
            "time": ("sample", t, {"units": "s", "long_name": "time since formation_start"}),
            "voltage": ("sample", meas["voltage"], {"units": "V"}),
            "current": ("sample", meas["current"], {"units": "A", "sign": "positive = charge"}),
            "capacity": ("sample", meas["capacity"], {"units": "A*h", "long_name": "throughput within the step"}),
            "temperature": ("sample", meas["temperature"], {"units": "degC"}),
            "step": ("sample", seg + 1, {"units": "1"}),
            "cycle": ("sample", cycle, {"units": "1"}),
            "step_name": ("sample", names),
        },
        attrs={"cell_id": str(m.df.cell_id.iloc[j]), "rack": int(m.df.rack.iloc[j]),
               "channel": int(m.df.channel.iloc[j]), "start": start.isoformat(),
               "on_channel_s": float(m.bounds[j, ON_CHANNEL_SEGMENTS]),
               "nominal_capacity_Ah": NOMINAL_CAPACITY_AH, "source": "workbench.simulate.formation"},
    )


def formation_curves(cells: pd.DataFrame, *, seed: int, events: pd.DataFrame | None = None) -> dict:
    """Per-cell formation curves: a dict cell_id -> Dataset (dim ``sample``; lengths differ per cell).

    Variables: time (s since formation_start, attrs["start"] ISO UTC), voltage (V), current (A,
    positive = charge), capacity (Ah, throughput within the step), temperature (degC), step, cycle,
    step_name. About 2,000 samples per cell; ask for the cells you need, not 100,000.

    >>> import pandas as pd
    >>> c = pd.DataFrame({"cell_id": ["A"], "rack": [1], "channel": [1], "formation_start":
    ...     [pd.Timestamp("2026-01-05", tz="UTC")], "areal_mass": [20.0], "moisture_exposure": [0.0],
    ...     "weld_resistance": [45.0]})
    >>> cur = formation_curves(c, seed=0)["A"]
    >>> float(cur.voltage.max()) <= 4.2 + 1e-3
    True
    """
    m = _Cells(cells, seed, events)
    return {str(m.df.cell_id.iloc[j]): _curve_dataset(m, j) for j in range(len(m.df))}


def _to_ns(times) -> np.ndarray:
    """UTC nanoseconds of a time or times (tz-naive values are taken as UTC)."""
    return pd.to_datetime(pd.Index(np.atleast_1d(times)), utc=True).as_unit("ns").asi8


class FormationLine:
    """The formation racks as live channels: values of the cell on a channel at any time.

    ``channel_values(rack, channel, times)`` is a pure function of (seed, cells, events, time) and
    equals the samples of :func:`formation_curves` at the same times. A channel with no cell on it
    reads voltage NaN, current 0, capacity NaN and the rack temperature.

    >>> import pandas as pd
    >>> c = pd.DataFrame({"cell_id": ["A"], "rack": [1], "channel": [1], "formation_start":
    ...     [pd.Timestamp("2026-01-05T06:00", tz="UTC")], "areal_mass": [20.0],
    ...     "moisture_exposure": [0.0], "weld_resistance": [45.0]})
    >>> line = FormationLine(c, seed=0)
    >>> v = line.channel_values(1, 1, [pd.Timestamp("2026-01-05T08:00", tz="UTC")])["voltage"]
    >>> 3.0 < float(v[0]) < 4.2
    True
    """

    def __init__(self, cells: pd.DataFrame, seed: int, events: pd.DataFrame | None = None):
        self._m = _Cells(cells, seed, events)
        df = self._m.df
        end_ns = self._m.start_ns + (self._m.bounds[:, ON_CHANNEL_SEGMENTS] * 1e9).astype(np.int64)
        self._by_channel = {}
        for (rack, ch), grp in df.groupby(["rack", "channel"]):
            order = grp.index.to_numpy()[np.argsort(self._m.start_ns[grp.index.to_numpy()], kind="stable")]
            starts, ends = self._m.start_ns[order], end_ns[order]
            clash = np.flatnonzero(starts[1:] < ends[:-1])
            if clash.size:   # the operator unloads the earlier cell: the later one owns the channel
                a, b = df.cell_id[order[clash[0]]], df.cell_id[order[clash[0] + 1]]
                warnings.warn(f"formation rack{rack}/ch{ch:02d}: cell {b!r} starts before cell {a!r} leaves the "
                              f"channel; the channel shows {b!r} from its start (space formation_start by >= "
                              f"on_channel_hours(cells, seed))", stacklevel=2)
                ends = np.minimum(ends, np.r_[starts[1:], np.iinfo(np.int64).max])
            self._by_channel[(int(rack), int(ch))] = (order, starts, ends)

    def paths(self, site: str = "plant1") -> list[str]:
        """Live tag paths served by this line (voltage, current, temperature per channel)."""
        return [f"{site}/formation/rack{r}/ch{c:02d}/{v}" for (r, c) in sorted(self._by_channel)
                for v in ("voltage", "current", "temperature")]

    def rack_temperature(self, rack: int) -> float:
        """Ambient temperature (degC) of a rack (the idle-channel reading)."""
        return float(_rack_temperature(self._m.seed, np.array([int(rack)]))[0])

    @property
    def channels(self) -> list[tuple[int, int]]:
        """The (rack, channel) pairs that have cells, sorted: the order of :meth:`values_at`."""
        return sorted(self._by_channel)

    def _cell_at(self, rack: int, channel: int, t_ns: np.ndarray):
        """(on-channel mask, cell index) of the cell on a channel at each time."""
        entry = self._by_channel.get((int(rack), int(channel)))
        if entry is None:
            return np.zeros(len(t_ns), bool), np.zeros(len(t_ns), np.int64)
        order, starts, ends = entry
        pos = np.searchsorted(starts, t_ns, side="right") - 1
        on = (pos >= 0) & (t_ns < ends[np.clip(pos, 0, None)])
        return on, order[np.clip(pos, 0, None)]

    def _fill(self, pairs_on, idx, t_ns, temps) -> dict:
        n = len(t_ns)
        out = {"voltage": np.full(n, np.nan), "current": np.zeros(n), "temperature": temps.astype(float),
               "capacity": np.full(n, np.nan)}
        if pairs_on.any():
            sel = idx[pairs_on]
            meas = self._m.measured(sel, (t_ns[pairs_on] - self._m.start_ns[sel]) / 1e9)
            for k in out:
                out[k][pairs_on] = meas[k]
        return out

    def channel_values(self, rack: int, channel: int, times) -> dict:
        """Voltage (V), current (A), temperature (degC), capacity (Ah) on a channel at ``times`` (UTC)."""
        t_ns = _to_ns(times)
        on, idx = self._cell_at(rack, channel, t_ns)
        return self._fill(on, idx, t_ns, np.full(len(t_ns), self.rack_temperature(rack)))

    def values_at(self, time) -> dict:
        """All channels at one time (UTC): dict of arrays in :attr:`channels` order (one measure call).

        >>> import pandas as pd
        >>> c = pd.DataFrame({"cell_id": ["A", "B"], "rack": [1, 1], "channel": [1, 2], "formation_start":
        ...     pd.Timestamp("2026-01-05T06:00", tz="UTC"), "areal_mass": 17.2, "moisture_exposure": 0.0,
        ...     "weld_resistance": 90.0})
        >>> line = FormationLine(c, seed=0)
        >>> t = pd.Timestamp("2026-01-05T09:00", tz="UTC")
        >>> bool(line.values_at(t)["voltage"][1] == line.channel_values(1, 2, [t])["voltage"][0])
        True
        """
        t_ns = _to_ns(time)
        if t_ns.size != 1:
            raise ValueError(f"values_at takes one time; use channel_values for a series (got {t_ns.size})")
        pairs = self.channels
        cells = [self._cell_at(r, c, t_ns) for r, c in pairs]
        on = np.array([o[0] for o, _ in cells], dtype=bool)
        idx = np.array([i[0] for _, i in cells], dtype=np.int64)
        temps = _rack_temperature(self._m.seed, np.array([r for r, _ in pairs], dtype=np.int64))
        return self._fill(on, idx, np.repeat(t_ns, len(pairs)), temps)

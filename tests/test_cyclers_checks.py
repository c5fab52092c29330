"""Doubts raised on real files, each settled at its cause: a BioLogic record with impedance sweeps (CE 0 and a
split cycle came from the sweeps' alternating current), ... Each principle is also tested on generated data."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench.formation as fm

BIOLOGIC = Path("cyclers") / "cellpy" / "biol.mpr"


def _real(shared_data, rel):
    path = shared_data / rel
    if not path.is_file():
        pytest.fail(f"reference file {path} is missing; restore ../shared/data (see its NOTICE.md)", pytrace=False)
    return path


# --- alternating current (impedance sweeps) is neither charge nor discharge ---------------------------------


def test_biologic_delithiation_with_impedance_sweeps_is_one_half_cycle(shared_data):
    """biol.mpr: a Si/C half cell delithiated at C/20 in four steps with a GEIS sweep between them; no
    discharge at all. The sweeps' alternating current had made a 'discharge' of 0 Ah (CE 0) and a second cycle."""
    from galvani import BioLogic
    path = _real(shared_data, BIOLOGIC)
    data = pd.DataFrame(BioLogic.MPRfile(str(path)).data)
    q = data["(Q-Qo)/mA.h"].to_numpy() / 1000                   # net charge since the start, Ah
    assert (data["I/mA"] < 0).any() and q.min() >= -1e-12       # negative currents, yet the charge never falls
    s = fm.cycle_summary(fm.read_curve(path))
    assert s.sizes["cycle"] == 1
    assert float(s.charge_capacity.sel(cycle=1)) == pytest.approx(q[-1] - q[0], rel=5e-3)
    assert np.isnan(s.discharge_capacity.sel(cycle=1)) and np.isnan(s.coulombic_efficiency.sel(cycle=1))
    checks = fm.read_curve(path).attrs["checks"]
    assert any(c.startswith("impedance:") and "Ns [2, 9]" in c for c in checks), checks


def _with_sweep(first_sweep: bool):
    """CC charge, a 'sweep' step of alternating current (net 25 % of the gross, more samples negative), CC charge
    again, then a CC discharge; optionally a sweep before everything (its first sample negative)."""
    parts = []
    sweep = np.tile([-0.1, -0.1, 0.08, -0.1, 0.1, -0.06], 10)       # median < 0, |net| / gross = 0.23
    if first_sweep:
        parts.append(sweep)
    parts += [np.full(60, 1.0), sweep, np.full(60, 1.0), np.full(120, -1.0)]
    i = np.concatenate(parts)
    step = np.concatenate([np.full(len(p), k + 1) for k, p in enumerate(parts)])
    t = np.arange(len(i)) * 60.0
    return fm.curve_from_arrays(time=t, voltage=np.full(len(i), 3.7), current=i, step=step)


@pytest.mark.parametrize("first_sweep", [False, True])
def test_an_alternating_current_step_does_not_split_or_open_a_cycle(first_sweep):
    s = fm.cycle_summary(_with_sweep(first_sweep))
    assert s.attrs["first_direction"] == "charge"
    assert s.sizes["cycle"] == 1
    assert float(s.coulombic_efficiency.sel(cycle=1)) == pytest.approx(1.0, rel=0.05)
    assert (fm.step_table(_with_sweep(first_sweep)).direction.value_counts()["rest"]) == (2 if first_sweep else 1)

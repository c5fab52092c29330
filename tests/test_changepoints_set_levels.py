"""Set levels (a setpoint, recipe or mode tag exported with the sensors) are cut at every move, while the
series that only look like them are not (``policy.held_levels``): a noisy value sampled slower and held in
between (a lab result, a slow scan), at regular or random times, and a ramp through ADC codes. The slow
signal read through a few codes is ``test_changepoints_defaults.py``'s."""

import numpy as np
import pytest
import xarray as xr

from workbench.changepoints import detect, f1_score
from workbench.changepoints.policy import HELD_REASON

N_SERIES = 30


def _detect(rows):
    return detect(xr.DataArray(np.asarray(rows, dtype=float), dims=("series", "time")))


def _staircase(rng, n, states, dwell):
    """A setpoint moved at random times (holds 10 + geometric, mean ``dwell``) among ``states`` levels drawn
    from a 5-unit grid, no noise: (values, true change points)."""
    levels = rng.choice(np.arange(100.0, 200.0, 5.0), states, replace=False)
    x = np.empty(n)
    truth = []
    i, cur = 0, int(rng.integers(states))
    while i < n:
        hold = int(rng.geometric(1.0 / dwell)) + 10
        x[i : i + hold] = levels[cur]
        i += hold
        if i < n:
            cur = int(rng.choice([s for s in range(states) if s != cur]))
            truth.append(i)
    return x, np.asarray(truth)


def test_a_setpoint_staircase_is_cut_at_every_move():
    # session 12's default read the moves as noise: F1 0.05 (0.5 changes found of 18 per series)
    rng = np.random.default_rng(5)
    cases = [_staircase(rng, 2000, 5, 100) for _ in range(N_SERIES)]
    flags = _detect([x for x, _ in cases])
    f1 = np.mean([f1_score(t, np.flatnonzero(f), margin=5) for (_, t), f in zip(cases, flags.values)])
    print(f"\nrandom 5-level setpoint staircases, 2,000 samples, ~18 moves: F1 {f1:.2f}")
    assert f1 >= 0.85
    assert HELD_REASON in flags.attrs["model_reason"]


def _sampled(rng, n, values, holds):
    """``values`` held for ``holds`` samples each (a slower measurement forward-filled), cut to n."""
    return np.repeat(values, holds)[:n]


@pytest.mark.parametrize("kind", ["normal read to 0.5 sd, random times", "normal read to 1 sd, random times",
                                  "normal read to 2 sd, random times", "5 codes uniform, every 50 +- 20 samples",
                                  "ramp through 20 codes"])
def test_what_only_looks_like_set_levels_is_not_cut(kind):
    # a value held between slower samples: its moves are noise at the slower rate. Without the rules on the
    # levels (few, jumping) a first version cut every move of the random-time cases (0 % clean, ~100-170
    # changes a series); without the rule on the holds, the regular uniform case would be cut
    rng = np.random.default_rng(12)
    n = 10_000
    rows = []
    for _ in range(N_SERIES):
        if kind.startswith("normal"):
            q = float(kind.split("to ")[1].split(" sd")[0])
            holds = 5 + rng.geometric(1 / 45, n // 20)
            rows.append(_sampled(rng, n, np.round(rng.standard_normal(holds.size) / q) * q, holds))
        elif kind.startswith("5 codes"):
            holds = 50 + rng.integers(-20, 21, n // 30)
            rows.append(_sampled(rng, n, rng.integers(0, 5, holds.size) * 0.8, holds))
        else:
            rows.append(np.round(np.arange(n) / n * 20.0))
    counts = _detect(rows).values.sum(axis=1)
    print(f"\n{kind}: {np.mean(counts == 0):.0%} of series without a change ({counts.mean():.1f} changes a series)")
    assert np.mean(counts == 0) >= 0.95

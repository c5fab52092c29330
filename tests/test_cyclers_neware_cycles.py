"""Neware binaries: the cycle number workbench builds (vectorised) is NewareNDA's software cycle number.

`read_neware_binary` asks NewareNDA for the raw records (``software_cycle_number=False``: its cycle loop reads
the Status column one record at a time, 60 % of the read time of a 250k-record .ndax) and numbers cycles
itself; these tests hold that numbering to NewareNDA's own function, on every real Neware binary and on
generated status sequences with every status kind the rule looks at."""

import numpy as np
import pandas as pd
import pytest

from workbench.cyclers.neware import cycle_numbers

STATUSES = ["Rest", "CC_Chg", "CCCV_Chg", "CP_Chg", "CV_Chg", "CC_DChg", "CCCV_DChg", "CP_DChg", "CR_DChg", "SIM",
            "Pause", "Control"]


def _reference(status):
    from NewareNDA.utils import _generate_cycle_number
    return np.asarray(_generate_cycle_number(pd.DataFrame({"Status": pd.Series(status, dtype=object)})))


def test_matches_newarenda_on_every_real_binary(shared_data):
    import NewareNDA
    files = sorted((shared_data / "cyclers").rglob("*.nda*"))
    if len(files) < 4:
        pytest.fail(f"expected the Neware .nda/.ndax development files under {shared_data / 'cyclers'}; restore "
                    f"../shared/data (see its NOTICE.md)", pytrace=False)
    for path in files:
        df = NewareNDA.read(str(path), software_cycle_number=False, log_level="WARNING")
        np.testing.assert_array_equal(cycle_numbers(df["Status"]), _reference(df["Status"]), err_msg=str(path))


@pytest.mark.parametrize("seed", range(40))
def test_matches_newarenda_on_generated_steps(seed):
    rng = np.random.default_rng(seed)
    steps = rng.choice(STATUSES, size=int(rng.integers(1, 60)))
    status = np.repeat(steps, rng.integers(1, 6, size=len(steps)))      # steps of 1..5 records
    got = cycle_numbers(pd.Series(status).astype("category"))
    np.testing.assert_array_equal(got, _reference(status))


def test_cycles_start_at_a_charge_after_a_discharge():
    status = ["Rest", "CC_Chg", "CV_Chg", "Rest", "CC_DChg", "Rest", "CC_Chg", "CC_DChg", "CC_Chg", "CC_Chg"]
    assert cycle_numbers(status).tolist() == [1, 1, 1, 1, 1, 1, 2, 2, 3, 3]

"""`workbench formation DIR`: a folder of real cycler files read in parallel, summarised per cell, written to
the history store, and the files it could not read listed with the reason."""

import argparse
import shutil

import numpy as np
import pytest

import workbench.formation as fm
from workbench import history

FILES = ["cycling/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv",
         "formation/novonix_formation_ch01_first_charge.csv", "cyclers/newarenda/TestFile.nda",
         "cyclers/newarenda/new_nda_file.nda"]
SINTEF_NAME = FILES[0].rsplit("/", 1)[-1]


@pytest.fixture
def rack(tmp_path, shared_data):
    folder = tmp_path / "rack"
    (folder / "sub").mkdir(parents=True)
    for rel in FILES:
        src = shared_data / rel
        if not src.is_file():
            pytest.fail(f"reference file {src} is missing; restore ../shared/data (see its NOTICE.md)", pytrace=False)
        shutil.copy(src, folder / "sub" / src.name)
    (folder / "notes.txt").write_text("operator notes, not a cycler file\n")
    # a Neware binary cut inside its header: a cycler file that cannot be read, refused with its reason
    (folder / "cut.nda").write_bytes((shared_data / FILES[2]).read_bytes()[:600])
    return folder


def test_cli_reads_a_folder_writes_the_store_and_lists_failures(rack, tmp_path, capsys):
    from apps.cli import formation as cli

    parser = argparse.ArgumentParser(prog="workbench")
    cli.register(parser.add_subparsers(dest="command"))
    store = tmp_path / "store"
    args = parser.parse_args(["formation", str(rack), "--workers", "2", "--store", str(store), "--no-progress"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "4 cycler file(s) read, 1 refused, 1 other file(s) skipped" in out
    # a file that is no cycler export is listed apart from files refused, by its name in the folder
    assert "skipped, not a cycler export this reader knows (1): notes.txt" in out
    refused = out.split("refused (1), each with what to do:\n", 1)[1].splitlines()[0]
    assert refused.startswith("  cut.nda: ") and refused.count("cut.nda") == 1    # the path is said once
    assert "not in the record" in out and " nan " not in out                       # no bare NaN in the table
    assert "INFO" not in out
    assert "repaired: duplicate_rows" in out                          # TestFile.nda repeats one record
    ds = history.open(store, "formation")
    ids = {fm.read_curve(p).attrs["cell_id"] for p in (rack / "sub").iterdir()}
    assert set(ds.cell_id.values.tolist()) == ids and len(ids) == 4
    # the stored numbers are those of the single-file reader
    for path in (rack / "sub").iterdir():
        curve = fm.read_curve(path)
        s = fm.cycle_summary(curve)
        row = ds.where(ds.cell_id == curve.attrs["cell_id"], drop=True)
        both = (s.charge_capacity.notnull() & s.discharge_capacity.notnull()).values
        s1 = s.isel(cycle=int(np.argmax(both))) if both.any() else s.isel(cycle=0)
        np.testing.assert_allclose(row.charge_capacity.values, [float(s1.charge_capacity)], rtol=1e-12)
        assert row.charge_capacity.attrs["units"] == "A*h"


def test_strict_folder_lists_files_needing_repairs(rack):
    res = fm_read_folder(rack, strict=True)
    refused = dict(zip(res.failures.file.map(lambda f: f.rsplit("/", 1)[-1]), res.failures.error))
    assert "duplicate_rows" in refused["TestFile.nda"] and "same_time_at_step_change" in refused["new_nda_file.nda"]
    assert all(e.startswith("FormationRepairError") for k, e in refused.items() if k.endswith(".nda") and k != "cut.nda")
    assert "NewareNDA could not read it" in refused["cut.nda"]
    unknown = dict(zip(res.failures.file.map(lambda f: f.rsplit("/", 1)[-1]), res.failures.unknown))
    assert unknown["notes.txt"] and not unknown["cut.nda"] and not unknown["TestFile.nda"]
    # the SINTEF file's temperature column is 0 throughout (no sensor): marking it missing is a repair too
    assert "temperature_not_measured" in refused[SINTEF_NAME]
    assert len(res.results) == 1


def fm_read_folder(folder, **kw):
    from workbench.cyclers import read_folder
    return read_folder(folder, workers=1, progress=False, **kw)

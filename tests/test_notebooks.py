"""The notebooks in notebooks/: committed without outputs, and executed on a real kernel.

Each notebook ends in findings asserted against the virtual line's truth table (time of a break within a
tolerance, the right lane / lot / channel), so executing it is the test: a regression in the library raises
inside the notebook and fails here with the cell that failed.

No time limit is asserted (a loaded machine is not a failing notebook): CELL_TIMEOUT_S and the pytest timeout
only end a hung kernel. All five take about 2-3 minutes together on 2 cores (hours of history, not weeks).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SHARED_DATA = ROOT.parent / "shared" / "data"
CELL_TIMEOUT_S = 300       # per cell (nbclient): a hung kernel, not a slow one

EXPECTED = ["01_coating_weight_drift", "02_dry_room_dew_point", "03_tab_weld_resistance",
            "04_formation_curves", "05_trial_analysis"]


def test_the_five_investigations_are_there():
    assert [p.stem for p in NOTEBOOKS][: len(EXPECTED)] == EXPECTED


def _dirty_cells(path: Path) -> list[int]:
    """Indices of code cells that carry outputs or an execution count."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    dirty = _dirty_cells(path)
    assert not dirty, (f"{path.name}: cells {dirty} carry outputs or execution counts; strip them before "
                       f"committing (e.g. `jupyter nbconvert --clear-output --inplace {path.relative_to(ROOT)}`)")
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernel must be python3"


def test_output_check_catches_a_dirty_notebook(tmp_path):
    """The check can fail: a cell with an output and an execution count is reported, a clean one is not."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1"), nbformat.v4.new_code_cell("2 + 2")])
    nb.cells[1].execution_count = 1
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "4"}, execution_count=1)]
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, path)
    assert _dirty_cells(path) == [1]
    nb.cells[1].outputs = []
    nbformat.write(nb, path)
    assert _dirty_cells(path) == [1]   # an execution count alone is also a leftover of a run


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_and_its_findings_hold(path, monkeypatch, tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if not SHARED_DATA.is_dir():
        pytest.fail(f"reference data not found at {SHARED_DATA} (the formation notebook reads it)", pytrace=False)
    # the kernel inherits this environment: the shared data and the checkout first on the path
    monkeypatch.setenv("LINE_WORKBENCH_SHARED_DATA", str(SHARED_DATA))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    monkeypatch.setenv("TMPDIR", str(tmp_path))   # the notebooks' temporary stores land here
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{str(exc)[-4000:]}", pytrace=False)
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 2, f"{path.name}: expected its figures in the outputs, found {images}"

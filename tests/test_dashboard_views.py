"""The station views shared by notebook and dashboard (apps.views), displayed in a real notebook kernel.

A small history store is filled from the virtual line; a generated notebook opens each station's history
with ``workbench.history.open_station`` and displays the station's view inline, as an engineer would.
Each view must render (Panel's notebook output, no error) and show that station's panels, computed from
the Dataset: the welding view's control limits are the approved limit set of the store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebook

REPO = Path(__file__).resolve().parents[1]
WELD = "plant1/assembly/weld1/welder/weld_resistance"
# (view class, station, text the view's output must hold)
VIEWS = [("CoatingView", "coating", "Cpk per lane"), ("DryRoomView", "dryroom", "frost point"),
         ("WeldingView", "welding", "Individuals (I) chart"), ("FormationView", "formation", "Cell voltage")]


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from workbench.history.fill import fill_from_virtual_line
    from workbench.spc import limitsets

    root = tmp_path_factory.mktemp("views") / "store"
    fill_from_virtual_line(root, days=3 / 24, seed=0)
    fitted = limitsets.fit_limit_set(root, WELD, start="2026-01-05 06:00", end="2026-01-05 07:30", by="anna",
                                     why="views test baseline")
    saved = limitsets.save(root, fitted)
    limitsets.approve(root, saved.id, by="ben")
    return root, saved.id


def notebook(store: Path):
    import nbformat

    cells = [nbformat.v4.new_code_cell(
        "import panel as pn\npn.extension()\nfrom workbench import history\nimport apps.views as views\n"
        f"store = {str(store)!r}")]
    for cls, station, _ in VIEWS:
        cells.append(nbformat.v4.new_code_cell(
            f"ds = history.open_station(store, {station!r})\nviews.{cls}(data=ds, store=store, window_hours=3)"))
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                           "display_name": "Python 3"}})


def test_each_station_view_displays_inline_in_a_notebook_kernel(small_store):
    from nbclient import NotebookClient

    store, limit_id = small_store
    nb = notebook(store)
    env_path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = env_path  # the kernel imports this checkout's apps and workbench
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    for (cls, station, text), cell in zip(VIEWS, nb.cells[1:]):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{cls}: {errors[0].ename}: {errors[0].evalue}"
        shown = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert shown, f"{cls}: the view displayed nothing"
        data = shown[0]["data"]
        assert "application/vnd.holoviews_exec.v0+json" in data, f"{cls}: not a Panel output: {list(data)}"
        payload = json.dumps(data)
        assert text in payload, f"{cls}: {text!r} not in the view's output"
        if station == "welding":
            assert limit_id in payload, "the welding view does not show the approved limit set of the store"


def test_a_view_needs_data_or_the_live_store():
    from apps.views import CoatingView, view_for_kind

    with pytest.raises(ValueError, match="give data="):
        CoatingView()
    with pytest.raises(ValueError, match="no station view for kind 'mixing'"):
        view_for_kind("mixing")


def test_proposing_limits_saves_a_set_that_is_not_in_force(small_store):
    """Recomputing limits is an explicit act, and even then nothing changes until someone approves."""
    from apps.views import WeldingView
    from workbench import history
    from workbench.spc import limitsets

    store, limit_id = small_store
    view = WeldingView(data=history.open_station(store, "welding"), store=str(store), window_hours=3)
    view.__panel__()
    page = view.panels
    assert 'data-role="limit-set"' in page.limit_note.object and limit_id in page.limit_note.object
    proposed = page._propose()
    assert proposed is not None and not proposed.approved and proposed.version == 2
    assert proposed.id in page.proposal.object and "NOT in force" in page.proposal.object
    assert limitsets.in_force(store, WELD).id == limit_id  # the approved set stays in force


def test_each_station_page_passes_bokehs_document_checks(small_store):
    """The dashboard server skips Bokeh's per-session document validation (apps/setup.py: it ran on the
    event loop before every page went out); the checks run here instead, on every station page drawn with
    data: no error and no warning (a plot without renderers, a bad column reference, an empty layout...)."""
    import panel as pn
    from bokeh.core.validation import check_integrity
    from bokeh.document import Document

    from apps import views
    from workbench import history

    store, _ = small_store
    for cls, station, _ in VIEWS:
        view = getattr(views, cls)(data=history.open_station(store, station), store=str(store), window_hours=3)
        view.panels.update()
        doc = Document()
        doc.add_root(pn.panel(view).get_root(doc))
        issues = check_integrity(doc.models)
        assert not issues.error and not issues.warning, f"{cls}: {issues.error + issues.warning}"

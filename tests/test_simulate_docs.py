"""The simulator's and schema's examples run, and every public callable is documented."""

from __future__ import annotations

import doctest
import importlib
import inspect
import warnings

import pytest

MODULES = ["workbench.schema", "workbench.simulate", "workbench.simulate.line", "workbench.simulate.live",
           "workbench.simulate.coating", "workbench.simulate.dryroom", "workbench.simulate.welding",
           "workbench.simulate.genealogy", "workbench.simulate.events", "workbench.simulate.dynamics",
           "workbench.simulate.rng", "workbench.simulate.samples", "workbench.simulate._hardy",
           "workbench.simulate._ids", "workbench.simulate.instruments", "workbench.badvalues"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    mod = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


def test_public_api_has_docstrings_and_examples():
    from workbench import schema, simulate
    from workbench.simulate import LiveLine, VirtualLine

    with_example = [simulate.virtual_line, VirtualLine.history, VirtualLine.write, VirtualLine.tag_samples,
                    VirtualLine.tags, LiveLine.read, LiveLine.now, LiveLine.tags, simulate.Event,
                    schema.validate, schema.describe]
    for obj in with_example:
        assert ">>>" in (inspect.getdoc(obj) or ""), obj
    for cls in (VirtualLine, LiveLine):
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_"):
                assert inspect.getdoc(member), f"{cls.__name__}.{name}"

"""Every public module of the library runs its docstring examples, and every public callable has one."""

import doctest
import importlib
import inspect

import pytest

# (module, also check that every public callable has an example)
MODULES = [
    ("workbench.models.dewpoint", False), ("workbench.dewpoint", True),
    ("workbench.models.coating", False), ("workbench.models.coating_accessor", False), ("workbench.coating", True),
    ("workbench.models.weld", False), ("workbench.weld", True),
    ("workbench.trace", True), ("workbench.units", False), ("workbench.strict_yaml", False),
    ("workbench.spc.limitsets", False), ("data_adapters.discover", False),
]


@pytest.mark.parametrize("name", [m for m, _ in MODULES])
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0, name


@pytest.mark.parametrize("name", [m for m, every in MODULES if every])
def test_every_public_callable_has_an_example(name):
    module = importlib.import_module(name)
    missing = []
    for attr in module.__all__:
        obj = getattr(module, attr)
        if not callable(obj) or (isinstance(obj, type) and issubclass(obj, Exception)):
            continue
        members = [(attr, obj)] + [(f"{attr}.{m}", f) for m, f in inspect.getmembers(obj, inspect.isfunction)
                                   if isinstance(obj, type) and not m.startswith("_")]
        missing += [n for n, f in members if ">>>" not in (inspect.getdoc(f) or "")]
    assert not missing, f"{name}: public callables without a docstring example: {missing}"

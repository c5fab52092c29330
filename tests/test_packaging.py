"""Packaging: one set of dependencies in pyproject.toml, constraints.txt and env.yml; the CLI lists its commands."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import lock  # noqa: E402


def test_every_direct_dependency_is_pinned_in_constraints():
    pins = lock.read_constraints()
    missing = [d for d in lock.direct_dependencies() if d not in pins]
    assert not missing, f"not pinned in constraints.txt (run scripts/lock.py): {missing}"


def test_env_yml_carries_the_same_set_and_versions():
    env = yaml.safe_load((ROOT / "env.yml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for p in dep["pip"]:
                name, version = p.split("==")
                pip[lock.normalise(name)] = version
        elif "=" in dep:
            name, version = dep.split("=", 1)
            conda[lock.normalise(name)] = version
    listed = {**conda, **pip}
    listed.pop("python", None)
    pins = lock.read_constraints()
    expected = {d: pins[d] for d in lock.direct_dependencies()}
    assert listed == expected, (
        f"env.yml and pyproject.toml/constraints.txt drifted apart (run scripts/lock.py): "
        f"only in env.yml {sorted(set(listed) - set(expected))}, "
        f"only in pyproject {sorted(set(expected) - set(listed))}, "
        f"version differs {sorted(k for k in listed if k in expected and listed[k] != expected[k])}"
    )


def test_declared_dependencies_include_the_required_set():
    deps = set(lock.direct_dependencies())
    for need in ["jupyterlab", "panel", "holoviews", "hvplot", "xarray", "dask", "pint", "pint-xarray",
                 "ruptures", "pytest"]:
        assert need in deps, need
    assert "dask[distributed]" in (ROOT / "pyproject.toml").read_text()


def test_cli_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "apps", "--help"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    for cmd in ["demo", "config"]:
        assert cmd in out, out

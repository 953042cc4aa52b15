"""What a plain `pip install cashbook` needs is declared: every third-party module the product imports comes
from a distribution in [project.dependencies] (directly or through a declared extra such as psycopg[pool]),
and test-only tools stay in the `test` extra. The slow wheel test proves the install end to end; this one
names the missing package in a second."""

from __future__ import annotations

import ast
import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("cashbook", "api", "assets", "pipelines")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _product_imports() -> dict[str, set[str]]:
    """Top-level module name → files importing it (absolute imports only; relative ones are our own)."""
    found: dict[str, set[str]] = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def _declared() -> set[str]:
    """Runtime distributions: each declared requirement plus what its requested extras pull in."""
    names: set[str] = set()
    for text in PYPROJECT["project"]["dependencies"]:
        req = Requirement(text)
        names.add(canonicalize_name(req.name))
        for extra in req.extras:
            for dep in md.requires(req.name) or []:
                sub = Requirement(dep)
                if sub.marker is not None and sub.marker.evaluate({"extra": extra}):
                    names.add(canonicalize_name(sub.name))
    return names


def test_every_third_party_import_is_a_declared_runtime_dependency() -> None:
    imports = _product_imports()
    assert {"dagster", "fastapi", "duckdb", "aiohttp"} <= set(imports)
    declared = _declared()
    owners = md.packages_distributions()
    undeclared = {}
    for module, files in sorted(imports.items()):
        if module in sys.stdlib_module_names or module in PRODUCT or module == "__future__":
            continue
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        assert dists, f"{module} (imported by {sorted(files)}) is not installed at all"
        if not dists & declared:
            undeclared[module] = (sorted(dists), sorted(files))
    assert not undeclared, f"imported but not in [project.dependencies]: {undeclared}"


def test_test_tools_stay_in_the_test_extra() -> None:
    runtime = {canonicalize_name(Requirement(t).name) for t in PYPROJECT["project"]["dependencies"]}
    test_extra = {canonicalize_name(Requirement(t).name) for t in PYPROJECT["project"]["optional-dependencies"]["test"]}
    assert {"pytest", "localstripe", "ruff"} <= test_extra
    assert not runtime & test_extra
    assert not {"pytest", "localstripe", "ruff"} & set(_product_imports())


def test_every_declared_dependency_is_pinned_in_constraints() -> None:
    pins = {canonicalize_name(line.split("==")[0]) for line in (ROOT / "constraints.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    for text in [*PYPROJECT["project"]["dependencies"], *PYPROJECT["project"]["optional-dependencies"]["test"]]:
        assert canonicalize_name(Requirement(text).name) in pins, text


def test_data_folders_come_from_the_checkout_here_and_a_missing_one_is_named() -> None:
    from cashbook import paths

    assert paths.SQL_DIR == ROOT / "sql" and paths.EXPECTATIONS_DIR == ROOT / "expectations"
    assert (paths.SQL_DIR / "postgres").is_dir() and any(paths.EXPECTATIONS_DIR.glob("*.json"))
    with pytest.raises(RuntimeError, match=r"no_such_dir/ folder is missing: looked in .*_data.* and "):
        paths._data_dir("no_such_dir")

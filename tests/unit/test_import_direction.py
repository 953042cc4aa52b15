"""Imports run one way (DESIGN.md): pipelines -> assets -> cashbook, api -> cashbook.

`cashbook` imports none of the three, except its CLI (`cashbook/cli/`), the top of the graph, which starts the
pipeline and the API; `assets` never imports `pipelines` or `api`; `api` never imports `pipelines` or `assets`;
`pipelines` never imports `api`. Every import counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cashbook", "assets", "pipelines", "api")
FORBIDDEN = {
    "cashbook": {"assets", "pipelines", "api"},
    "assets": {"pipelines", "api"},
    "api": {"pipelines", "assets"},
    "pipelines": {"api"},
}


def _imported_packages(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def _violations(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("cashbook", "cli"):
            continue  # the top of the graph
        for top, line in sorted(_imported_packages(path)):
            if top in FORBIDDEN[package]:
                bad.append(f"{rel}:{line} imports {top}")
    return bad


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package: str) -> None:
    assert _violations(package) == []


def test_the_check_sees_a_backward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pipelines.definitions import defs\n    return defs\n")
    assert _imported_packages(module) == {("pipelines", 2)}

"""The repository stands on its own: no code or test reaches outside the checkout (a user's clone has nothing
beside it), and every fixture file is accounted for in tests/fixtures/README.md (what it is modelled on)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from tests.fixture_files import FIXTURES_DIR

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".cashbook", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache", "dist"}
ROOT_NAMES = {"ROOT", "REPO", "REPO_ROOT", "PROJECT_ROOT"}
# a relative path that climbs out (`../x`), not an ellipsis in prose (`.../x`)
CLIMB = re.compile(r"(?<![.\w])\.\.[/\\]")


def _code_files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        if set(path.relative_to(ROOT).parts) & SKIP_DIRS or not path.is_file():
            continue
        if path.suffix in {".py", ".toml", ".yaml", ".yml", ".cfg", ".sh", ".lua"} or path.name in {"Makefile", "run"}:
            out.append(path)
    return out


def _escapes_in_python(path: Path) -> list[str]:
    """String literals starting with `../`, `Path(__file__).parents[k]` above the checkout, `ROOT.parent`."""
    depth = len(path.relative_to(ROOT).parts) - 1  # parents[depth] is the checkout itself
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(("../", "..\\")):
            found.append(f"line {node.lineno}: string {node.value[:40]!r}")
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
              and node.value.attr == "parents" and isinstance(node.slice, ast.Constant)
              and isinstance(node.slice.value, int) and node.slice.value > depth):
            found.append(f"line {node.lineno}: parents[{node.slice.value}] climbs above the checkout")
        elif (isinstance(node, ast.Attribute) and node.attr == "parent" and isinstance(node.value, ast.Name)
              and node.value.id in ROOT_NAMES):
            found.append(f"line {node.lineno}: {node.value.id}.parent is outside the checkout")
    return found


def test_nothing_reaches_outside_the_checkout() -> None:
    files = _code_files()
    assert any(p.name == "conftest.py" for p in files) and any(p.name == "paths.py" for p in files)
    hits = []
    for path in files:
        if path == Path(__file__).resolve():  # its own patterns and sample, proven by the test below
            continue
        rel = path.relative_to(ROOT)
        if path.suffix == ".py":
            hits += [f"{rel}: {h}" for h in _escapes_in_python(path)]
        else:
            hits += [f"{rel}: line {n}: {line.strip()[:60]}"
                     for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1) if CLIMB.search(line)]
    assert not hits, hits


def test_the_escape_check_sees_what_it_must() -> None:
    """The check above would be silent on a broken parser: prove it flags each form on a sample."""
    sample = ROOT / "tests" / "unit" / "_escape_sample.py"
    sample.write_text('from pathlib import Path\nA = Path(__file__).resolve().parents[3]\n'
                      'B = "../elsewhere/data.json"\nROOT = Path(".")\nC = ROOT.parent\nD = ".../fine"\n')
    try:
        found = _escapes_in_python(sample)
    finally:
        sample.unlink()
    assert [f.split(":")[0] for f in found] == ["line 2", "line 3", "line 5"], found
    assert CLIMB.search('cat ../x') and not CLIMB.search("see .../x")


def test_every_fixture_is_documented_and_parses() -> None:
    readme = (FIXTURES_DIR / "README.md").read_text()
    files = [p for p in FIXTURES_DIR.rglob("*") if p.is_file() and p.name != "README.md"]
    assert len(files) >= 11
    for path in files:
        assert path.name in readme, f"{path.relative_to(FIXTURES_DIR)} is not described in tests/fixtures/README.md"
        if path.suffix == ".json":
            json.loads(path.read_text())

"""The repository stands on its own: no code or test reads the steering folder beside the checkout, and every
fixture file is accounted for in tests/fixtures/README.md (what it is modelled on)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixture_files import FIXTURES_DIR

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".cashbook", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache", "dist"}
# Spelled in pieces so this file does not match itself.
OUTSIDE = ["..", "/shared"], ["/work", "/shared"], ['"shared"', " / "], ["'shared'", " / "]


def _code_files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        if set(path.relative_to(ROOT).parts) & SKIP_DIRS or not path.is_file():
            continue
        if path.suffix in {".py", ".toml", ".yaml", ".yml", ".cfg", ".sh", ".lua"} or path.name in {"Makefile", "run"}:
            out.append(path)
    return out


def test_nothing_reads_the_folder_beside_the_checkout() -> None:
    files = _code_files()
    assert any(p.name == "conftest.py" for p in files) and any(p.name == "paths.py" for p in files)
    needles = ["".join(parts) for parts in OUTSIDE]
    hits = [f"{p.relative_to(ROOT)}: {n}" for p in files if p != Path(__file__).resolve()
            for n in needles if n in p.read_text(errors="replace")]
    assert not hits, hits


def test_every_fixture_is_documented_and_parses() -> None:
    readme = (FIXTURES_DIR / "README.md").read_text()
    files = [p for p in FIXTURES_DIR.rglob("*") if p.is_file() and p.name != "README.md"]
    assert len(files) >= 11
    for path in files:
        assert path.name in readme, f"{path.relative_to(FIXTURES_DIR)} is not described in tests/fixtures/README.md"
        if path.suffix == ".json":
            json.loads(path.read_text())

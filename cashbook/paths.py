"""Where the project's non-Python files live, in a checkout and in an installed wheel.

The fixed layout keeps `sql/` and `expectations/` at the repository's top level (DESIGN.md), but a wheel
installs only packages. The wheel therefore carries copies under `cashbook/_data/` (hatch `force-include`
in pyproject.toml); a checkout (editable install, tests) reads the top-level folders directly. Every module
that reads SQL or a suite goes through here, so no code depends on the working directory.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_data"


def _data_dir(name: str) -> Path:
    bundled = _BUNDLED / name
    if bundled.is_dir():
        return bundled
    return _PACKAGE.parent / name


SQL_DIR = _data_dir("sql")
EXPECTATIONS_DIR = _data_dir("expectations")

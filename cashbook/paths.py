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
    """The wheel's copy first: an installed package must not pick up a stray top-level folder in site-packages."""
    bundled, checkout = _BUNDLED / name, _PACKAGE.parent / name
    for candidate in (bundled, checkout):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"cashbook's {name}/ folder is missing: looked in {bundled} (installed wheel) and "
                       f"{checkout} (source checkout); reinstall cashbook or run from a complete checkout")


SQL_DIR = _data_dir("sql")
EXPECTATIONS_DIR = _data_dir("expectations")

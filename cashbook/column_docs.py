"""What each mart column means, read from docs/metrics.md's "Column reference" (the one place it is written).

The analyst docs are the source: the pipeline shows these descriptions in Dagster's column schema, and
tests/integration/test_analyst_queries.py uses this same parser to prove the reference lists exactly the `marts`
schema's tables and columns, so the UI and the docs cannot drift apart. A wheel carries a copy of the page
(`cashbook/_data/docs/metrics.md`, pyproject.toml); without it descriptions are empty, never an error: they are
documentation, not data.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
CANDIDATES = (_PACKAGE / "_data" / "docs" / "metrics.md", _PACKAGE.parent / "docs" / "metrics.md")
HEADING = "## Column reference"
_ROW = re.compile(r"^\| `([a-z_0-9]+)` \| ([^|]*) \| (.*?) \|\s*$", re.M)


def metrics_doc() -> Path | None:
    """docs/metrics.md from the wheel's copy or the checkout, whichever exists (wheel first, like cashbook.paths)."""
    return next((p for p in CANDIDATES if p.is_file()), None)


def section(text: str, heading: str) -> str:
    """The Markdown from `heading` to the next `## ` heading."""
    start = text.index(heading)
    nxt = text.find("\n## ", start + len(heading))
    return text[start: nxt if nxt != -1 else len(text)]


def _parse_rows(text: str, cell: int) -> dict[str, dict[str, str]]:
    """`schema.table` -> {column: the row's cell `cell` (1 type, 2 meaning)}, in document order."""
    tables: dict[str, dict[str, str]] = {}
    for part in re.split(r"\n### ", section(text, HEADING))[1:]:
        name = part.splitlines()[0].strip()
        tables[name] = {row[0]: row[cell].strip() for row in _ROW.findall(part)}
    return tables


def parse_column_reference(text: str) -> dict[str, dict[str, str]]:
    """`schema.table` -> {column: meaning}, from a page holding a "## Column reference"."""
    return _parse_rows(text, 2)


def parse_column_types(text: str) -> dict[str, dict[str, str]]:
    """`schema.table` -> {column: documented DuckDB type}, like `parse_column_reference`."""
    return _parse_rows(text, 1)


@functools.cache
def _doc_text() -> str:
    path = metrics_doc()
    return path.read_text() if path else f"{HEADING}\n"


def column_descriptions() -> dict[str, dict[str, str]]:
    """The documented columns of every mart (empty when the page is not installed)."""
    return parse_column_reference(_doc_text())


def column_types() -> dict[str, dict[str, str]]:
    """The documented type of every mart column (empty when the page is not installed)."""
    return parse_column_types(_doc_text())

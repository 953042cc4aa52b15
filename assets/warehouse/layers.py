"""Which tables each SQL layer creates, read from the files so the asset graph follows the SQL."""

import re
from pathlib import Path

from cashbook.warehouse import sql_files

_CREATE = re.compile(r"CREATE\s+OR\s+REPLACE\s+(?:TABLE|VIEW)\s+(\w+)\.(\w+)", re.I)


def created_tables(layer: str, schema: str | None = None) -> list[tuple[str, str]]:
    """(schema, table) pairs the layer's files create, in file order, optionally filtered by schema."""
    out: list[tuple[str, str]] = []
    for path in sql_files(layer):
        for sch, table in _CREATE.findall(Path(path).read_text()):
            pair = (sch.lower(), table.lower())
            if (schema is None or pair[0] == schema) and pair not in out:
                out.append(pair)
    return out

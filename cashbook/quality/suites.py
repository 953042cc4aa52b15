"""Suite files: one minimal JSON per table, `{"name", "meta", "expectations": [{type, kwargs, meta}]}`.

The JSON is exactly what `gx.ExpectationSuite(**spec)` accepts, plus two cashbook keys inside `meta`
(GX keeps meta opaque): `row_id_columns` name the failing rows in check results, and
`derived_columns` adds per-row values GX cannot compute itself (e.g. `net + fee`, so the
balance-transaction identity `amount = net + fee` is a plain column-pair expectation).
Each expectation's `meta.severity` is `error` (blocking) or `warn` (reported, never blocking: e.g.
a status value Stripe added later is kept and flagged, not a reason to stop the pipeline).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from cashbook.paths import EXPECTATIONS_DIR

SEVERITIES = ("error", "warn")
DERIVED_OPS = ("sum", "epoch_seconds")


class SuiteError(ValueError):
    """A suite file is missing or malformed; the message names the file."""


def suite_names() -> list[str]:
    return sorted(p.stem for p in EXPECTATIONS_DIR.glob("*.json"))


@lru_cache(maxsize=64)
def _read(path: Path, mtime_ns: int) -> dict[str, Any]:
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("expectations"), list):
        raise SuiteError(f"{path}: must be an object with an `expectations` list")
    if spec.get("name") != path.stem:
        raise SuiteError(f"{path}: `name` must be {path.stem!r} (the file name), got {spec.get('name')!r}")
    meta = spec.get("meta") or {}
    if not meta.get("row_id_columns"):
        raise SuiteError(f"{path}: meta.row_id_columns must name the columns that identify a row")
    for name, op in (meta.get("derived_columns") or {}).items():
        if not isinstance(op, dict) or len(op) != 1 or next(iter(op)) not in DERIVED_OPS:
            raise SuiteError(f"{path}: derived column {name!r} must be one of {DERIVED_OPS}")
    for i, exp in enumerate(spec["expectations"]):
        if not isinstance(exp, dict) or "type" not in exp or not isinstance(exp.get("kwargs"), dict):
            raise SuiteError(f"{path}: expectation #{i} needs `type` and `kwargs`")
        severity = (exp.get("meta") or {}).get("severity", "error")
        if severity not in SEVERITIES:
            raise SuiteError(f"{path}: expectation #{i} has severity {severity!r}, expected one of {SEVERITIES}")
    return spec


def load_suite_spec(table: str) -> dict[str, Any]:
    """The suite spec for a table (cached until the file changes); a fresh copy each call."""
    path = EXPECTATIONS_DIR / f"{table}.json"
    if not path.exists():
        raise SuiteError(f"{path}: no expectation suite for table {table!r}")
    return json.loads(json.dumps(_read(path, path.stat().st_mtime_ns)))

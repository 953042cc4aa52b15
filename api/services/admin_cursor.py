"""Opaque keyset cursors for the admin lists (issue 13): base64url of a JSON array of the last row's sort key.

Keyset, not offset: a list that grows while finance pages through it neither skips nor repeats rows.
A cursor that does not decode to the expected shape is a 400 `bad_cursor` (never a 500).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import orjson

from api.problems import Problem


def encode(*values: Any) -> str:
    out = [v.isoformat() if isinstance(v, dt.datetime) else v for v in values]
    return base64.urlsafe_b64encode(orjson.dumps(out)).decode().rstrip("=")


def decode(cursor: str | None, *types: type) -> tuple[Any, ...] | None:
    """The values of a cursor this API returned, converted to `types` (datetime, int, str)."""
    if not cursor:
        return None
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(types):
            raise ValueError("shape")
        values: list[Any] = []
        for value, kind in zip(raw, types, strict=True):
            if kind is dt.datetime:
                parsed = dt.datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    raise ValueError("naive")
                values.append(parsed)
            elif kind is int:
                if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
                    raise ValueError("int")
                values.append(value)
            else:
                if not isinstance(value, str) or not value.isprintable():
                    raise ValueError("str")
                values.append(value)
        return tuple(values)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise Problem(400, "bad_cursor", "cursor is not one this API returned") from None


def utc(row: dict[str, Any]) -> dict[str, Any]:
    """Timestamps in UTC whatever the session's TimeZone (the API answers in UTC ISO 8601)."""
    return {k: v.astimezone(dt.UTC) if isinstance(v, dt.datetime) else v for k, v in row.items()}

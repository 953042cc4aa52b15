"""Connections to the one Postgres database cashbook uses (embedded or DATABASE_URL)."""

from __future__ import annotations

from functools import lru_cache

import psycopg

from cashbook.settings import Settings, get_settings


def database_url(settings: Settings | None = None) -> str:
    """DATABASE_URL when set, else the embedded server (started on first use)."""
    s = settings or get_settings()
    if s.database_url:
        return s.database_url.replace("postgresql+psycopg://", "postgresql://")
    return _embedded_url_for(str(s.pg_dir))


@lru_cache(maxsize=4)
def _embedded_url_for(pg_dir: str) -> str:
    from cashbook.db.embedded import embedded_url

    return embedded_url(pg_dir)


def connect(settings: Settings | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(database_url(settings), autocommit=autocommit)

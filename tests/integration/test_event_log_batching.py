"""The batching event log writes exactly the rows stock dagster-postgres writes, and the UI's per-partition
status (materialized, failed) is still computed from them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from cashbook.dagster_instance import write_instance_yaml
from cashbook.settings import load_settings
from tests.databases import fresh_database

PARTS = dg.DailyPartitionsDefinition(start_date="2025-03-01", timezone="UTC")
RANGE = {"dagster/asset_partition_range_start": "2025-03-01", "dagster/asset_partition_range_end": "2025-03-04"}
DAYS = ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"]


def _assets(fail: bool) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run(), key_prefix=["raw"])
    def probe(context):  # no annotation: the module uses postponed annotations
        if fail:
            raise dg.Failure("bad input")
        for day in context.partition_keys:
            context.add_asset_metadata({"dagster/row_count": int(day[-2:])}, partition_key=day)
        return dg.MaterializeResult()

    @dg.asset_check(asset=probe, blocking=True)
    def probe_ok():
        return dg.AssetCheckResult(passed=True)

    return [probe, probe_ok]


def _instance(tmp_path: Path, pg_url: str, name: str) -> dg.DagsterInstance:
    settings = load_settings(cashbook_home=tmp_path / name, database_url=pg_url)
    write_instance_yaml(settings, pg_url)
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def _rows(pg_url: str, run_id: str) -> list[tuple]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(
            "SELECT dagster_event_type, asset_key, partition, step_key FROM event_logs "
            "WHERE run_id = %s AND dagster_event_type LIKE 'ASSET%%' ORDER BY 1, 2, 3", (run_id,)).fetchall()


def test_instance_uses_batching_storage_and_turns_batches_on(tmp_path: Path, pg_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.event_log import BatchingPostgresEventLogStorage

    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    instance = _instance(tmp_path, pg_url, "a")
    try:
        assert isinstance(instance.event_log_storage, BatchingPostgresEventLogStorage)
        assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == "1000"
    finally:
        instance.dispose()


def _stock_instance(tmp_path: Path, url: str) -> dg.DagsterInstance:
    """Dagster's own `storage: postgres` (stock PostgresEventLogStorage) on another database."""
    from cashbook.dagster_instance import sqlalchemy_url

    home = tmp_path / "stock"
    home.mkdir()
    (home / "dagster.yaml").write_text(f"storage:\n  postgres:\n    postgres_url: {sqlalchemy_url(url)}\n")
    return dg.DagsterInstance.from_config(str(home))


def _check_rows(pg_url: str, run_id: str) -> list[tuple]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(
            "SELECT asset_key, check_name, partition, execution_status FROM asset_check_executions "
            "WHERE run_id = %s ORDER BY 1, 2, 3", (run_id,)).fetchall()


@pytest.fixture()
def second_db(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url) as url:
        yield url


def test_same_rows_as_stock_storage_and_partition_status(tmp_path: Path, pg_url: str, second_db: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    instance = _instance(tmp_path, pg_url, "b")
    stock_instance = _stock_instance(tmp_path, second_db)
    try:
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "3")  # batches split mid-run too
        batched = dg.materialize(_assets(fail=False), instance=instance, tags=RANGE)
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")  # Dagster's default: one write per event
        stock = dg.materialize(_assets(fail=False), instance=stock_instance, tags=RANGE)
        assert batched.success and stock.success
        assert _rows(pg_url, batched.run_id) == _rows(second_db, stock.run_id)
        assert _check_rows(pg_url, batched.run_id) == _check_rows(second_db, stock.run_id)
        assert [r[2] for r in _check_rows(pg_url, batched.run_id) if r[2]] == DAYS
        planned = [r for r in _rows(pg_url, batched.run_id) if r[0] == "ASSET_MATERIALIZATION_PLANNED"]
        assert [r[2] for r in planned] == DAYS

        key = dg.AssetKey(["raw", "probe"])
        records = instance.fetch_materializations(key, limit=10).records
        latest = {r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value
                  for r in records if r.run_id == batched.run_id}
        assert latest == {d: int(d[-2:]) for d in DAYS}

        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
        failed = dg.materialize(_assets(fail=True), instance=instance, tags=RANGE, raise_on_error=False)
        assert not failed.success
        status = get_and_update_asset_status_cache_value(instance, key, PARTS)
        assert status is not None
        assert sorted(PARTS.deserialize_subset(status.serialized_failed_partition_subset).get_partition_keys()) == DAYS
    finally:
        instance.dispose()
        stock_instance.dispose()

"""The Dagster instance's event log: dagster-postgres, writing a run's per-partition events in batches.

A single-run backfill of daily partitions records two events per asset and day: `ASSET_MATERIALIZATION_PLANNED`
when the run is created (this is what lets the UI mark a day in progress, then failed if the run fails) and
`ASSET_MATERIALIZATION` when the day lands. A year of ten raw tables is 7,300 events. Stock dagster-postgres
opens a new connection for every event and stores planned events one at a time even when Dagster hands them
over as a batch, which cost the demo about 40 s before its raw run even started (docs/BENCHMARKS.md, profile).

This subclass changes only *how* those rows are written, never *which* rows: Dagster's own batch switch
(`DAGSTER_EVENT_BATCH_SIZE`, see `dagster._core.instance.utils`) buffers the events of one batch, and
`store_event_batch` inserts them in one statement, the same rows, ids and asset-key updates that
`store_event` would have written one by one. Per-partition status in the UI (materialized, in progress,
failed) is unchanged because every partition still has its own planned and materialization rows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster._core.events import AssetCheckEvaluationPlanned, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData, serialize_value
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

from pipelines.pool_claims import SerializedPoolClaims

# Events per batch write; Dagster's default (0) disables batching. 1,000 keeps one INSERT well under
# Postgres' parameter limit (7 columns per row) while a year of days is 4 statements per asset.
DEFAULT_EVENT_BATCH_SIZE = "1000"

_PLANNED = DagsterEventType.ASSET_MATERIALIZATION_PLANNED


def pooled_engine(engine: Any, postgres_url: str, token_provider: Any) -> Any:
    """The storage's engine with connections kept open (stock dagster-postgres connects for every event).

    A run's process writes a few hundred events and index rows one statement at a time: 877 new connections,
    3.2 s of the demo's warehouse run on a slow machine (issue 15 item 1). Dagster's webserver already does
    this (`optimize_for_webserver`, pool_size 1); the same settings here, for every process that loads the
    instance, with a second pooled connection for the advisory lock a pool claim holds while its statements run
    (`pipelines.pool_claims`): with one, each claim and free opened a new connection, 25-30 ms each on a slow
    machine. Connections are checked before use, so one the server dropped is replaced, not failed on.
    `engine` is the storage's SQLAlchemy engine (typed `Any`: SQLAlchemy reaches us only through dagster-postgres)."""
    kwargs: dict[str, Any] = {"isolation_level": "AUTOCOMMIT", "pool_size": 2, "max_overflow": 10,
                              "pool_recycle": 3600, "pool_pre_ping": True}
    options = engine.url.query.get("options")
    if options:
        kwargs["connect_args"] = {"options": options}
    engine.dispose()
    return create_pg_engine(postgres_url, token_provider, **kwargs)


def enable_event_batching() -> None:
    """Turn on Dagster's batch writes in this process unless the operator chose a size already.

    Dagster reads the variable at every event, and the process that creates a run (CLI, webserver,
    daemon) writes its planned events, so the storage turns it on wherever the instance is loaded.
    """
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", DEFAULT_EVENT_BATCH_SIZE)


class BatchingPostgresEventLogStorage(SerializedPoolClaims, PostgresEventLogStorage):
    """PostgresEventLogStorage whose batch writes also cover planned materializations, and whose pool claims
    are atomic across processes (`pipelines.pool_claims`)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None) -> None:
        super().__init__(postgres_url, should_autocreate_tables=should_autocreate_tables, inst_data=inst_data,
                         token_provider=token_provider)
        enable_event_batching()
        self._engine = pooled_engine(self._engine, self.postgres_url, token_provider)
        self._present: set[tuple[str, str]] = set()  # (table, column) seen to exist: a schema only grows

    def has_table(self, table_name: str) -> bool:
        if ("", table_name) in self._present:
            return True
        found = super().has_table(table_name)
        if found:
            self._present.add(("", table_name))
        return found

    def _has_asset_key_col_on_connection(self, conn: Any, column_name: str) -> bool:
        """Dagster inspects the asset-key table's columns for every asset event (8 ms each on a slow machine);
        a column that exists keeps existing, so only its presence is remembered (a migration adds, never drops)."""
        if ("asset_keys", column_name) in self._present:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._present.add(("asset_keys", column_name))
        return found

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
                          ) -> BatchingPostgresEventLogStorage:
        return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   token_provider=get_token_provider_from_config(config_value))

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        planned = [e for e in events if e.get_dagster_event().event_type == _PLANNED]
        if len(planned) < 2:
            super().store_event_batch(events)
            return
        self._store_planned_batch(planned)
        others = [e for e in events if e.get_dagster_event().event_type != _PLANNED]
        if others:  # planned asset checks, in the same batch: Dagster's own path
            super().store_event_batch(others)

    def _store_planned_batch(self, events: Sequence[EventLogEntry]) -> None:
        """What `store_event` does per planned event, as one INSERT and one index transaction.

        The asset-key row is updated with each asset's last event of the batch: the values `store_event`
        would have written last for that asset (the newest storage id and timestamp).
        """
        with self._connect() as conn:
            result = conn.execute(self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
            event_ids = [int(row[0]) for row in result.fetchall()]
        last: dict[str, tuple[EventLogEntry, int]] = {}
        for event, event_id in zip(events, event_ids, strict=True):
            key = event.get_dagster_event().asset_key
            if key is not None:
                last[key.to_string()] = (event, event_id)
        with self.index_transaction() as conn:
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in last.values():
                self._store_asset_event(conn, event, event_id)

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        """Stock rows (one per planned partition), with the event serialized once instead of once per row."""
        planned = event.get_dagster_event().event_specific_data
        assert isinstance(planned, AssetCheckEvaluationPlanned)
        keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        common = dict(
            asset_key=planned.asset_key.to_string(), check_name=planned.check_name, run_id=event.run_id,
            execution_status=AssetCheckExecutionRecordStatus.PLANNED.value, evaluation_event=serialize_value(event),
            evaluation_event_timestamp=self._event_insert_timestamp(event), evaluation_event_storage_id=event_id,
        )
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert(), [{**common, "partition": k} for k in keys])

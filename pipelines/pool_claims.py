"""Dagster pool claims made atomic across processes, so a pool of limit 1 never has two holders.

The `duckdb` pool (limit 1) is what keeps two runs from opening the warehouse build file at once. Stock
dagster-postgres decides a claim in several autocommit statements: count the slots and the assigned pending steps,
insert this step's pending row as assigned if a slot looked free, then take a free slot row with `SELECT … FOR UPDATE
SKIP LOCKED` and update it (the row lock ends with the SELECT's own transaction, and the UPDATE does not re-check
that the slot is still free). Two runs claiming in the same moment can both pass every step and both hold the one
slot: measured on Postgres 15 with four runs claiming at once, 19–20 of 50 rounds ended with more than one holder. Two
overlapping backfills then run DuckDB steps side by side, and one waits on the file lock (`cashbook.warehouse._open`
waits and logs it instead of failing, but the pool's promise is broken, and a long step can make the other wait out
its lock timeout).

This mixin runs every claim, free and limit change while holding one Postgres advisory lock, so they happen one at a
time across every process that loads the instance (webserver, daemon, run workers, CLI). A process that dies while
holding it loses its session, which releases the lock. The lock costs 4–7 ms per claim and free on a slow machine
(20–27 against 14–22 ms; docs/architecture.md), about 0.2 s for a warehouse run's 36 steps. Within a process, threads
first queue on a local lock that holds no connection, so at most one connection per process waits on or holds the
advisory lock, and the holder's statements always find another one in the storage's pool: before, every waiting
thread held a connection, and more waiters than the pool's overflow (10) starved the holder for the pool's timeout.
Reentrant within a thread: a wrapped method that calls another never waits for itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# A fixed advisory-lock id for "cashbook Dagster pools" (any bigint; only cashbook's instance takes it). A constant
# int, so it is written into the SQL; `exec_driver_sql` keeps SQLAlchemy an indirect dependency (via dagster-postgres).
POOL_LOCK_ID = 0x63617368_706F6F6C  # "cash" "pool"


class SerializedPoolClaims:
    """Mix in before a SQL event log storage class whose `_engine` reaches the instance's Postgres."""

    _engine: Any
    _pool_lock_depth: int

    def _process_lock(self) -> threading.RLock:
        """This storage's in-process lock (created on first use; `setdefault` is atomic)."""
        return self.__dict__.setdefault("_pool_process_lock", threading.RLock())

    @contextmanager
    def pools_locked(self) -> Iterator[None]:
        """Hold the pools' advisory lock (session-level, on its own connection) for the block."""
        with self._process_lock():
            if self.__dict__.get("_pool_lock_depth", 0):  # this thread holds it already (the RLock says so)
                self._pool_lock_depth += 1
                try:
                    yield
                finally:
                    self._pool_lock_depth -= 1
                return
            with self._engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({POOL_LOCK_ID})")
                self._pool_lock_depth = 1
                try:
                    yield
                finally:
                    self._pool_lock_depth = 0
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({POOL_LOCK_ID})")

    def claim_concurrency_slot(self, concurrency_key: str, run_id: str, step_key: str,
                               priority: int | None = None) -> Any:
        with self.pools_locked():
            return super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)  # type: ignore[misc]

    def free_concurrency_slot_for_step(self, run_id: str, step_key: str) -> None:
        with self.pools_locked():
            super().free_concurrency_slot_for_step(run_id, step_key)  # type: ignore[misc]

    def free_concurrency_slots_for_run(self, run_id: str) -> None:
        with self.pools_locked():
            super().free_concurrency_slots_for_run(run_id)  # type: ignore[misc]

    def set_concurrency_slots(self, concurrency_key: str, num: int) -> None:
        with self.pools_locked():
            super().set_concurrency_slots(concurrency_key, num)  # type: ignore[misc]

    def initialize_concurrency_limit_to_default(self, concurrency_key: str) -> bool:
        with self.pools_locked():
            return super().initialize_concurrency_limit_to_default(concurrency_key)  # type: ignore[misc]

    def delete_concurrency_limit(self, concurrency_key: str) -> None:
        with self.pools_locked():
            super().delete_concurrency_limit(concurrency_key)  # type: ignore[misc]

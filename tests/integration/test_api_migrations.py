"""Migration runner: applies in order once, is safe to rerun and to race, refuses edited history."""

from __future__ import annotations

import concurrent.futures as cf
from pathlib import Path

import psycopg
import pytest

from cashbook.db.migrate import MIGRATIONS_DIR, MigrationError, discover, migrate

LEDGER_COLUMNS = [("entry_id", "text", "NO"), ("occurred_at", "timestamp with time zone", "NO"),
                  ("type", "text", "NO"), ("amount", "bigint", "NO"), ("currency", "text", "NO"),
                  ("stripe_id", "text", "YES"), ("customer_id", "text", "YES"), ("description", "text", "YES"),
                  ("created_at", "timestamp with time zone", "NO")]


def test_migrate_twice_and_concurrently(pg_url: str) -> None:
    with cf.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: migrate(pg_url), range(4)))
    names = [m.name for m in discover()]
    assert sorted(results, key=len)[-1] == names  # exactly one racer applied everything
    assert sum(len(r) for r in results) == len(names)
    assert migrate(pg_url) == []
    with psycopg.connect(pg_url) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        cols = conn.execute("SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                            " WHERE table_name = 'ledger_entries' ORDER BY ordinal_position").fetchall()
        plans = conn.execute("SELECT count(*) FROM plans").fetchone()[0]
    assert versions == [m.version for m in discover()]
    assert cols == LEDGER_COLUMNS
    assert plans == 2  # seed applied once, not duplicated by the racers


def test_ledger_unique_per_type_and_stripe_id(pg_url: str) -> None:
    migrate(pg_url)
    with psycopg.connect(pg_url) as conn:
        ins = ("INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id)"
               " VALUES (%s, now(), %s, 100, 'usd', %s)")
        conn.execute(ins, ("a", "payment", "in_1"))
        conn.execute(ins, ("b", "refund", "in_1"))  # another type on the same object is fine
        conn.execute(ins, ("c", "manual_adjustment", None))
        conn.execute(ins, ("d", "manual_adjustment", None))  # manual rows without a Stripe id are allowed
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(ins, ("e", "payment", "in_1"))


def test_edited_or_misnamed_migration_is_refused(pg_url: str, tmp_path: Path) -> None:
    d = tmp_path / "mig"
    d.mkdir()
    (d / "0001_a.sql").write_text("CREATE TABLE t_a (x int);")
    assert migrate(pg_url, d) == ["0001_a"]
    (d / "0001_a.sql").write_text("CREATE TABLE t_a (x int, y int);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(pg_url, d)
    (d / "0001_a.sql").write_text("CREATE TABLE t_a (x int);")
    (d / "0002_b.sql").write_text("CREATE TABLE t_b (;")
    with pytest.raises(MigrationError, match=r"0002_b\.sql"):
        migrate(pg_url, d)
    (d / "0002_b.sql").unlink()
    (d / "2_bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_lower_snake"):
        discover(d)
    assert MIGRATIONS_DIR.name == "postgres"

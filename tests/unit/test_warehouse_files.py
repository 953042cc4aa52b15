"""The warehouse's two files: raw relations on a partial lake, and the atomically published analyst copy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cashbook.lake import write_partition
from cashbook.settings import load_settings
from cashbook.snapshot import SnapshotError, publish_snapshot
from cashbook.sources.registry import LAKE_TABLES
from cashbook.sources.streams import lake_schema
from cashbook.warehouse import build_path, connect, published_path, refresh_raw_views


def _bt_row(i: int) -> dict:
    t = int(dt.datetime(2025, 3, 4, 1, tzinfo=dt.UTC).timestamp()) + i
    return {"id": f"txn_{i}", "created": t, "available_on": t, "amount": 1000, "fee": 30, "net": 970,
            "currency": "usd", "exchange_rate": None, "type": "charge", "reporting_category": "charge",
            "source": f"ch_{i}", "status": "available", "description": None, "fee_details": None, "_raw": "{}"}


def _land_bts(lake: Path, n: int = 2) -> None:
    table = pa.Table.from_pylist([_bt_row(i) for i in range(n)], schema=lake_schema("stripe_balance_transactions"))
    write_partition(lake, "stripe_balance_transactions", dt.date(2025, 3, 4), table)


def test_missing_raw_tables_are_empty_views_typed_like_the_lake(tmp_path: Path) -> None:
    settings = load_settings(cashbook_home=tmp_path / "home")
    _land_bts(settings.lake_dir)
    con = connect(settings)
    try:
        kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                                 "WHERE table_schema = 'raw'").fetchall())
        assert kinds == dict.fromkeys(LAKE_TABLES, "VIEW")
        assert con.execute("SELECT count(*) FROM raw.stripe_balance_transactions").fetchall() == [(2,)]
        assert con.execute("SELECT count(*) FROM raw.ledger_entries").fetchall() == [(0,)]
        types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_schema = 'raw' AND table_name = 'ledger_entries'").fetchall())
        assert types["occurred_at"] == "TIMESTAMP WITH TIME ZONE"
        assert types["amount"] == "BIGINT" and types["entry_id"] == "VARCHAR" and types["day"] == "DATE"
    finally:
        con.close()


def test_a_table_left_by_an_older_build_is_replaced_when_data_lands(tmp_path: Path) -> None:
    """The reported failure: `Existing object "ledger_entries" is of type Table, trying to drop type View`."""
    settings = load_settings(cashbook_home=tmp_path / "home")
    path = build_path(settings)
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as old:  # what older versions left for a raw table with no partitions
        old.execute("CREATE SCHEMA raw")
        old.execute("CREATE TABLE raw.stripe_balance_transactions AS SELECT 1 AS id")
        old.execute("CREATE TABLE raw.ledger_entries AS SELECT 1 AS id")
    _land_bts(settings.lake_dir, 3)
    for _ in range(2):  # every step of a run reconnects
        con = connect(settings)
        try:
            assert con.execute("SELECT count(*) FROM raw.stripe_balance_transactions").fetchall() == [(3,)]
            assert con.execute("SELECT count(*) FROM raw.ledger_entries").fetchall() == [(0,)]
        finally:
            con.close()


def test_read_only_connect_without_a_build_says_nothing_was_built(tmp_path: Path) -> None:
    from cashbook.warehouse import WarehouseMissingError

    with pytest.raises(WarehouseMissingError, match="no warehouse has been built yet"):
        connect(load_settings(cashbook_home=tmp_path / "home"), read_only=True)


def _build_with(settings_home: Path, value: int) -> Path:
    settings = load_settings(cashbook_home=settings_home)
    con = connect(settings)
    try:
        con.execute("CREATE OR REPLACE TABLE marts.m AS SELECT ?::BIGINT AS v", [value])
        con.execute("CREATE OR REPLACE VIEW staging.s AS SELECT v * 2 AS w FROM marts.m")
    finally:
        con.close()
    return build_path(settings)


def test_published_copy_is_swapped_under_an_open_session(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = load_settings(cashbook_home=home)
    target = published_path(settings)
    info = publish_snapshot(_build_with(home, 1), target, run_id="run-1")
    assert info.path == target and info.tables >= 1 and info.views >= 1
    session = duckdb.connect(str(target), read_only=True)
    try:
        assert session.execute("SELECT v FROM marts.m").fetchall() == [(1,)]
        assert session.execute("SELECT w FROM staging.s").fetchall() == [(2,)]  # views copied, resolve locally
        assert session.execute("SELECT dagster_run_id FROM meta.snapshot").fetchall() == [("run-1",)]
        publish_snapshot(_build_with(home, 7), target, run_id="run-2")
        # the open session keeps the copy it opened: whole, unchanged, no lock error
        assert session.execute("SELECT v FROM marts.m").fetchall() == [(1,)]
    finally:
        session.close()
    with duckdb.connect(str(target), read_only=True) as fresh:
        assert fresh.execute("SELECT v FROM marts.m").fetchall() == [(7,)]
        assert fresh.execute("SELECT dagster_run_id FROM meta.snapshot").fetchall() == [("run-2",)]
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".warehouse")) == []


def test_a_failed_publish_leaves_the_published_copy_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = published_path(load_settings(cashbook_home=home))
    publish_snapshot(_build_with(home, 1), target)
    before = target.read_bytes()
    with pytest.raises(SnapshotError, match="no build file"):
        publish_snapshot(tmp_path / "nowhere.duckdb", target)
    assert target.read_bytes() == before
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_stray_wal_beside_the_published_file_is_set_aside(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = published_path(load_settings(cashbook_home=home))
    build = _build_with(home, 3)
    target.parent.mkdir(parents=True, exist_ok=True)
    wal = target.with_name(target.name + ".wal")
    wal.write_bytes(b"someone wrote into the published file")
    info = publish_snapshot(build, target)
    assert not wal.exists() and info.set_aside_wal is not None and info.set_aside_wal.exists()
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("SELECT v FROM marts.m").fetchall() == [(3,)]


def test_refresh_raw_views_is_idempotent_on_an_empty_lake(tmp_path: Path) -> None:
    con = duckdb.connect()
    for schema in ("raw",):
        con.execute(f"CREATE SCHEMA {schema}")
    refresh_raw_views(con, tmp_path / "lake")
    refresh_raw_views(con, tmp_path / "lake")
    assert con.execute("SELECT count(*) FROM raw.stripe_invoices").fetchall() == [(0,)]

"""The source logic behind the thin Dagster resources: Stripe readers (export / API) and the ledger window."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from assets.resources import LedgerSourceResource, PostgresResource, StripeSourceResource
from cashbook.db import database_url_for
from cashbook.replay.synth import write_synthetic_export
from cashbook.sources.errors import SourceError
from cashbook.sources.export import ExportReader, read_window
from cashbook.sources.ledger import read_ledger_window
from cashbook.sources.stripe_api import StripeApiSource
from tests.unit.test_ledger_csv import GOOD, write

START = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)


def test_the_resource_gives_one_reader_per_source(tmp_path: Path) -> None:
    write_synthetic_export(tmp_path, balance_transactions=50, days=2, start=START.date(), seed=3)
    reader = StripeSourceResource(export_dir=str(tmp_path)).reader()
    assert isinstance(reader, ExportReader)
    end = START + dt.timedelta(days=1)
    got = reader.read_range("balance_transactions", START, end)
    assert got.equals(read_window(tmp_path, "balance_transactions", int(START.timestamp()), int(end.timestamp())))
    assert 0 < got.num_rows < 50
    assert reader.metadata() == {"source": "export", "export_dir": str(tmp_path)}
    api = StripeSourceResource(source="api", api_key="sk_test_x", api_base="http://127.0.0.1:9").reader()
    assert isinstance(api, StripeApiSource)
    assert api.metadata()["source"] == "api" and api.metadata()["api/requests"] == 0


def test_ledger_window_cuts_merges_and_refuses_shared_ids(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", GOOD)
    lo, hi = dt.datetime(2026, 3, 11, tzinfo=dt.UTC), dt.datetime(2026, 3, 12, tzinfo=dt.UTC)
    table, info = read_ledger_window(lo, hi, source="csv", csv_patterns=[str(a)])
    assert table.column("entry_id").to_pylist() == ["L2", "L3", "L4"]  # L1 is 2026-03-10 21:59:59Z
    assert info == {"source": "csv", "rejected_rows": 0, "csv_files": str(a)}
    resource_table, _ = LedgerSourceResource(csv_patterns=[str(a)]).read_range_with_info(lo, hi)
    assert resource_table.equals(table)
    b = write(tmp_path / "b.csv", GOOD[1:2])
    with pytest.raises(SourceError, match="'L2' appears in more than one ledger source") as exc:
        read_ledger_window(lo, hi, source="csv", csv_patterns=[str(a), str(b)])
    assert exc.value.where == "csv:a.csv:3 and csv:b.csv:2"
    with pytest.raises(SourceError, match="needs the postgres resource"):
        read_ledger_window(lo, hi, source="postgres", csv_patterns=[])


def test_one_postgres_url_rule(tmp_path: Path) -> None:
    url = "postgresql://u@db.internal:5432/cb"
    assert database_url_for("postgresql+psycopg://u@db.internal:5432/cb", tmp_path) == url
    assert PostgresResource(database_url=url, cashbook_home=str(tmp_path)).url() == url

"""The stream registry is the one place stream, object, endpoint and lake table meet; everything else agrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from cashbook import lake
from cashbook.replay.store import ExportStore, StripeRequestError
from cashbook.sources import stripe_refresh
from cashbook.sources.registry import (
    BALANCE_SOURCE_STREAMS,
    ENDPOINTS,
    EVENT_OBJECT_STREAMS,
    LAKE_TABLES,
    LISTED_OBJECTS,
    STREAMS,
    STRIPE_STREAMS,
)
from cashbook.sources.streams import STREAM_COLUMNS, lake_schema, schema_for


def test_lake_tables_are_the_raw_streams_and_the_ledger() -> None:
    assert lake.LAKE_TABLES is LAKE_TABLES
    assert [f"stripe_{s}" for s in STRIPE_STREAMS] + ["ledger_entries"] == LAKE_TABLES
    assert STRIPE_STREAMS == ["balance_transactions", "charges", "refunds", "disputes", "payouts",
                              "payout_balance_transactions", "customers", "subscriptions", "invoices"]
    for table in LAKE_TABLES:
        assert len(lake_schema(table)) > 2


def test_row_columns_exist_exactly_for_the_object_streams() -> None:
    assert set(STREAM_COLUMNS) == {s for s in STRIPE_STREAMS if STREAMS[s].object}
    assert schema_for("payout_balance_transactions").names == ["payout", "balance_transaction", "payout_created"]


def test_endpoints_and_objects() -> None:
    assert ENDPOINTS["subscriptions"] == ("/v1/subscriptions", {"status": "all"})
    assert ENDPOINTS["balance_transactions"] == ("/v1/balance_transactions", {})
    assert "payout_balance_transactions" not in ENDPOINTS  # read as /v1/balance_transactions?payout=po_…
    assert set(ENDPOINTS) == set(LISTED_OBJECTS) == {*STREAM_COLUMNS, "events"}
    assert LISTED_OBJECTS["charges"] == "charge" and LISTED_OBJECTS["events"] == "event"
    assert BALANCE_SOURCE_STREAMS == {"charge": "charges", "refund": "refunds", "dispute": "disputes",
                                      "payout": "payouts"}
    assert EVENT_OBJECT_STREAMS == {"charge": "charges", "refund": "refunds", "dispute": "disputes",
                                    "payout": "payouts", "customer": "customers", "subscription": "subscriptions",
                                    "invoice": "invoices"}
    assert not hasattr(stripe_refresh, "OBJECT_STREAMS")  # no second copy


def test_replay_store_filters_come_from_the_registry(tmp_path: Path) -> None:
    (tmp_path / "charges.jsonl").write_text('{"id": "ch_1", "object": "charge", "created": 1}\n')
    store = ExportStore.load(tmp_path)
    page = store.list_page("charges", {"customer": ["cus_x"], "limit": ["10"]})
    assert page["data"] == [] and page["url"] == "/v1/charges"
    with pytest.raises(StripeRequestError, match="unknown parameter: email"):
        store.list_page("charges", {"email": ["a@b.c"]})
    assert store.list_page("customers", {"email": ["a@b.c"]})["data"] == []

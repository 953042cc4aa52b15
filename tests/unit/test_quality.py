"""GX wrapper: suites load, clean partitions pass, corrupted ones fail and name their rows."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from cashbook.marts import MART_TABLES
from cashbook.quality import EXPECTATIONS_DIR, SuiteError, load_suite_spec, suite_names, validate_frame
from cashbook.quality import suites as suites_mod
from cashbook.sources.registry import LAKE_TABLES
from tests.unit.test_marts_support import Account, ts

DAY = {"window_start": ts("2025-01-01T00:00:00"), "window_last": ts("2025-01-02T00:00:00") - 1}


def _bts(n: int = 5) -> pd.DataFrame:
    a = Account()
    for i in range(n):
        a.bt(f"2025-01-01T0{i}:00:00", 1000 + i, 59, "charge")
    return a.tables()["stripe_balance_transactions"].to_pandas()


def test_every_raw_table_and_mart_has_a_loadable_suite() -> None:
    assert set(LAKE_TABLES) | set(MART_TABLES) <= set(suite_names())
    for name in suite_names():
        spec = load_suite_spec(name)
        assert spec["name"] == name and spec["expectations"]


def test_clean_partition_passes() -> None:
    result = validate_frame(_bts(), "stripe_balance_transactions", DAY)
    assert result.passed, result.summary()
    assert result.failing_rows() == []


def test_corrupted_partition_fails_and_names_rows() -> None:
    df = _bts()
    df.loc[1, "id"] = df.loc[0, "id"]            # duplicate id
    df["amount"] = df["amount"].astype("float64")
    df.loc[2, "amount"] = None                    # null amount
    df.loc[3, "currency"] = "xyz"                 # unknown currency
    df.loc[4, "fee"] = 60                         # amount != net + fee
    ids = df["id"].tolist()
    result = validate_frame(df, "stripe_balance_transactions", DAY)
    assert not result.passed
    failed = {(o.expectation, o.column) for o in result.failures}
    assert ("expect_column_values_to_be_unique", "id") in failed
    assert ("expect_column_values_to_not_be_null", "amount") in failed
    assert ("expect_column_values_to_be_in_set", "currency") in failed
    assert ("expect_column_pair_values_to_be_equal", "amount") in failed
    named = {r.get("id") for r in result.failing_rows()}
    assert {ids[0], ids[2], ids[3], ids[4]} <= named
    json.dumps(result.failing_rows())  # metadata-ready


def test_rows_outside_the_partition_window_fail() -> None:
    df = _bts(2)
    df.loc[1, "created"] = ts("2025-01-02T00:00:00")  # first second of the next day
    result = validate_frame(df, "stripe_balance_transactions", DAY)
    assert not result.passed
    assert [r["id"] for r in result.failing_rows()] == [df.loc[1, "id"]]


def test_unknown_status_is_a_warning_not_a_block() -> None:
    df = _bts(2)
    df.loc[0, "reporting_category"] = "brand_new_category"
    result = validate_frame(df, "stripe_balance_transactions", DAY)
    assert result.passed
    assert [w.column for w in result.warnings] == ["reporting_category"]


def test_ledger_amounts_must_be_integer_minor_units() -> None:
    from cashbook.sources.streams import LEDGER_SCHEMA

    rows = [{"entry_id": "le_1", "occurred_at": pd.Timestamp("2025-01-01T10:00:00Z"), "type": "payment",
             "amount": 4900, "currency": "jpy", "stripe_id": "ch_1", "customer_id": "cus_1", "description": "",
             "source": "csv:l.csv:2"}]
    df = pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA).to_pandas()
    assert validate_frame(df, "ledger_entries", DAY).passed
    df["amount"] = [49.5]
    bad = validate_frame(df, "ledger_entries", DAY)
    assert not bad.passed
    assert bad.failing_rows()[0]["expectation"] == "expect_column_values_to_be_of_type"


def test_malformed_suite_is_named(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suites_mod, "EXPECTATIONS_DIR", tmp_path)
    (tmp_path / "t.json").write_text('{"name": "other", "meta": {"row_id_columns": ["id"]}, "expectations": []}')
    with pytest.raises(SuiteError, match=r"t\.json"):
        suites_mod.load_suite_spec("t")
    with pytest.raises(SuiteError, match="no expectation suite"):
        suites_mod.load_suite_spec("missing")
    assert EXPECTATIONS_DIR.name == "expectations"

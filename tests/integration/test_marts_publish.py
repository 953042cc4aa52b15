"""cashbook.publish against a real Postgres: types, NULL vs empty string, replace, reshape, mart round trip."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import psycopg
import pytest

from cashbook.marts import build_all
from cashbook.publish import PublishError, publish_table
from tests.unit.test_marts_support import Account


def test_publish_types_and_replace(pg_url: str) -> None:
    duck = duckdb.connect()
    duck.execute("CREATE SCHEMA marts")
    duck.execute("""CREATE TABLE marts.x AS SELECT * FROM (VALUES
        (DATE '2025-01-01', 'usd', 9007199254740993::BIGINT, 0.25::DOUBLE, '', NULL::VARCHAR, 'a,"b"', [1, 2]),
        (DATE '2025-01-02', 'jpy', -1::BIGINT, NULL, 'x', 'y', 'line\nbreak', NULL)
    ) t(day, currency, amount, rate, empty, nothing, tricky, codes)""")
    assert publish_table(duck, "marts.x", pg_url, "analytics.x") == 2
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT day, currency, amount, rate, empty, nothing, tricky, codes "
                            "FROM analytics.x ORDER BY day").fetchall()
    assert rows == [
        (dt.date(2025, 1, 1), "usd", 9007199254740993, 0.25, "", None, 'a,"b"', "[1, 2]"),
        (dt.date(2025, 1, 2), "jpy", -1, None, "x", "y", "line\nbreak", None),
    ]
    # Rerun with fewer rows replaces the content; a new column recreates the table with the new shape.
    duck.execute("CREATE OR REPLACE TABLE marts.x AS SELECT 1::INTEGER AS n, 'z' AS extra")
    assert publish_table(duck, "marts.x", pg_url, "analytics.x") == 1
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT n, extra FROM analytics.x").fetchall() == [(1, "z")]


def test_publish_refuses_unknown_or_bad_names(pg_url: str) -> None:
    duck = duckdb.connect()
    with pytest.raises(PublishError, match="does not exist"):
        publish_table(duck, "marts.nope", pg_url, "analytics.nope")
    with pytest.raises(PublishError, match=r"schema\.table"):
        publish_table(duck, "marts.x; drop", pg_url, "analytics.x")


def test_publish_every_mart(pg_url: str) -> None:
    a = Account()
    cus = a.customer("2025-01-01T00:00:00")
    sub = a.subscription(cus, "2025-01-01T00:00:00")
    a.invoice(cus, sub, "2025-01-01T00:00:00",
              [a.line(1000, "2025-01-01T00:00:00", "2025-02-01T00:00:00", subscription=sub)])
    a.bt("2025-01-01T00:00:00", 1000, 59, "charge")
    a.charge("2025-01-01T00:00:00", 1000, "failed", failure_code="card_declined")
    duck = a.load()
    counts = build_all(duck)
    for mart, n in counts.items():
        assert publish_table(duck, f"marts.{mart}", pg_url, f"analytics.{mart}") == n
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT mrr, arpa FROM analytics.mrr_monthly").fetchall() == [(1000, 1000)]
        codes = conn.execute("SELECT top_failure_codes FROM analytics.payment_health_daily").fetchone()
    assert json.loads(codes[0]) == [{"code": "card_declined", "count": 1}]

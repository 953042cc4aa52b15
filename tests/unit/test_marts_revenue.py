"""Revenue and payment-health marts on hand-built balance transactions and charges."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from cashbook.marts import build_all
from tests.unit.test_marts_support import Account


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    a = Account()
    a.bt("2025-01-01T10:00:00", 1000, 59, "charge")
    a.bt("2025-01-01T23:59:59", 2000, 88, "charge")
    a.bt("2025-01-01T12:00:00", -500, 0, "refund")
    a.bt("2025-01-01T13:00:00", -2000, 1500, "dispute")
    a.bt("2025-01-02T00:00:00", 2000, -1500, "dispute_reversal")   # next UTC day
    a.bt("2025-01-02T01:00:00", -2453, 0, "payout")
    a.bt("2025-01-02T02:00:00", -10, 0, "brand_new_category")        # unknown: kept in `other`
    a.bt("2025-01-02T03:00:00", 4900, 200, "charge", currency="eur")
    a.charge("2025-01-01T10:00:00", 1000, "succeeded")
    a.charge("2025-01-01T11:00:00", 1000, "failed", failure_code="card_declined")
    a.charge("2025-01-01T11:30:00", 1000, "failed", failure_code="card_declined")
    a.charge("2025-01-01T12:00:00", 1000, "failed", failure_code="insufficient_funds")
    a.charge("2025-01-01T12:30:00", 1000, "pending")
    c = a.load()
    build_all(c)
    return c


def test_revenue_daily_buckets(con: duckdb.DuckDBPyConnection) -> None:
    cols = "gross, refunds, disputes, other, fees, net, payouts, charge_count, refund_count, dispute_count, " \
           "balance_transaction_count"
    day1 = con.execute(f"SELECT {cols} FROM marts.revenue_daily WHERE day = DATE '2025-01-01'").fetchone()
    assert day1 == (3000, -500, -2000, 0, 59 + 88 + 1500, 3000 - 500 - 2000 - 1647, 0, 2, 1, 1, 4)
    day2 = con.execute(f"SELECT {cols} FROM marts.revenue_daily WHERE day = DATE '2025-01-02' "
                       "AND currency = 'usd'").fetchone()
    assert day2 == (0, 0, 2000, -10, -1500, 2000 - 10 + 1500, -2453, 0, 0, 0, 3)


def test_revenue_totals_equal_raw_sums(con: duckdb.DuckDBPyConnection) -> None:
    mart = con.execute("SELECT currency, sum(gross + refunds + disputes + other + payouts), sum(net) "
                       "FROM marts.revenue_daily GROUP BY 1 ORDER BY 1").fetchall()
    raw = con.execute("SELECT currency, sum(amount), sum(net) FILTER (WHERE reporting_category <> 'payout') "
                      "FROM raw.stripe_balance_transactions GROUP BY 1 ORDER BY 1").fetchall()
    assert mart == raw


def test_revenue_monthly_without_rates_has_no_conversion(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT month, currency, gross, reporting_currency, gross_reporting FROM marts.revenue_monthly "
                       "ORDER BY currency").fetchall()
    assert rows == [(dt.date(2025, 1, 1), "eur", 4900, None, None), (dt.date(2025, 1, 1), "usd", 3000, None, None)]


def test_payment_health(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute("SELECT attempts, succeeded, failed, pending, success_rate, top_failure_codes "
                      "FROM marts.payment_health_daily").fetchone()
    assert row[:5] == (5, 1, 3, 1, pytest.approx(0.2))
    assert json.loads(row[5]) == [{"code": "card_declined", "count": 2}, {"code": "insufficient_funds", "count": 1}]


def test_reporting_currency_conversion(tmp_path, con: duckdb.DuckDBPyConnection) -> None:
    from cashbook.marts.build import build_mart, configure_fx
    from cashbook.settings import load_settings

    rates = tmp_path / "rates.csv"
    rates.write_text("date,currency,rate\n2024-12-31,eur,1.1\n2025-01-31,eur,1.0842\n2025-02-28,eur,2\n")
    configure_fx(con, load_settings(cashbook_home=tmp_path, reporting_currency="USD", exchange_rates_csv=rates))
    try:
        build_mart(con, "revenue_monthly")
        rows = con.execute("SELECT currency, gross, gross_reporting, reporting_currency FROM marts.revenue_monthly "
                           "ORDER BY currency").fetchall()
        # 49.00 eur x 1.0842 (latest rate on or before Jan 31) = 53.1258 usd -> 5313 minor (half-even)
        assert rows == [("eur", 4900, 5313, "usd"), ("usd", 3000, 3000, "usd")]
    finally:
        configure_fx(con, None)
        build_mart(con, "revenue_monthly")


@pytest.mark.parametrize(("body", "reason"), [
    ("day,currency,rate\n", "header"),
    ("date,currency,rate\n2025-01-01,xxx,1\n", "unknown currency"),
    ("date,currency,rate\n2025-01-01,eur,-1\n", "positive decimal"),
    ("date,currency,rate\n2025-01-01,eur,1\n2025-01-01,EUR,2\n", "duplicate"),
])
def test_bad_rates_csv_names_line(tmp_path, body: str, reason: str) -> None:
    from cashbook.marts.fx import read_exchange_rates
    from cashbook.sources.errors import SourceError

    p = tmp_path / "rates.csv"
    p.write_text(body)
    with pytest.raises(SourceError, match=reason) as err:
        read_exchange_rates(p)
    assert str(p) in str(err.value)

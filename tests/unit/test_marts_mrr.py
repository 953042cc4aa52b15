"""MRR, movements, churn and cohorts on a hand-built account whose month-end MRR is worked out by hand."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from cashbook.marts import build_all
from cashbook.marts.build import prepare_session
from tests.unit.test_marts_support import Account

JAN, FEB, MAR, APR = (dt.date(2025, m, 1) for m in (1, 2, 3, 4))


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    a = Account()
    # A: monthly 1000 usd from Jan 10, upgraded to 1500 from Mar 10 (a proration line that must not count).
    ca = a.customer("2025-01-10T00:00:00", "cus_A")
    sa = a.subscription(ca, "2025-01-10T00:00:00")
    for start, end, amt in [("01-10", "02-10", 1000), ("02-10", "03-10", 1000), ("03-10", "04-10", 1500),
                            ("04-10", "05-10", 1500)]:
        lines = [a.line(amt, f"2025-{start}T00:00:00", f"2025-{end}T00:00:00", subscription=sa)]
        if start == "03-10":
            lines.append(a.line(250, "2025-03-10T00:00:00", "2025-04-10T00:00:00", subscription=sa, proration=True))
        a.invoice(ca, sa, f"2025-{start}T00:00:00", lines)
    # B: yearly 12000 usd with a 1200 discount -> 10800 / 12 = 900 every month.
    cb = a.customer("2025-01-15T00:00:00", "cus_B")
    sb = a.subscription(cb, "2025-01-15T00:00:00", interval="year")
    a.invoice(cb, sb, "2025-01-15T00:00:00",
              [a.line(12000, "2025-01-15T00:00:00", "2026-01-15T00:00:00", interval="year", discount=1200,
                      subscription=sb)])
    # C: monthly 999 usd from Jan 5, canceled immediately Feb 20 (churn in Feb), back Apr 1 (reactivation).
    cc = a.customer("2025-01-05T00:00:00", "cus_C")
    sc = a.subscription(cc, "2025-01-05T00:00:00", ended_at="2025-02-20T00:00:00")
    a.invoice(cc, sc, "2025-01-05T00:00:00", [a.line(999, "2025-01-05T00:00:00", "2025-02-05T00:00:00", subscription=sc)])
    a.invoice(cc, sc, "2025-02-05T00:00:00", [a.line(999, "2025-02-05T00:00:00", "2025-03-05T00:00:00", subscription=sc)])
    sc2 = a.subscription(cc, "2025-04-01T00:00:00")
    a.invoice(cc, sc2, "2025-04-01T00:00:00",
              [a.line(999, "2025-04-01T00:00:00", "2025-05-01T00:00:00", subscription=sc2)], status="open")
    # D: jpy 4900 for exactly February (period end = Mar 1 00:00 covers Feb's last second), then gone.
    cd = a.customer("2025-02-01T00:00:00", "cus_D")
    sd = a.subscription(cd, "2025-02-01T00:00:00", currency="jpy")
    a.invoice(cd, sd, "2025-02-01T00:00:00",
              [a.line(4900, "2025-02-01T00:00:00", "2025-03-01T00:00:00", subscription=sd, currency="jpy")],
              currency="jpy")
    # E: weekly 700 usd (700 * 52 / 12 = 3033.33 -> 3033) on a void invoice in Jan (ignored) then paid in Mar.
    ce = a.customer("2025-01-20T00:00:00", "cus_E")
    se = a.subscription(ce, "2025-01-20T00:00:00", interval="week")
    a.invoice(ce, se, "2025-01-28T00:00:00",
              [a.line(700, "2025-01-28T00:00:00", "2025-02-04T00:00:00", interval="week", subscription=se)],
              status="void")
    a.invoice(ce, se, "2025-03-28T00:00:00",
              [a.line(700, "2025-03-28T00:00:00", "2025-04-04T00:00:00", interval="week", subscription=se)])
    # F: basil-shaped line (price id only): its yearly interval comes from the subscription item -> 24000 / 12.
    cf = a.customer("2025-03-02T00:00:00", "cus_F")
    sf = a.subscription(cf, "2025-03-02T00:00:00", interval="year", price_id="price_basil")
    a.invoice(cf, sf, "2025-03-02T00:00:00",
              [a.line(24000, "2025-03-02T00:00:00", "2026-03-02T00:00:00", subscription=sf,
                      basil_price="price_basil")])
    c = a.load()
    build_all(c)
    return c


def _mrr(con: duckdb.DuckDBPyConnection) -> dict[tuple[dt.date, str], int]:
    return {(m, cur): v for m, cur, v in con.execute("SELECT month, currency, mrr FROM marts.mrr_monthly").fetchall()}


def test_month_end_mrr_per_currency(con: duckdb.DuckDBPyConnection) -> None:
    assert _mrr(con) == {
        (JAN, "usd"): 1000 + 900 + 999,
        (FEB, "usd"): 1000 + 900,
        (FEB, "jpy"): 4900,
        (MAR, "usd"): 1500 + 900 + 3033 + 2000,
        (MAR, "jpy"): 0,
        (APR, "usd"): 1500 + 900 + 999 + 2000,  # E's week ended Apr 4; C is back on an open invoice
        (APR, "jpy"): 0,
    }


def test_movements_per_customer(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT month, customer_id, movement, previous_mrr, mrr FROM marts.mrr_movements").fetchall()
    got = {(m, c): (mv, p, v) for m, c, mv, p, v in rows}
    assert got[(JAN, "cus_A")] == ("new", 0, 1000)
    assert got[(FEB, "cus_A")] == ("unchanged", 1000, 1000)
    assert got[(MAR, "cus_A")] == ("expansion", 1000, 1500)
    assert got[(FEB, "cus_C")] == ("churn", 999, 0)
    assert (MAR, "cus_C") not in got  # 0 -> 0 is no row
    assert got[(APR, "cus_C")] == ("reactivation", 0, 999)
    assert got[(MAR, "cus_D")] == ("churn", 4900, 0)
    assert got[(MAR, "cus_E")] == ("new", 0, 3033)
    assert got[(APR, "cus_E")] == ("churn", 3033, 0)


def test_mrr_identity_and_movement_totals(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT month, currency, previous_mrr, new_mrr, reactivation_mrr, expansion_mrr, contraction_mrr, "
        "churned_mrr, mrr, customers, arpa FROM marts.mrr_monthly ORDER BY currency, month").fetchall()
    prev_by_cur: dict[str, int] = {}
    for month, cur, prev, new, react, exp, contr, churn, mrr, _customers, _arpa in rows:
        assert prev + new + react + exp - contr - churn == mrr, (month, cur)
        assert prev == prev_by_cur.get(cur, 0)
        prev_by_cur[cur] = mrr
    apr = {r[1]: r for r in rows if r[0] == APR}["usd"]
    assert apr[3:8] == (0, 999, 0, 0, 3033)  # new, reactivation, expansion, contraction, churn
    assert apr[9] == 4  # customers with MRR > 0
    assert apr[10] == 1350  # ARPA 5399 / 4 = 1349.75 -> 1350


def test_churn_rates(con: duckdb.DuckDBPyConnection) -> None:
    feb = con.execute("SELECT customer_churn_rate, gross_mrr_churn_rate, net_mrr_churn_rate FROM marts.churn_monthly "
                      "WHERE month = DATE '2025-02-01' AND currency = 'usd'").fetchone()
    assert feb == pytest.approx((1 / 3, 999 / 2899, 999 / 2899))
    mar = con.execute("SELECT customer_churn_rate, gross_mrr_churn_rate, net_mrr_churn_rate FROM marts.churn_monthly "
                      "WHERE month = DATE '2025-03-01' AND currency = 'usd'").fetchone()
    assert mar == pytest.approx((0.0, 0.0, -500 / 1900))
    first = con.execute("SELECT customer_churn_rate FROM marts.churn_monthly WHERE month = DATE '2025-02-01' "
                        "AND currency = 'jpy'").fetchone()
    assert first == (None,)


def test_cohort_retention(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT months_since_signup, cohort_customers, retained_customers, starting_mrr, mrr "
                       "FROM marts.cohort_retention WHERE cohort_month = DATE '2025-01-01' AND currency = 'usd' "
                       "ORDER BY 1").fetchall()
    # Jan cohort (usd): A, B, C, E. E's first MRR is March.
    assert rows[0] == (0, 4, 3, 1000 + 900 + 999 + 3033, 2899)
    assert rows[1] == (1, 4, 2, 5932, 1900)
    assert rows[2] == (2, 4, 3, 5932, 1500 + 900 + 3033)
    assert rows[3] == (3, 4, 3, 5932, 1500 + 900 + 999)


@pytest.mark.parametrize(("n", "d", "want"), [(5, 2, 2), (7, 2, 4), (-5, 2, -2), (-7, 2, -4), (10, 4, 2),
                                               (11, 4, 3), (9, 4, 2), (0, 3, 0), (36400, 12, 3033)])
def test_div_half_even(n: int, d: int, want: int) -> None:
    c = duckdb.connect()
    prepare_session(c)
    assert c.execute("SELECT CAST(div_half_even(?::BIGINT, ?::BIGINT) AS BIGINT)", [n, d]).fetchone() == (want,)

"""Truth tests on simulator output: MRR equals truth.json exactly; revenue equals the generated BT sums."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import duckdb
import orjson
import pytest

from cashbook.marts import build_all
from cashbook.marts.invariants import invariant_names, run_invariant
from cashbook.simulator import SimConfig, simulate
from cashbook.sources.export import read_export
from cashbook.warehouse import register_raw_tables


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(SimConfig(out=out, customers=150, months=6, seed=11, start=dt.date(2025, 1, 1)))
    return out


@pytest.fixture(scope="module")
def con(export_dir: Path) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    register_raw_tables(c, read_export(export_dir))
    build_all(c)
    return c


def test_mrr_equals_truth_exactly(con: duckdb.DuckDBPyConnection, export_dir: Path) -> None:
    truth = json.loads((export_dir / "truth.json").read_text())["mrr"]
    got: dict[str, dict[str, int]] = {}
    for month, currency, mrr in con.execute(
            "SELECT strftime(month, '%Y-%m'), currency, mrr FROM marts.mrr_monthly").fetchall():
        if mrr or currency in truth.get(month, {}):
            got.setdefault(month, {})[currency] = mrr
    want = {m: {c: v for c, v in per.items() if v or c in got.get(m, {})} for m, per in truth.items()}
    assert len(truth) == 6 and {c for per in truth.values() for c in per} >= {"usd", "eur", "jpy"}
    assert got == want


def test_revenue_totals_equal_generated_balance_transactions(con: duckdb.DuckDBPyConnection,
                                                              export_dir: Path) -> None:
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with (export_dir / "balance_transactions.jsonl").open("rb") as fh:
        for line in fh:
            bt = orjson.loads(line)
            s = sums[bt["currency"]]
            kind = "payout" if bt["reporting_category"] in ("payout", "payout_reversal") else "revenue"
            s["amount"] += bt["amount"]
            s[f"{kind}_fee"] += bt["fee"]
            s[f"{kind}_net"] += bt["net"]
            s["count"] += 1
    mart = {r[0]: r[1:] for r in con.execute(
        "SELECT currency, sum(gross + refunds + disputes + other + payouts), sum(fees), sum(net), "
        "sum(balance_transaction_count) FROM marts.revenue_daily GROUP BY 1").fetchall()}
    assert set(mart) == set(sums)
    truth = json.loads((export_dir / "truth.json").read_text())["balance_transactions"]["by_currency"]
    for cur, s in sums.items():
        assert mart[cur] == (s["amount"], s["revenue_fee"], s["revenue_net"], s["count"])
        # truth.json totals cover every balance transaction, payouts included
        assert truth[cur] == {"amount": s["amount"], "fee": s["revenue_fee"] + s["payout_fee"],
                              "net": s["revenue_net"] + s["payout_net"], "count": s["count"]}


def test_sql_invariants_hold(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS marts.discrepancies (discrepancy_id VARCHAR, kind VARCHAR, "
                "stripe_balance_transaction_id VARCHAR, stripe_object_id VARCHAR, ledger_entry_id VARCHAR, "
                "payout_id VARCHAR, currency VARCHAR, difference BIGINT, occurred_at TIMESTAMPTZ, detail VARCHAR)")
    for name in invariant_names():
        result = run_invariant(con, name)
        assert result.passed, (name, result.failing_rows)


def test_invariants_catch_a_broken_identity(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TEMP TABLE saved AS SELECT * FROM marts.mrr_monthly")
    try:
        con.execute("UPDATE marts.mrr_monthly SET new_mrr = new_mrr + 1 "
                    "WHERE month = (SELECT max(month) FROM marts.mrr_monthly) AND currency = 'usd'")
        result = run_invariant(con, "mrr_identity")
        assert result.failing_count == 1
        assert result.failing_rows[0]["currency"] == "usd"
        assert result.failing_rows[0]["identity_mrr"] == result.failing_rows[0]["mrr"] + 1
    finally:
        con.execute("CREATE OR REPLACE TABLE marts.mrr_monthly AS SELECT * FROM saved")


def test_movements_sum_to_monthly(con: duckdb.DuckDBPyConnection) -> None:
    diff = con.execute("""
        SELECT count(*) FROM marts.mrr_monthly m
        LEFT JOIN (SELECT month, currency, sum(mrr) AS mrr FROM marts.mrr_movements GROUP BY ALL) v
          USING (month, currency)
        WHERE coalesce(v.mrr, 0) <> m.mrr""").fetchone()
    assert diff == (0,)

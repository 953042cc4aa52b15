"""An analyst in their own process, querying the published warehouse file until told to stop.

    python -m tests.integration.analyst_process --db PATH --mode session|reopen --stop FILE --out FILE

`session` opens the file once and keeps that session for the whole time (an analyst with a notebook open);
`reopen` opens, queries and closes in a loop (a BI tool, a cron job). Every iteration runs consistency checks
that a half-built or half-swapped warehouse would fail, and appends one JSON line to --out:
`{"t", "published_at", "run_id", "months", "ok", "error"}`. Used by tests/integration/test_analyst_concurrency.py
and tests/bench/bench_warehouse_run.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

# Each returns rows only when the copy is inconsistent (a mart from another run, a half-written table).
CHECKS = {
    "mrr identity": """
        SELECT month, currency FROM marts.mrr_monthly
        WHERE previous_mrr + new_mrr + reactivation_mrr + expansion_mrr - contraction_mrr - churned_mrr <> mrr""",
    "mrr = sum of customers": """
        SELECT m.month, m.currency FROM marts.mrr_monthly m
        FULL JOIN (SELECT month, currency, sum(mrr) AS mrr FROM marts.mrr_customer_monthly GROUP BY ALL) c
            USING (month, currency)
        WHERE coalesce(m.mrr, 0) <> coalesce(c.mrr, 0)""",
    "churn months = mrr months": """
        (SELECT month, currency FROM marts.churn_monthly EXCEPT SELECT month, currency FROM marts.mrr_monthly)
        UNION ALL
        (SELECT month, currency FROM marts.mrr_monthly EXCEPT SELECT month, currency FROM marts.churn_monthly)""",
    "spine = mrr months": """
        (SELECT month FROM marts.mrr_month_spine EXCEPT SELECT month FROM marts.mrr_monthly)""",
    "summary = discrepancies": """
        SELECT kind, currency FROM (SELECT kind, currency, count(*) AS n FROM marts.discrepancies GROUP BY ALL) d
        FULL JOIN (SELECT kind, currency, count AS n FROM marts.reconciliation_summary WHERE section = 'discrepancy') s
            USING (kind, currency)
        WHERE d.n IS DISTINCT FROM s.n""",
    "revenue monthly = daily": """
        SELECT month, currency FROM marts.revenue_monthly r
        FULL JOIN (SELECT date_trunc('month', day)::DATE AS month, currency, sum(net) AS net
                   FROM marts.revenue_daily GROUP BY ALL) d USING (month, currency)
        WHERE r.net IS DISTINCT FROM d.net""",
}


def check(con: duckdb.DuckDBPyConnection) -> dict:
    published_at, run_id = con.execute("SELECT published_at, dagster_run_id FROM meta.snapshot").fetchall()[0]
    bad = {name: len(con.execute(sql).fetchall()) for name, sql in CHECKS.items()}
    bad = {k: v for k, v in bad.items() if v}
    months = con.execute("SELECT count(*) FROM marts.mrr_month_spine").fetchall()[0][0]
    return {"published_at": str(published_at), "run_id": run_id, "months": months, "ok": not bad,
            "error": f"inconsistent: {bad}" if bad else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--mode", choices=("session", "reopen"), required=True)
    parser.add_argument("--stop", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--pause", type=float, default=0.05)
    args = parser.parse_args()
    stop, out = Path(args.stop), Path(args.out)
    session = duckdb.connect(args.db, read_only=True) if args.mode == "session" else None
    with out.open("a") as fh:
        while not stop.exists():
            t = time.time()
            try:
                if session is not None:
                    record = check(session)
                else:
                    with duckdb.connect(args.db, read_only=True) as con:
                        record = check(con)
            except Exception as exc:  # a lock error, a missing table: exactly what must never happen
                record = {"published_at": None, "run_id": None, "months": None, "ok": False,
                          "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
            fh.write(json.dumps({"t": t, "mode": args.mode, **record}) + "\n")
            fh.flush()
            time.sleep(args.pause)
    if session is not None:
        session.close()


if __name__ == "__main__":
    main()

"""marts/discrepancies, marts/payout_reconciliation, marts/reconciliation_summary (DESIGN Contract 3).

The engine is the SQL under sql/duckdb/reconciliation, the same files `cashbook reconcile` runs.
Matching spans the whole history (not a partition): a 23:59:59 entry matches its 00:00:03 movement.
"""

import datetime as dt

import dagster as dg

from assets.resources import WarehouseResource
from assets.warehouse.staging import STAGING_KEYS
from cashbook.reconcile.runner import run_reconciliation
from cashbook.settings import get_settings

DISCREPANCIES = dg.AssetKey(["marts", "discrepancies"])
PAYOUTS = dg.AssetKey(["marts", "payout_reconciliation"])
SUMMARY = dg.AssetKey(["marts", "reconciliation_summary"])


class ReconcileConfig(dg.Config):
    as_of: str = ""  # ISO 8601; empty = now. Set it to reproduce an earlier run exactly.


@dg.multi_asset(
    specs=[
        dg.AssetSpec(DISCREPANCIES, deps=STAGING_KEYS, group_name="reconciliation", kinds={"duckdb"},
                     description="One row per discrepancy between Stripe and the ledger (Contract 3)."),
        dg.AssetSpec(PAYOUTS, deps=STAGING_KEYS, group_name="reconciliation", kinds={"duckdb"},
                     description="Per payout: amount, explained and unexplained amount, members, status."),
        dg.AssetSpec(SUMMARY, deps=STAGING_KEYS, group_name="reconciliation", kinds={"duckdb"},
                     description="Counts and amounts by kind and currency, incl. unknown reporting categories."),
    ],
    pool="duckdb",
    can_subset=False,
)
def reconciliation(context: dg.AssetExecutionContext, config: ReconcileConfig, warehouse: WarehouseResource):
    settings = get_settings()
    as_of = dt.datetime.fromisoformat(config.as_of) if config.as_of else dt.datetime.now(dt.UTC)
    if as_of.tzinfo is None:
        raise dg.Failure("as_of must carry a UTC offset, e.g. 2025-12-31T23:59:59+00:00")
    con = warehouse.connect()
    try:
        run_reconciliation(con, as_of=as_of, grace_days=settings.reconcile_grace_days, include_staging=False)
        by_kind = dict(con.execute("SELECT kind, count(*) FROM marts.discrepancies GROUP BY kind").fetchall())
        total = sum(by_kind.values())
        yield dg.MaterializeResult(
            asset_key=DISCREPANCIES,
            metadata={"dagster/row_count": total, "as_of": as_of.isoformat(),
                      "grace_days": settings.reconcile_grace_days,
                      **{f"kind/{k}": int(v) for k, v in sorted(by_kind.items())}},
        )
        unexplained = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE unexplained_amount <> 0) FROM marts.payout_reconciliation"
        ).fetchone()
        yield dg.MaterializeResult(
            asset_key=PAYOUTS, metadata={"dagster/row_count": unexplained[0], "payouts_unexplained": unexplained[1]}
        )
        n = con.execute("SELECT count(*) FROM marts.reconciliation_summary").fetchone()[0]
        yield dg.MaterializeResult(asset_key=SUMMARY, metadata={"dagster/row_count": n})
    finally:
        con.close()

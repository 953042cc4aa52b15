"""Blocking GX checks on every raw table, on the partitions the run just wrote, plus freshness.

Integrity failures (duplicate ids, null keys, amount != net + fee, unknown currencies, rows outside
the partition window, bad ledger amounts) fail with ERROR severity and stop everything downstream in
the run; the check's metadata lists the first 20 failing rows.
"""

import dagster as dg

from assets.checks.common import quality_check_result, run_days
from assets.resources import LakeResource
from cashbook.quality.freshness import freshness
from cashbook.quality.partitions import check_partitions
from cashbook.sources.registry import LAKE_TABLES


def _build(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["raw", table]),
        name="gx_quality",
        blocking=True,
        description=f"expectations/{table}.json on the run's partitions (blocking; failing rows in metadata).",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        days = run_days(context, lake.path, table)
        if not days:
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                       metadata={"summary": f"no partitions of {table} in the lake"})
        result = check_partitions(lake.path, table, days)
        context.log.info(result.summary())
        return quality_check_result(result, {"first_day": days[0].isoformat(), "last_day": days[-1].isoformat()})

    return _check


raw_quality_checks = [_build(t) for t in LAKE_TABLES]


@dg.asset_check(
    asset=dg.AssetKey(["raw", "stripe_balance_transactions"]),
    name="freshness",
    blocking=False,
    description="Fails when the newest balance transaction is older than $FRESHNESS_MAX_AGE_HOURS "
                "(default 36 h), judged by Stripe's `created`, not by when the pipeline ran.",
)
def balance_transactions_freshness(lake: LakeResource) -> dg.AssetCheckResult:
    f = freshness(lake.path, max_age=lake.freshness_max_age_hours)
    metadata: dict[str, object] = {
        "newest_created": f.newest.isoformat() if f.newest else "none",
        "age_hours": round(f.age_hours, 2) if f.age_hours is not None else -1.0,
        "max_age_hours": f.max_age_hours,
    }
    return dg.AssetCheckResult(passed=f.fresh, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)

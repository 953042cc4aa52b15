"""Checks on the marts: GX suites (blocking: a bad mart is not published) and SQL invariants.

SQL invariants GX cannot express: the MRR identity, exactly; revenue totals equal to the raw balance
transactions; no discrepancy row without any id.
"""

import dagster as dg

from assets.checks.common import quality_check_result
from assets.marts.marts import MARTS, mart_key
from assets.resources import WarehouseResource
from cashbook.marts.invariants import run_invariant
from cashbook.quality import validate_frame


def _gx(name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=mart_key(name),
        name="gx_quality",
        blocking=True,
        pool="duckdb",
        description=f"expectations/{name}.json on marts.{name} (blocking: stops analytics/{name}).",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        con = warehouse.connect(read_only=True)
        try:
            df = con.execute(f"SELECT * FROM marts.{name}").df()
        finally:
            con.close()
        result = validate_frame(df, name)
        context.log.info(result.summary())
        return quality_check_result(result)

    return _check


def _invariant(asset: dg.AssetKey, check: str, description: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name=check, blocking=True, pool="duckdb", description=description)
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        con = warehouse.connect(read_only=True)
        try:
            result = run_invariant(con, check)
        finally:
            con.close()
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"failing_count": result.failing_count,
                      "failing_rows": dg.MetadataValue.json(result.failing_rows)},
        )

    return _check


mart_quality_checks = [_gx(name) for name in MARTS]
invariant_checks = [
    _invariant(mart_key("mrr_monthly"), "mrr_identity",
               "previous + new + reactivation + expansion - contraction - churn = current, exactly, chained by month."),
    _invariant(mart_key("revenue_daily"), "revenue_totals",
               "revenue_daily adds up to the raw balance transactions per currency (amounts, fees, net, counts)."),
    _invariant(dg.AssetKey(["marts", "discrepancies"]), "discrepancy_ids",
               "every discrepancy names at least one Stripe, ledger or payout id."),
]

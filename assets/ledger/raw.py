"""raw/ledger_entries: the company's own ledger (CSV files and/or the API's Postgres table)."""


import dagster as dg

from assets.partitions import daily_partitions, window_days
from assets.raw_writer import landed, materialize_result
from assets.resources import LakeResource, LedgerSourceResource, PostgresResource
from cashbook.sources.errors import SourceError


@dg.asset(
    key_prefix=["raw"],
    group_name="ledger",
    kinds={"csv", "postgres", "parquet"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="Ledger entries by UTC day of occurred_at, amounts in minor units (Contract 2).",
)
def ledger_entries(
    context: dg.AssetExecutionContext, ledger: LedgerSourceResource, lake: LakeResource, postgres: PostgresResource
) -> dg.MaterializeResult:
    start, end, days = window_days(context)
    try:
        data, info = ledger.read_range_with_info(start, end, postgres)
    except (SourceError, FileNotFoundError) as exc:
        raise dg.Failure(description=f"raw/ledger_entries: {exc}; previous partition data left intact") from exc
    if info["rejected_rows"]:
        context.log.warning(f"{info['rejected_rows']} malformed ledger rows quarantined to {info['rejects_files']}")
    with landed(lake.path, days) as writer:
        window = writer.stage("ledger_entries", data, "occurred_at")
    return materialize_result(context, context.asset_key, window, extra=info)

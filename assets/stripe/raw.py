"""raw/stripe_* assets: one per Stripe stream, daily partitions, idempotent day-file overwrite."""


import dagster as dg

from assets.partitions import daily_partitions, window_days
from assets.raw_writer import write_window
from assets.resources import LakeResource, StripeSourceResource
from cashbook.sources.errors import SourceError
from cashbook.sources.streams import STRIPE_STREAMS, time_column


def _build(stream: str) -> dg.AssetsDefinition:
    table_name = f"stripe_{stream}"

    @dg.asset(
        name=table_name,
        key_prefix=["raw"],
        group_name="stripe",
        kinds={"stripe", "parquet"},
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=f"Stripe `{stream}` objects by UTC day of `created`, as landed in lake/{table_name}/.",
        metadata={"lake_table": table_name},
    )
    def _asset(context: dg.AssetExecutionContext, stripe: StripeSourceResource, lake: LakeResource
               ) -> dg.MaterializeResult:
        start, end, days = window_days(context)
        try:
            data = stripe.read_range(stream, start, end)
        except SourceError as exc:
            raise dg.Failure(description=f"raw/{table_name}: {exc}; previous partition data left intact") from exc
        return write_window(context, lake.path, table_name, data, time_column(stream), days)

    return _asset


stripe_raw_assets = [_build(s) for s in STRIPE_STREAMS]

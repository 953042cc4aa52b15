"""raw/stripe_*: every Stripe stream for the run's days, in one step, into daily lake partitions.

One step for all streams so that, with the API source, every request of the run goes through one shared
token bucket (and the `stripe_api` pool keeps concurrent runs from each spending the account's limit).
Each stream is read completely before its first day file is replaced: bad input leaves old data intact.
"""

from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from assets.partitions import daily_partitions, window_days
from assets.raw_writer import landed, materialize_result
from assets.resources import LakeResource, StripeSourceResource
from cashbook.sources.errors import SourceError
from cashbook.sources.export import ExportReader
from cashbook.sources.registry import STRIPE_STREAMS
from cashbook.sources.streams import time_column

KEYS = {dg.AssetKey(["raw", f"stripe_{s}"]): s for s in STRIPE_STREAMS}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key, group_name="stripe", kinds={"stripe", "parquet"}, partitions_def=daily_partitions,
            description=f"Stripe `{stream}` by UTC day of `created`, as landed in lake/stripe_{stream}/.",
            metadata={"lake_table": f"stripe_{stream}"}, skippable=True,
        )
        for key, stream in KEYS.items()
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
    pool="stripe_api",
)
def stripe_raw(context: dg.AssetExecutionContext, stripe: StripeSourceResource, lake: LakeResource):
    start, end, days = window_days(context)
    reader = stripe.reader()
    streams = sorted(KEYS[k] for k in context.selected_asset_keys)

    def read(stream: str):
        try:
            return reader.read_range(stream, start, end)
        except SourceError as exc:
            raise dg.Failure(description=f"raw/stripe_{stream}: {exc}; previous partition data left intact") from exc

    # Export reads are CPU-bound parsing: one worker process per stream (cashbook.sources.export_stage).
    # API reads wait on the network: overlap the streams in threads (one token bucket keeps the total rate).
    # Nothing is replaced until every selected stream has been read and staged (cashbook.lake).
    with landed(lake.path, days) as writer:
        if isinstance(reader, ExportReader):
            staged = writer.stage_export(reader.export_dir, streams, start, end)
        else:
            with ThreadPoolExecutor(max_workers=3) as pool:
                staged = {stream: writer.stage(f"stripe_{stream}", table, time_column(stream))
                          for stream, table in zip(streams, pool.map(read, streams), strict=True)}
    meta = reader.metadata()
    for stream in streams:
        key = dg.AssetKey(["raw", f"stripe_{stream}"])
        yield materialize_result(context, key, staged[stream], extra=meta)


stripe_raw_assets = [stripe_raw]

"""marts/discrepancies, marts/payout_reconciliation, marts/reconciliation_summary (DESIGN Contract 3).

The engine is the SQL under sql/duckdb/reconciliation, the same files `cashbook reconcile` runs.
Matching spans the whole history (not a partition): a 23:59:59 entry matches its 00:00:03 movement.

Subsettable: payout_reconciliation builds alone; discrepancies reads payout_reconciliation (payout_mismatch);
reconciliation_summary counts from the discrepancy pass's intermediate tables, so it is built in the same step
as discrepancies. Each output's upstream is what its SQL files read.
"""

import datetime as dt

import dagster as dg

from assets.resources import WarehouseResource
from assets.warehouse.layers import key_of, parse_sql_file, require_upstream, select_hint
from assets.warehouse.metadata import documented_schema, table_metadata
from assets.warehouse.staging import RAW_KEYS, STAGING_KEYS
from cashbook.reconcile.runner import OUTPUTS, output_of, run_reconciliation, sql_paths
from cashbook.sql_runner import SqlFileError, code_version

DISCREPANCIES = dg.AssetKey(["marts", "discrepancies"])
PAYOUTS = dg.AssetKey(["marts", "payout_reconciliation"])
SUMMARY = dg.AssetKey(["marts", "reconciliation_summary"])
RECONCILIATION_KEYS = [DISCREPANCIES, PAYOUTS, SUMMARY]

_KNOWN = {tuple(k.path) for k in (*RAW_KEYS, *STAGING_KEYS, *RECONCILIATION_KEYS)}


FILES = {name: [p for p in sql_paths(False) if output_of(p) == name] for name in OUTPUTS}


def _reads(output: str) -> set[tuple[str, str]]:
    files = [parse_sql_file(p) for p in FILES[output]]
    return {r for f in files for r in f.reads} - {("marts", output)}


READS = {name: _reads(name) for name in OUTPUTS}
# reconciliation_summary reads the discrepancy pass's TEMP tables: its result depends on those files too.
VERSION_FILES = {**FILES, "reconciliation_summary": FILES["discrepancies"] + FILES["reconciliation_summary"]}


def _deps(output: str) -> list[dg.AssetKey]:
    return sorted((key_of(r) for r in READS[output] if r in _KNOWN), key=lambda k: k.path)


class ReconcileConfig(dg.Config):
    as_of: str = ""  # ISO 8601; empty = now. Set it to reproduce an earlier run exactly.


@dg.multi_asset(
    specs=[
        dg.AssetSpec(DISCREPANCIES, deps=_deps("discrepancies"), group_name="reconciliation", kinds={"duckdb"},
                     code_version=code_version(VERSION_FILES["discrepancies"]),
                     metadata=documented_schema("marts", "discrepancies"),
                     description="One row per discrepancy between Stripe and the ledger (Contract 3)."),
        dg.AssetSpec(PAYOUTS, deps=_deps("payout_reconciliation"), group_name="reconciliation", kinds={"duckdb"},
                     code_version=code_version(VERSION_FILES["payout_reconciliation"]),
                     metadata=documented_schema("marts", "payout_reconciliation"),
                     description="Per payout: amount, explained and unexplained amount, members, status."),
        dg.AssetSpec(SUMMARY, deps=_deps("reconciliation_summary"), group_name="reconciliation", kinds={"duckdb"},
                     code_version=code_version(VERSION_FILES["reconciliation_summary"]),
                     metadata=documented_schema("marts", "reconciliation_summary"),
                     description="Counts and amounts by kind and currency, incl. unknown reporting categories."),
    ],
    pool="duckdb",
    can_subset=True,
)
def reconciliation(context: dg.AssetExecutionContext, config: ReconcileConfig, warehouse: WarehouseResource):
    as_of = dt.datetime.fromisoformat(config.as_of) if config.as_of else dt.datetime.now(dt.UTC)
    if as_of.tzinfo is None:
        raise dg.Failure("as_of must carry a UTC offset, e.g. 2025-12-31T23:59:59+00:00")
    selected = {k.path[-1] for k in RECONCILIATION_KEYS if k in context.selected_asset_keys}
    if "reconciliation_summary" in selected and "discrepancies" not in selected:
        raise dg.Failure(
            "marts/reconciliation_summary is computed from the discrepancy pass in the same step: select "
            f"marts/discrepancies too, e.g. {select_hint(SUMMARY)}")
    results: list[dg.MaterializeResult] = []  # yielded after the connection is closed (see staging.py)
    con = warehouse.connect()
    try:
        built = {("marts", name) for name in selected}
        for key in RECONCILIATION_KEYS:
            if key.path[-1] in selected:
                require_upstream(con, key, READS[key.path[-1]], built)
        timings: dict[str, float] = {}
        try:
            run_reconciliation(con, as_of=as_of, grace_days=warehouse.reconcile_grace_days, include_staging=False,
                               outputs=selected, timings=timings)
        except SqlFileError as exc:
            raise dg.Failure(str(exc)) from exc
        context.log.info("seconds per SQL file: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
        if "payout_reconciliation" in selected:  # first: discrepancies reads it (outputs go in dependency order)
            payouts = con.execute(
                "SELECT count(*), count(*) FILTER (WHERE unexplained_amount <> 0) FROM marts.payout_reconciliation"
            ).fetchall()[0]
            results.append(dg.MaterializeResult(
                asset_key=PAYOUTS, metadata={"dagster/row_count": payouts[0], "payouts_unexplained": payouts[1],
                                             **table_metadata(con, "marts", "payout_reconciliation")}))
        if "discrepancies" in selected:
            by_kind = dict(con.execute("SELECT kind, count(*) FROM marts.discrepancies GROUP BY kind").fetchall())
            results.append(dg.MaterializeResult(
                asset_key=DISCREPANCIES,
                metadata={"dagster/row_count": sum(by_kind.values()), "as_of": as_of.isoformat(),
                          "grace_days": warehouse.reconcile_grace_days,
                          **{f"kind/{k}": int(v) for k, v in sorted(by_kind.items())},
                          **table_metadata(con, "marts", "discrepancies")},
            ))
        if "reconciliation_summary" in selected:
            n = con.execute("SELECT count(*) FROM marts.reconciliation_summary").fetchall()[0][0]
            results.append(dg.MaterializeResult(asset_key=SUMMARY, metadata={
                "dagster/row_count": n, **table_metadata(con, "marts", "reconciliation_summary", preview=True)}))
    finally:
        con.close()
    yield from results

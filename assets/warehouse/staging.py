"""staging/*: typed, cleaned relations over the raw lake, one SQL file each.

One subsettable multi-asset: a run builds the staging relations it selected (in file order) and nothing else,
so `+key:"marts/mrr_monthly"` can build just the two staging relations MRR reads. Each relation's upstream is
what its file reads (raw tables, other staging relations). Most are views (nothing to refresh: they read the
lake live); the few tables (parsed JSON, constant lists) are rebuilt whole, never half-built.
"""

from graphlib import TopologicalSorter

import dagster as dg

from assets.resources import WarehouseResource
from assets.warehouse.layers import key_of, require_upstream, staging_sql_files
from assets.warehouse.metadata import documented_schema, table_metadata
from cashbook.lake import LAKE_TABLES
from cashbook.sql_runner import SqlFileError, code_version, display_name, run_file

RAW_KEYS = [dg.AssetKey(["raw", t]) for t in LAKE_TABLES]
_RAW = {("raw", t) for t in LAKE_TABLES}

_FILES = {key_of(rel): f for f in staging_sql_files() for rel in f.creates if rel[0] == "staging"}
_STAGING = {tuple(k.path) for k in _FILES}
# dependency order (a relation after everything it reads), ties in file order
_ORDER = TopologicalSorter({k: [key_of(r) for r in f.reads if r in _STAGING] for k, f in _FILES.items()})
STAGING_BY_KEY = {k: _FILES[k] for k in _ORDER.static_order()}
STAGING_KEYS = list(STAGING_BY_KEY)


def _deps(reads: frozenset) -> list[dg.AssetKey]:
    return sorted((key_of(r) for r in reads if r in _RAW or r in _STAGING), key=lambda k: k.path)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key, deps=_deps(f.reads), group_name="staging", kinds={"duckdb"},
                     description=f"sql/{display_name(f.path)}", code_version=code_version([f.path]),
                     metadata=documented_schema("staging", key.path[-1]))
        for key, f in STAGING_BY_KEY.items()
    ],
    pool="duckdb",
    can_subset=True,
)
def staging_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    selected = [k for k in STAGING_KEYS if k in context.selected_asset_keys]
    # Results are yielded after the connection is closed: a generator suspended at a yield that Dagster rejects is
    # never resumed, so a connection held across a yield would stay open (and block the next step's open).
    results: list[dg.MaterializeResult] = []
    con = warehouse.connect()
    try:
        built: set[tuple[str, str]] = set()
        for key in selected:
            f = STAGING_BY_KEY[key]
            require_upstream(con, key, set(f.reads), built)
            try:
                run_file(con, f.path)
            except SqlFileError as exc:
                raise dg.Failure(str(exc)) from exc
            built.update(f.creates)
            n = con.execute(f"SELECT count(*) FROM staging.{key.path[-1]}").fetchall()[0][0]
            results.append(dg.MaterializeResult(asset_key=key, metadata={
                "dagster/row_count": n, **table_metadata(con, "staging", key.path[-1])}))
    finally:
        con.close()
    context.log.info(f"built {len(selected)} of {len(STAGING_KEYS)} staging relations")
    yield from results

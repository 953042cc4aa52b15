"""Dagster-native metadata on the warehouse's assets: what the UI's catalog shows for a built table.

One simulated account is landed for one UTC day by the real raw assets (materialize() with that partition key),
then staging, reconciliation and the revenue mart are built; their materializations must carry the column schema
(with docs/metrics.md's descriptions for marts), the DuckDB table name, a Markdown preview for marts, and a
code_version that is the hash of the asset's SQL file(s).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from assets.ledger.raw import ledger_entries
from assets.marts.marts import mart_assets, mart_key
from assets.stripe.raw import stripe_raw
from assets.warehouse.reconciliation import DISCREPANCIES, reconciliation
from assets.warehouse.staging import staging_tables
from cashbook.column_docs import column_descriptions
from cashbook.discrepancies import COLUMNS
from cashbook.marts.build import FUNCTIONS_FILE, MART_PATHS
from cashbook.settings import load_settings
from cashbook.simulator import SimConfig, simulate
from cashbook.sql_runner import DUCKDB_SQL, code_version
from pipelines.definitions import build_resources

DAY = "2025-01-20"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[dg.AssetKey, dg.AssetMaterialization]:
    base = tmp_path_factory.mktemp("meta")
    export = base / "export"
    simulate(SimConfig(out=export, customers=40, months=2, seed=7, start=dt.date(2025, 1, 1)))
    settings = load_settings(cashbook_home=base / "home", stripe_export_dir=export,
                             ledger_csv_paths=str(export / "ledger.csv"))
    resources = build_resources(settings)
    instance = dg.DagsterInstance.ephemeral()
    raw = dg.materialize([stripe_raw, ledger_entries], partition_key=DAY, resources=resources, instance=instance)
    assert raw.success
    revenue = next(a for a in mart_assets if mart_key("revenue_daily") in a.keys)
    warehouse = dg.materialize(
        [staging_tables, reconciliation, revenue], resources=resources, instance=instance,
        run_config={"ops": {"reconciliation": {"config": {"as_of": "2025-03-01T00:00:00+00:00"}}}})
    assert warehouse.success
    return {m.asset_key: m for m in warehouse.asset_materializations_for_node("staging_tables")
            + warehouse.asset_materializations_for_node("reconciliation")
            + warehouse.asset_materializations_for_node(revenue.node_def.name)}


def _schema(m: dg.AssetMaterialization) -> dg.TableSchema:
    value = m.metadata["dagster/column_schema"]
    assert isinstance(value, dg.TableSchemaMetadataValue)
    return value.schema


def test_the_raw_day_landed(built: dict[dg.AssetKey, dg.AssetMaterialization]) -> None:
    bts = built[dg.AssetKey(["staging", "stg_balance_transactions"])]
    assert bts.metadata["dagster/row_count"].value > 0  # the partition had data: the rest of the test means something


def test_marts_show_documented_columns_table_name_and_a_preview(
        built: dict[dg.AssetKey, dg.AssetMaterialization]) -> None:
    m = built[mart_key("revenue_daily")]
    columns = _schema(m).columns
    docs = column_descriptions()["marts.revenue_daily"]
    assert [c.name for c in columns] == list(docs)
    assert all(c.description == docs[c.name] and c.description for c in columns)
    assert {c.name: c.type for c in columns}["gross"] == "BIGINT"
    assert m.metadata["dagster/table_name"].value == "warehouse.marts.revenue_daily"
    preview = m.metadata["preview"]
    assert isinstance(preview, dg.MarkdownMetadataValue)
    lines = preview.value.splitlines()
    assert lines[0].startswith("| day | currency | gross |") and DAY in preview.value
    assert 3 <= len(lines) <= 12  # header, rule, and at most ten rows


def test_reconciliation_and_staging_show_their_columns(built: dict[dg.AssetKey, dg.AssetMaterialization]) -> None:
    disc = built[DISCREPANCIES]
    assert tuple(c.name for c in _schema(disc).columns) == COLUMNS  # the SQL's columns are Contract 3's, in order
    assert all(c.description for c in _schema(disc).columns)
    assert "preview" not in disc.metadata  # discrepancies can be many and name customers' money: no preview
    stg = built[dg.AssetKey(["staging", "stg_ledger_entries"])]
    assert "entry_id" in [c.name for c in _schema(stg).columns]
    assert stg.metadata["dagster/table_name"].value == "warehouse.staging.stg_ledger_entries"


def test_code_versions_are_hashes_of_the_sql() -> None:
    specs = {s.key: s for a in (staging_tables, reconciliation, *mart_assets) for s in a.specs}
    mart = specs[mart_key("mrr_monthly")]
    assert mart.code_version == code_version([DUCKDB_SQL / "marts" / FUNCTIONS_FILE, MART_PATHS["mrr_monthly"]])
    stg = specs[dg.AssetKey(["staging", "stg_charges"])]
    assert stg.code_version == code_version([DUCKDB_SQL / "staging" / "recon" / "020_stg_charges.sql"])
    versions = [s.code_version for s in specs.values()]
    assert all(versions) and len(set(versions)) == len(versions)  # every asset's own SQL, none shared by accident


def test_code_version_reaches_the_materialization(built: dict[dg.AssetKey, dg.AssetMaterialization]) -> None:
    """Dagster records the spec's code_version with each materialization: what the UI compares to flag changes."""
    specs = {s.key: s for a in (staging_tables, reconciliation, *mart_assets) for s in a.specs}
    for key in (mart_key("revenue_daily"), DISCREPANCIES, dg.AssetKey(["staging", "stg_charges"])):
        assert built[key].tags["dagster/code_version"] == specs[key].code_version


def test_the_catalog_shows_documented_columns_before_any_build() -> None:
    """Definition-time metadata: a never-materialized mart still shows its documented columns and table."""
    specs = {s.key: s for a in (staging_tables, reconciliation, *mart_assets) for s in a.specs}
    mart = specs[mart_key("churn_monthly")].metadata
    assert [c.name for c in mart["dagster/column_schema"].columns] == list(column_descriptions()["marts.churn_monthly"])
    assert mart["dagster/table_name"] == "warehouse.marts.churn_monthly"
    assert specs[DISCREPANCIES].metadata["dagster/column_schema"].columns[0].type == "VARCHAR"
    assert specs[dg.AssetKey(["staging", "stg_charges"])].metadata["dagster/table_name"] == \
        "warehouse.staging.stg_charges"

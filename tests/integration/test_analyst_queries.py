"""The analyst docs are true on the demo's data: every example query in the README's analyst section and in
docs/metrics.md runs on the published warehouse file and returns rows, trends return complete months only,
and docs/metrics.md's column reference lists exactly the tables and columns of the `marts` schema."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import pytest

from cashbook.column_docs import parse_column_reference, section
from cashbook.marts import build_all
from cashbook.reconcile.runner import load_inputs, run_reconciliation
from cashbook.settings import load_settings
from cashbook.simulator import SimConfig, simulate
from cashbook.snapshot import publish_snapshot
from cashbook.sources.export import read_stream
from cashbook.sources.registry import STRIPE_STREAMS
from cashbook.warehouse import build_path, published_path, register_raw_tables

ROOT = Path(__file__).resolve().parents[2]
_SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)
# Marts whose months are snapshot months: a trend over them must leave out the provisional month.
_MONTHLY = ("mrr_monthly", "churn_monthly", "mrr_movements", "mrr_customer_monthly", "cohort_retention",
            "revenue_monthly")


def _section(path: Path, heading: str) -> str:
    return section(path.read_text(), heading)


def _statements(text: str) -> list[str]:
    out = []
    for block in _SQL_BLOCK.findall(text):
        for stmt in block.split(";"):
            lines = [ln for ln in stmt.strip().splitlines() if ln.strip() and not ln.strip().startswith("--")]
            if lines:
                out.append(stmt.strip())
    return out


DOC_QUERIES = (
    [("README", s) for s in _statements(_section(ROOT / "README.md", "## For analysts"))]
    + [("metrics", s) for s in _statements(_section(ROOT / "docs" / "metrics.md", "## Example analyst queries"))]
)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's account (2,000 customers, 12 months, seed 42), built and published like the pipeline does."""
    base = tmp_path_factory.mktemp("demo")
    export = base / "export"
    simulate(SimConfig(out=export, customers=2000, months=12, seed=42, start=dt.date(2025, 1, 1)))
    truth = json.loads((export / "truth.json").read_text())
    settings = load_settings(cashbook_home=base / "home")
    build = build_path(settings)
    build.parent.mkdir(parents=True)
    con = duckdb.connect(str(build))
    try:
        tables = load_inputs(export, export / "ledger.csv")
        for stream in STRIPE_STREAMS:
            tables.setdefault(f"stripe_{stream}", read_stream(export, stream))
        register_raw_tables(con, tables)
        build_all(con)
        run_reconciliation(con, as_of=dt.datetime.fromisoformat(truth["as_of"]))
    finally:
        con.close()
    publish_snapshot(build, published_path(settings), run_id="docs-test")
    return published_path(settings)


def test_the_docs_have_example_queries() -> None:
    sources = {src for src, _ in DOC_QUERIES}
    assert sources == {"README", "metrics"} and len(DOC_QUERIES) >= 12


@pytest.mark.parametrize(("source", "sql"), DOC_QUERIES, ids=[f"{s}-{i}" for i, (s, _) in enumerate(DOC_QUERIES)])
def test_doc_query_runs_on_the_demo_and_respects_is_complete(published: Path, source: str, sql: str) -> None:
    with duckdb.connect(str(published), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description or []]
        rows = cur.fetchall()
        complete = {m for (m,) in con.execute("SELECT month FROM marts.mrr_month_spine WHERE is_complete").fetchall()}
        provisional = con.execute("SELECT month FROM marts.mrr_month_spine WHERE NOT is_complete").fetchall()
    assert rows, f"{source} query returned no rows on the demo's data:\n{sql}"
    assert provisional, "the demo's data should have a running (provisional) month for this test to mean anything"
    if "month" in cols and any(f"marts.{m}" in sql for m in _MONTHLY):
        months = {r[cols.index("month")] for r in rows}
        assert months <= complete, f"{source} query returns provisional months {sorted(months - complete)}:\n{sql}"


def _documented() -> dict[str, list[str]]:
    """The product's own parser (cashbook.column_docs), the one the Dagster column schemas are described by."""
    ref = parse_column_reference((ROOT / "docs" / "metrics.md").read_text())
    return {table: list(columns) for table, columns in ref.items()}


def test_column_reference_lists_every_mart_and_column(published: Path) -> None:
    with duckdb.connect(str(published), read_only=True) as con:
        actual: dict[str, list[str]] = {}
        for table, column in con.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'marts' "
                "ORDER BY table_name, ordinal_position").fetchall():
            actual.setdefault(f"marts.{table}", []).append(column)
    assert _documented() == actual

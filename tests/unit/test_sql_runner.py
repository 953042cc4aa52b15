"""The one DuckDB SQL runner: a failure names the file, the statement and DuckDB's reason; files are grouped by
folder (never by a list kept in Python); a file's code version follows its content."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cashbook import sql_runner
from cashbook.marts.build import MART_PATHS
from cashbook.reconcile.runner import sql_paths
from cashbook.sql_runner import SqlFileError, code_version, run_file, run_files


def test_a_failing_statement_is_named_with_its_file_and_number(tmp_path: Path) -> None:
    bad = tmp_path / "020_bad.sql"
    bad.write_text("-- builds t\nCREATE TABLE t AS SELECT 1 AS x;\n\n-- reads a column that is not there\n"
                   "CREATE TABLE u AS SELECT y FROM t;\nCREATE TABLE never AS SELECT 1;\n")
    con = duckdb.connect()
    with pytest.raises(SqlFileError) as caught:
        run_file(con, bad)
    message = str(caught.value)
    assert str(bad) in message and "statement 2" in message
    assert "CREATE TABLE u AS SELECT y FROM t" in message and '"y" not found' in message
    assert isinstance(caught.value.__cause__, duckdb.Error)
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]  # statement 1 ran, statement 3 did not
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'never'").fetchall() == [(0,)]


def test_a_project_file_is_named_relative_to_sql(tmp_path: Path) -> None:
    con = duckdb.connect()  # no raw.* relations: the first staging file that reads raw fails
    with pytest.raises(SqlFileError, match=r"^duckdb/staging/metrics/stg_customers\.sql, statement 1 "):
        run_files(con, sql_runner.sql_files(sql_runner.STAGING_METRICS))


def test_variables_and_timings(tmp_path: Path) -> None:
    f = tmp_path / "v.sql"
    f.write_text("CREATE TABLE v AS SELECT getvariable('n') + 1 AS m;")
    con = duckdb.connect()
    timings: dict[str, float] = {}
    assert run_files(con, [f], variables={"n": 41}, timings=timings) == [str(f)]
    assert con.execute("SELECT m FROM v").fetchall() == [(42,)]
    assert list(timings) == [str(f)] and timings[str(f)] >= 0
    with pytest.raises(ValueError, match="not an identifier"):
        run_files(con, [f], variables={"n; DROP TABLE v": 1})


def test_code_version_follows_the_content(tmp_path: Path) -> None:
    f = tmp_path / "a.sql"
    f.write_text("SELECT 1;")
    first = code_version([f])
    assert code_version([f]) == first
    f.write_text("SELECT 2;")
    assert code_version([f]) != first


def test_staging_files_live_in_exactly_one_folder() -> None:
    staging = sql_runner.DUCKDB_SQL / "staging"
    assert not list(staging.glob("*.sql")), "a staging file outside staging/recon and staging/metrics runs nowhere"
    recon = {p.name for p in sql_runner.sql_files(sql_runner.STAGING_RECON)}
    metrics = {p.name for p in sql_runner.sql_files(sql_runner.STAGING_METRICS)}
    assert recon and metrics and not recon & metrics
    assert [p for p in sql_paths(True) if p.parent.name == "recon"] == sql_runner.sql_files(sql_runner.STAGING_RECON)


def test_each_mart_file_creates_the_mart_it_is_named_for() -> None:
    for name, path in MART_PATHS.items():
        assert f"marts.{name} " in path.read_text().replace("\n", " "), path


def test_the_reconciliation_reads_staging_never_raw_and_the_movement_list_is_defined_once() -> None:
    from assets.warehouse.reconciliation import READS

    assert READS["discrepancies"] and all(schema != "raw" for reads in READS.values() for schema, _ in reads)
    movement_list = "'charge', 'refund', 'dispute', 'dispute_reversal'"
    holders = [p.name for p in sql_runner.DUCKDB_SQL.rglob("*.sql") if movement_list in p.read_text()]
    assert holders == ["010_stg_reporting_categories.sql"]
    assert "is_customer_movement" in (sql_runner.DUCKDB_SQL / "reconciliation" / "010_movements.sql").read_text()

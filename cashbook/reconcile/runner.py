"""Run the reconciliation SQL on a DuckDB connection, and load its inputs for the CLI path.

The pipeline and `cashbook reconcile` run the very same files: the pipeline over `raw.*` views on the
lake, the CLI over in-memory `raw.*` tables built by the same readers. Parameters reach the SQL through
`SET VARIABLE` / `getvariable()` (DuckDB binds parameters only in the last statement of a file).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pyarrow as pa

from cashbook.discrepancies import COLUMNS as DISCREPANCY_COLUMNS
from cashbook.discrepancies import KINDS
from cashbook.sources.export import read_stream
from cashbook.sources.ledger_csv import read_ledger_csv
from cashbook.sql_runner import RECONCILIATION, STAGING_RECON, run_files, sql_files
from cashbook.warehouse import prepare, register_raw_tables

__all__ = ["DISCREPANCY_COLUMNS", "KINDS", "OUTPUTS", "load_inputs", "output_of", "run_reconciliation", "sql_paths"]

# Export streams the engine reads (customers and subscriptions are not needed to reconcile).
INPUT_STREAMS = ("balance_transactions", "charges", "refunds", "disputes", "payouts", "invoices")
DEFAULT_GRACE_DAYS = 3


OUTPUTS = ("discrepancies", "payout_reconciliation", "reconciliation_summary")
_CREATES_MART = re.compile(r"CREATE\s+OR\s+REPLACE\s+TABLE\s+marts\.(\w+)", re.I)


def output_of(path: Path) -> str:
    """The mart a reconciliation file belongs to: the mart it creates, else `discrepancies` (its TEMP steps)."""
    made = _CREATES_MART.findall(path.read_text())
    return made[0].lower() if made else "discrepancies"


def sql_paths(include_staging: bool, outputs: frozenset[str] | None = None) -> list[Path]:
    """The files a run executes: sql/duckdb/staging/recon/ (if asked), then sql/duckdb/reconciliation/."""
    staging = sql_files(STAGING_RECON) if include_staging else []
    engine = sql_files(RECONCILIATION)
    if outputs is not None:
        engine = [p for p in engine if output_of(p) in outputs]
    return staging + engine


def run_reconciliation(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime | None = None, grace_days: int = DEFAULT_GRACE_DAYS,
    include_staging: bool = True, outputs: set[str] | frozenset[str] | None = None,
    timings: dict[str, float] | None = None,
) -> list[str]:
    """Build the staging views and marts.{discrepancies,payout_reconciliation,reconciliation_summary}.

    Intermediate results are TEMP tables (`recon_*`, alive for this connection only), so a big run does
    not pay for compressing and persisting them into the warehouse file. `as_of` must be
    timezone-aware (default: now, UTC). The pipeline passes include_staging=False: its staging asset has
    already built every staging table. `outputs` (default: all three marts) builds only some of them;
    `reconciliation_summary` counts from the discrepancy pass's TEMP tables, so it needs `discrepancies` in the
    same call. Returns the files run, in order (`duckdb/<folder>/<file>`); `timings` gets seconds per file.
    """
    wanted = None if outputs is None else frozenset(outputs)
    if wanted is not None:
        unknown = wanted - set(OUTPUTS)
        if unknown:
            raise ValueError(f"unknown reconciliation output(s) {sorted(unknown)}; known: {', '.join(OUTPUTS)}")
        if "reconciliation_summary" in wanted and "discrepancies" not in wanted:
            raise ValueError("reconciliation_summary is computed from the discrepancy pass: build it together "
                             "with discrepancies")
    if as_of is None:
        as_of = dt.datetime.now(dt.UTC)
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    if grace_days < 0:
        raise ValueError("grace_days must be >= 0")
    prepare(con)
    return run_files(con, sql_paths(include_staging, wanted), timings=timings,
                     variables={"as_of": as_of.astimezone(dt.UTC), "grace_days": int(grace_days)})


def load_inputs(export_dir: Path, ledger_csv: Path, *, rejects: Path | None = None) -> dict[str, pa.Table]:
    """Read the export directory and the ledger CSV into raw lake tables (SourceError on bad input)."""
    tables: dict[str, pa.Table] = {}
    for stream in INPUT_STREAMS:
        tables[f"stripe_{stream}"] = read_stream(export_dir, stream)
    created = dict(zip(tables["stripe_payouts"].column("id").to_pylist(),
                       tables["stripe_payouts"].column("created").to_pylist(), strict=True))
    tables["stripe_payout_balance_transactions"] = read_stream(
        export_dir, "payout_balance_transactions", payout_created=created)
    tables["ledger_entries"] = read_ledger_csv(ledger_csv, rejects=rejects)
    return tables


def load_into(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Register the tables as `raw.*` on `con` (every lake table exists; absent ones are empty)."""
    register_raw_tables(con, tables)

"""The reconciliation engine: DuckDB SQL under sql/duckdb/{staging,reconciliation}, run by `runner`."""

from cashbook.reconcile.runner import (
    DISCREPANCY_COLUMNS,
    KINDS,
    RECON_STAGING_FILES,
    load_inputs,
    run_reconciliation,
)

__all__ = ["DISCREPANCY_COLUMNS", "KINDS", "RECON_STAGING_FILES", "load_inputs", "run_reconciliation"]

"""The reconciliation engine: DuckDB SQL under sql/duckdb/{staging/recon,reconciliation}, run by `runner`."""

from cashbook.reconcile.runner import (
    DISCREPANCY_COLUMNS,
    KINDS,
    load_inputs,
    run_reconciliation,
)

__all__ = ["DISCREPANCY_COLUMNS", "KINDS", "load_inputs", "run_reconciliation"]

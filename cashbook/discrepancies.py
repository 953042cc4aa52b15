"""DESIGN.md Contract 3 in one place: the columns of a discrepancy row and the kinds a discrepancy can be.

The reconciliation SQL (`sql/duckdb/reconciliation/060_discrepancies.sql`) produces these columns, the CLI writes
them to CSV, the lifecycle merges them into Postgres `analytics.discrepancies`, and the simulator's answer key
records the identifying part (`IDENTITY`). Each of those reads the names from here, so a column or kind is added or
renamed in one file (and the SQL); tests/unit/test_reconcile_rules.py checks the SQL's columns against `COLUMNS`.
"""

from __future__ import annotations

KINDS: tuple[str, ...] = (
    "missing_in_ledger",
    "missing_in_stripe",
    "pending",
    "amount_mismatch",
    "currency_mismatch",
    "duplicate_in_ledger",
    "ambiguous_match",
    "payout_mismatch",
)

COLUMNS: tuple[str, ...] = (
    "discrepancy_id",
    "kind",
    "stripe_balance_transaction_id",
    "stripe_object_id",
    "ledger_entry_id",
    "payout_id",
    "currency",
    "stripe_amount",
    "ledger_amount",
    "difference",
    "occurred_at",
    "detail",
)

# What identifies a discrepancy across runs (discrepancy_id hashes these) and what the simulator's truth records.
IDENTITY: tuple[str, ...] = ("kind", "stripe_balance_transaction_id", "stripe_object_id", "ledger_entry_id",
                             "payout_id")

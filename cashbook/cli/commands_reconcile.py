"""`cashbook reconcile`: reconcile a Stripe export directory against a ledger CSV without Dagster.

Exit codes (documented in docs/reconciliation.md): 0 = clean (nothing, or only `pending` rows),
3 = discrepancies found, 2 = bad input (the message names file:line and the reason).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cashbook.cli import app
from cashbook.cli.console import console
from cashbook.money import to_major_str

EXIT_CLEAN, EXIT_BAD_INPUT, EXIT_DISCREPANCIES = 0, 2, 3



def _parse_as_of(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 timestamp") from None
    if value.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs a UTC offset (e.g. 2026-01-31T00:00:00Z)")
    return value.astimezone(dt.UTC)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "occurred_at":
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


def write_discrepancies_csv(rows: list[tuple[Any, ...]], columns: tuple[str, ...], path: Path) -> None:
    """Contract 3 columns, minor units, UTC times; rows come sorted from SQL, so reruns are byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        for row in rows:
            w.writerow([_cell(c, v) for c, v in zip(columns, row, strict=True)])
    tmp.replace(path)


def _money(minor: int | None, currency: str | None) -> str:
    if minor is None:
        return ""
    return to_major_str(int(minor), currency) if currency else str(minor)


def _summary_table(rows: list[tuple[Any, ...]]) -> Table:
    table = Table(title="Reconciliation summary")
    for name in ("section", "kind", "currency", "count", "stripe", "ledger", "difference"):
        table.add_column(name, justify="right" if name in ("count", "stripe", "ledger", "difference") else "left")
    for section, kind, currency, count, stripe, ledger, diff in rows:
        table.add_row(section, kind, currency or "", str(count), _money(stripe, currency), _money(ledger, currency),
                      _money(diff, currency))
    return table


@app.command("reconcile")
def reconcile(
    stripe: Annotated[Path, typer.Option("--stripe", help="Stripe export directory (Contract 1).")],
    ledger: Annotated[Path, typer.Option("--ledger", help="Ledger CSV file (Contract 2).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory for discrepancies.csv.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="ISO 8601 with offset; default now.")] = None,
    grace_days: Annotated[int, typer.Option("--grace-days", min=0, help="Pending window before as-of.")] = 3,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Quarantine bad ledger rows here.")] = None,
) -> None:
    """Reconcile Stripe against the ledger; exit 0 clean, 3 discrepancies, 2 bad input."""
    import duckdb

    from cashbook.reconcile.runner import DISCREPANCY_COLUMNS, load_inputs, load_into, run_reconciliation
    from cashbook.sources.errors import SourceError

    when = _parse_as_of(as_of)
    try:
        tables = load_inputs(stripe, ledger, rejects=rejects)
    except SourceError as exc:
        typer.secho(f"bad input: {exc}", fg="red", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    con = duckdb.connect()
    try:
        load_into(con, tables)
        del tables
        run_reconciliation(con, as_of=when, grace_days=grace_days)
        cols = ", ".join(DISCREPANCY_COLUMNS)
        rows = con.execute(
            f"SELECT {cols} FROM marts.discrepancies ORDER BY kind, occurred_at, discrepancy_id").fetchall()
        summary = con.execute("SELECT * FROM marts.reconciliation_summary ORDER BY ALL").fetchall()
    finally:
        con.close()
    path = out / "discrepancies.csv"
    write_discrepancies_csv(rows, DISCREPANCY_COLUMNS, path)
    console.print(_summary_table(summary))
    actionable = sum(1 for r in rows if r[1] != "pending")
    console.print(f"{len(rows)} discrepancies ({actionable} not pending) as of {when.isoformat()} → {path}")
    raise typer.Exit(EXIT_DISCREPANCIES if actionable else EXIT_CLEAN)

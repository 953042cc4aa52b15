"""`cashbook report`: the latest month's KPIs in the terminal and a one-page HTML report on disk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cashbook.cli import app
from cashbook.cli.console import console
from cashbook.settings import get_settings

if TYPE_CHECKING:
    from cashbook.marts.report import CurrencyKpis


def _month(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise typer.BadParameter(f"--month {value!r} is not YYYY-MM") from None


def _published_at(con: object) -> str | None:
    """When the pipeline published the copy being read (meta.snapshot), for the reader's orientation."""
    import duckdb

    try:
        rows = con.execute("SELECT published_at, dagster_run_id FROM meta.snapshot").fetchall()  # type: ignore[attr-defined]
    except duckdb.CatalogException:
        return None
    if not rows:
        return None
    at, run = rows[0]
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" + (f" by run {run}" if run else "")


def kpi_table(month: dt.date, sets: list[CurrencyKpis]) -> Table:
    """KPIs as rows and currencies as columns, so the table stays narrow; values fold, never truncate ("16148…")."""
    from cashbook.marts.report import KPI_ROWS

    provisional = any(k.provisional for k in sets)
    table = Table(title=f"cashbook KPIs {month:%Y-%m} (per currency, major units)"
                        + (" — PROVISIONAL*" if provisional else ""))
    table.add_column("KPI", justify="left", no_wrap=True)
    for k in sets:
        width = max(len(k.text(key, kind)) + 1 for key, _, kind in KPI_ROWS)
        table.add_column(k.currency + ("*" if k.provisional else ""), justify="right", no_wrap=True,
                         overflow="fold", min_width=max(width, 4))
    table.add_row("month status", *("provisional*" if k.provisional else "complete" for k in sets))
    for key, label, kind in KPI_ROWS:
        table.add_row(label, *(k.text(key, kind) + ("*" if k.provisional else "") for k in sets))
    return table


@app.command("report")
def report_cmd(
    month: Annotated[str | None, typer.Option(
        help="Month to report, YYYY-MM (default: the latest complete month; a running month is marked provisional)"
    )] = None,
    stripe: Annotated[Path | None, typer.Option(
        "--stripe", help="Build the marts in memory from this export directory instead of the warehouse")] = None,
    out: Annotated[Path | None, typer.Option(help="Directory for the HTML (default $CASHBOOK_HOME/reports)")] = None,
) -> None:
    """Print the month's KPIs per currency and write a self-contained HTML report with charts."""
    import duckdb

    from cashbook.marts.report import ReportError, check_month, kpis, latest_month, write_report

    settings = get_settings()
    wanted = _month(month)
    if stripe is not None:
        from cashbook.marts import build_all
        from cashbook.sources.errors import SourceError
        from cashbook.sources.export import read_export
        from cashbook.warehouse import register_raw_tables

        con = duckdb.connect()
        try:
            register_raw_tables(con, read_export(stripe))
        except SourceError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(2) from None
        build_all(con, settings)
    else:
        if not settings.warehouse_path.exists():
            typer.secho(f"no warehouse at {settings.warehouse_path}: run the pipeline first, or pass --stripe DIR",
                        fg="red", err=True)
            raise typer.Exit(2)
        try:  # the published copy: never written in place, so no pipeline run can lock it (cashbook.snapshot)
            con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        except duckdb.Error as exc:
            typer.secho(f"cannot open {settings.warehouse_path} read-only: {str(exc).splitlines()[0]}\n"
                        "(another program has it open for writing; close it: the file is the analysts' "
                        "read-only copy)", fg="red", err=True)
            raise typer.Exit(2) from None
        con.execute("SET TimeZone = 'UTC'")
        published = _published_at(con)
        if published:
            console.print(f"[dim]warehouse published {published}[/dim]")
    try:
        chosen = wanted or latest_month(con)
        check_month(con, chosen)
        sets = kpis(con, chosen)
        if not sets:
            raise ReportError(f"no MRR rows for {chosen:%Y-%m}")
        console.print(kpi_table(chosen, sets))
        if any(k.provisional for k in sets):
            console.print(f"[yellow]* provisional: {chosen:%Y-%m} has not ended in the data; its MRR and churn "
                          "will change until it closes (default: the latest complete month)[/yellow]")
        path = write_report(con, out or settings.reports_dir, chosen)
    except ReportError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    finally:
        con.close()
    console.print(f"report written to {path}")

"""`cashbook simulate`: write a simulated Stripe export, ledger and truth file (see docs/simulator.md)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cashbook.cli import app
from cashbook.cli.console import console


def _parse_start(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--start {value!r} is not a date in YYYY-MM-DD form") from None


@app.command("simulate")
def simulate_cmd(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the export, ledger.csv and truth.json")],
    customers: Annotated[int, typer.Option(min=1, help="Number of customers")] = 2000,
    months: Annotated[int, typer.Option(min=1, max=600, help="Months to simulate")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed; same arguments give byte-identical files")] = 42,
    start: Annotated[str, typer.Option(help="First day of the simulated period (UTC), YYYY-MM-DD")] = "2025-01-01",
) -> None:
    """Simulate a Stripe account (subscriptions, credits, refunds, disputes, payouts) and its ledger."""
    from cashbook.simulator import SimConfig, simulate

    cfg = SimConfig(out=out, customers=customers, months=months, seed=seed, start=_parse_start(start))
    t0 = time.perf_counter()
    with Progress(TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("customer-months"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("simulate", total=customers * months)
        truth = simulate(cfg, progress=lambda n: bar.advance(task, n))
    secs = time.perf_counter() - t0
    console.print(f"wrote {out}: {truth.bt_count:,} balance transactions, "
                  f"{len(truth.discrepancies):,} injected discrepancies in {secs:.1f}s "
                  f"({truth.bt_count / max(secs, 1e-9):,.0f} BT/s)")

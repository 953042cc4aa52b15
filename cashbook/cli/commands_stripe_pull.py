"""`cashbook stripe-pull`: land raw Stripe partitions straight from the API, with a live progress bar.

For operators outside Dagster (a first load, checking a key or a rate limit); it uses the same source, the
same row building and the same atomic partition writer as the raw assets, so its files are the same.
Scheduled and backfilled runs belong in Dagster (`cashbook backfill`).
"""

from __future__ import annotations

import datetime as dt

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cashbook.cli import app
from cashbook.cli.console import console
from cashbook.settings import get_settings


def _day(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not YYYY-MM-DD", param_hint=name) from None


@app.command("stripe-pull")
def stripe_pull(
    start: str = typer.Option(..., help="First UTC day, YYYY-MM-DD"),
    end: str = typer.Option(..., help="Last UTC day (inclusive), YYYY-MM-DD"),
    streams: str = typer.Option("", help="Comma-separated streams (default: all)"),
) -> None:
    """Read Stripe streams for the days START to END (inclusive) through the API (STRIPE_API_KEY / STRIPE_API_BASE) into the lake."""
    from cashbook.lake import LakeError, write_window
    from cashbook.sources.errors import SourceError
    from cashbook.sources.registry import STRIPE_STREAMS
    from cashbook.sources.streams import lake_schema, time_column
    from cashbook.sources.stripe_api import SourceStats, StripeApiSource

    first, last = _day(start, "--start"), _day(end, "--end")
    if last < first:
        raise typer.BadParameter("--end is before --start")
    chosen = [s.strip() for s in streams.split(",") if s.strip()] or list(STRIPE_STREAMS)
    unknown = sorted(set(chosen) - set(STRIPE_STREAMS))
    if unknown:
        raise typer.BadParameter(f"unknown stream(s) {', '.join(unknown)}; known: {', '.join(STRIPE_STREAMS)}")
    s = get_settings()
    if not s.stripe_api_key:
        raise typer.BadParameter("set STRIPE_API_KEY (and STRIPE_API_BASE for a replay server or localstripe)")
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    lo = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    hi = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} streams"),
                  TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("stripe-pull", total=len(chosen), stats="")

        def show(stats: SourceStats) -> None:
            progress.update(task, stats=f"{stats.requests} requests · {stats.pages} pages · {stats.objects:,} objects · "
                                        f"{stats.retries} retries")

        source = StripeApiSource(s.stripe_api_key, api_base=s.stripe_api_base, rate_limit=s.stripe_rate_limit,
                                 progress=show)
        counts: dict[str, int] = {}
        for stream in chosen:
            progress.update(task, description=stream)
            try:
                table = source.read_range(stream, lo, hi)
            except SourceError as exc:
                console.print(f"[red]{stream}: {exc}[/red]; nothing written for this stream")
                raise typer.Exit(2) from None
            name = f"stripe_{stream}"
            try:  # the raw assets' core: lake schema, split by UTC day, no row dropped, atomic per day
                write_window(s.lake_dir, name, table, time_column(stream), days, lake_schema(name))
            except LakeError as exc:
                console.print(f"[red]{exc}[/red]; nothing written for this stream")
                raise typer.Exit(2) from None
            counts[stream] = table.num_rows
            progress.advance(task)
    out = Table(title=f"landed {first}…{last} in {s.lake_dir}")
    out.add_column("stream")
    out.add_column("rows", justify="right")
    for stream, n in counts.items():
        out.add_row(stream, f"{n:,}")
    console.print(out)
    st = source.stats
    console.print(f"{st.requests} requests, {st.pages} pages, {st.objects:,} objects, {st.retries} retries "
                  f"({st.rate_limited} rate-limited, {st.server_errors} server errors)")
    for warning in st.warnings[:20]:
        console.print(f"[yellow]warning:[/yellow] {warning}")

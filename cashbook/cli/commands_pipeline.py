"""Pipeline commands: the Dagster instance, backfills through Dagster, and the one-command demo."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cashbook.cli import app
from cashbook.cli.console import console
from cashbook.cli.dagster_runs import DagsterRuns
from cashbook.settings import Settings, get_settings

if TYPE_CHECKING:  # the CLI starts without importing DuckDB
    import duckdb

RAW_SELECTION = "group:stripe or group:ledger"
WAREHOUSE_SELECTION = "not (group:stripe or group:ledger)"


def prepare_instance(settings: Settings, *, pools: bool = True) -> dict[str, str]:
    """Start Postgres if embedded, write dagster.yaml, run migrations; return the env for Dagster processes.

    `pools=False` leaves the pool limits to the caller's `DagsterRuns` runner, which sets them before its first
    run: this process then never imports Dagster (2 s on a slow machine, on the demo's critical path)."""
    from cashbook.dagster_instance import dagster_process_env, write_instance_yaml
    from cashbook.db import database_url

    url = database_url(settings)
    write_instance_yaml(settings, url)
    from cashbook.db.migrate import migrate

    migrate(url)
    # dagster.yaml reads the Postgres password from the environment: this process (init_pools) and every
    # Dagster process started with the returned env.
    os.environ.update(dagster_process_env(url))
    if pools:
        init_pools(str(settings.dagster_home))
    env = dict(os.environ)
    env["CASHBOOK_HOME"] = str(settings.cashbook_home)
    env["DAGSTER_HOME"] = str(settings.dagster_home)
    return env


POOLS = {"duckdb": 1, "stripe_api": 1}  # one DuckDB writer; one Stripe ingestion spending the rate limit


def init_pools(dagster_home: str) -> None:
    """Create Dagster's storage and the pool limits once, before any run.

    Two runs starting together would otherwise both try to create the pool's limit row (a unique-key race
    inside Dagster), and one of them would fail.
    """
    import dagster as dg

    with dg.DagsterInstance.from_config(dagster_home) as instance:
        storage = instance.event_log_storage
        for pool, limit in POOLS.items():
            if storage.get_concurrency_info(pool).slot_count == limit:
                continue
            try:
                storage.set_concurrency_slots(pool, limit)
            except Exception:
                # Another process (webserver, daemon and code server start together) set it first.
                if storage.get_concurrency_info(pool).slot_count != limit:
                    raise


@app.command("dagster-home")
def dagster_home() -> None:
    """Prepare the Dagster instance (Postgres storage, queued runs, duckdb pool) and print DAGSTER_HOME."""
    s = get_settings()
    prepare_instance(s)
    typer.echo(str(s.dagster_home))


@app.command("backfill")
def backfill(
    start: str = typer.Option(..., help="First UTC day, YYYY-MM-DD"),
    end: str = typer.Option(..., help="Last UTC day (inclusive), YYYY-MM-DD"),
    warehouse: bool = typer.Option(True, help="Rebuild staging, reconciliation and marts afterwards"),
) -> None:
    """Land raw data for a date range in one Dagster run, then rebuild the warehouse."""
    for name, value in (("--start", start), ("--end", end)):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not YYYY-MM-DD", param_hint=name) from None
    s = get_settings()
    env = prepare_instance(s, pools=False)
    with DagsterRuns(env) as runs:  # one process loads Dagster and the code location for both runs
        runs.materialize(RAW_SELECTION, (start, end), log_name="backfill-raw")
        if warehouse:
            runs.materialize(WAREHOUSE_SELECTION, log_name="backfill-warehouse")


def demo_window(today: dt.date, months: int, first_allowed: dt.date) -> tuple[dt.date, int]:
    """(start, months) of a simulated history that ends today at 00:00 UTC: yesterday is its last day.

    The start is the same day `months` months earlier (clamped to the month's length); if that is before the
    first partition, the history starts at the first partition and covers fewer whole months (at least one).
    """
    m = today.year * 12 + (today.month - 1) - months
    year, month = divmod(m, 12)
    month += 1
    day = today.day
    while True:
        try:
            start = dt.date(year, month, day)
            break
        except ValueError:
            day -= 1
    if start >= first_allowed:
        return start, months
    fewer = (today.year * 12 + today.month) - (first_allowed.year * 12 + first_allowed.month)
    if today.day < first_allowed.day:
        fewer -= 1
    return first_allowed, max(fewer, 1)


class PhaseClock:
    """Wall time per demo phase, printed at the end so the demo reports its own time."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.phases: list[tuple[str, float]] = []
        self._mark = self.t0

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.phases.append((name, now - self._mark))
        self._mark = now

    def total(self) -> float:
        return time.monotonic() - self.t0

    def summary(self) -> str:
        parts = " · ".join(f"{name} {secs:.1f} s" for name, secs in self.phases)
        return f"demo wall time: {self.total():.1f} s ({parts})"


def ingest_start(lake_dir: Path, start: dt.date) -> dt.date:
    """First day the demo's raw run must rewrite: its own start, or the earliest day already in the lake.

    The demo's history ends yesterday, so a rerun on a later day (or with fewer months) simulates a shifted
    account that reuses the same object ids. Lake days the new history does not cover would keep the old
    copies of those ids (duplicates downstream); rewriting them from the new export leaves them empty.
    """
    from cashbook.lake import existing_days
    from cashbook.sources.registry import LAKE_TABLES

    landed = [days[0] for table in LAKE_TABLES if (days := existing_days(lake_dir, table))]
    return min([start, *landed])


@app.command("demo")
def demo(
    customers: int = typer.Option(2000, help="Simulated customers"),
    months: int = typer.Option(12, help="Months of history"),
    seed: int = typer.Option(42, help="Simulator seed"),
) -> None:
    """Set everything up on embedded defaults and run the whole pipeline on a simulated account."""
    from cashbook.cli.commands_alerts import alerts

    clock = PhaseClock()
    s = get_settings()
    start, months = demo_window(dt.datetime.now(dt.UTC).date(), months, s.partition_start)

    console.rule("[bold]1/4 Postgres and the Dagster instance")
    env = prepare_instance(s, pools=False)
    console.print(f"DAGSTER_HOME={s.dagster_home}")
    clock.lap("postgres+instance")
    # The runner loads Dagster and the code location while the account is simulated.
    with DagsterRuns(env) as runs:
        truth = _simulate_and_run(runs, s, clock, start, customers, months, seed)
        runs.finish()  # the runner exits while the summary is printed

        print_summary(s, truth)
        console.rule("[bold]Alerts (what the sensors page on; the log sink unless PagerDuty/Slack are configured)")
        alerts(evaluate=True)
    clock.lap("summary+alerts")
    console.print(f"[green]{clock.summary()}[/green]", soft_wrap=True)  # one line, also for tools reading it


def _simulate_and_run(runs: DagsterRuns, s: Settings, clock: PhaseClock, start: dt.date, customers: int,
                      months: int, seed: int) -> dict:
    """Steps 2-4 of the demo; returns the simulator's truth."""
    from cashbook.cli.commands_simulate import simulate_cmd

    export_dir = s.stripe_export_dir
    assert export_dir is not None
    ledger_dir = s.cashbook_home / "ledger"
    marker = export_dir / ".demo-params"
    params = f"customers={customers} months={months} seed={seed} start={start}"
    console.rule("[bold]2/4 Simulated Stripe account and ledger")
    ingest_from = ingest_start(s.lake_dir, start)
    if marker.exists() and marker.read_text() == params and (ledger_dir / "ledger.csv").exists():
        console.print(f"already simulated ({params}); reusing {export_dir}")
    else:
        runs.warm()  # the runner loads Great Expectations on the other core while the account is simulated
        shutil.rmtree(export_dir, ignore_errors=True)
        simulate_cmd(out=export_dir, customers=customers, months=months, seed=seed, start=start.isoformat())
        ledger_dir.mkdir(parents=True, exist_ok=True)
        shutil.move(str(export_dir / "ledger.csv"), ledger_dir / "ledger.csv")
        marker.write_text(params)
    clock.lap("simulate")

    truth = json.loads((export_dir / "truth.json").read_text())
    as_of = dt.datetime.fromisoformat(truth["as_of"])
    last_day = (as_of - dt.timedelta(seconds=1)).date()
    console.rule(f"[bold]3/4 Raw ingestion through Dagster, {ingest_from}...{last_day} (one run)")
    if ingest_from < start:
        console.print(f"the lake holds days from {ingest_from}: those before {start} are rewritten empty")
    runs.materialize(RAW_SELECTION, (ingest_from.isoformat(), last_day.isoformat()), log_name="demo-raw")
    clock.lap("raw run")
    console.rule(f"[bold]4/4 Warehouse: staging, reconciliation (as of {as_of.isoformat()}), marts, publish")
    runs.materialize(WAREHOUSE_SELECTION, run_config={"ops": {"reconciliation": {"config": {"as_of": truth["as_of"]}}}},
                     log_name="demo-warehouse")
    clock.lap("warehouse run")
    return truth


def truth_check(con: duckdb.DuckDBPyConnection, truth: dict) -> tuple[int, int, int]:
    """(found, injected, unexpected): the simulator's injected discrepancies vs what the engine reported."""
    ids = ("kind", "stripe_balance_transaction_id", "stripe_object_id", "ledger_entry_id", "payout_id")
    expected = {tuple(d.get(k) for k in ids) for d in truth["discrepancies"]}
    got = set(con.execute(f"SELECT {', '.join(ids)} FROM marts.discrepancies").fetchall())
    return len(expected & got), len(expected), len(got - expected)


def _print_discrepancies(con: duckdb.DuckDBPyConnection, truth: dict | None) -> None:
    """Discrepancies by kind and, for a simulated account, how they compare with the simulator's truth."""
    if not con.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = 'marts' "
                       "AND table_name = 'discrepancies'").fetchone():
        console.print("[yellow]no marts.discrepancies in the published warehouse: the reconciliation did not "
                      "publish[/yellow]")
        return
    kinds = con.execute("SELECT kind, count(*) FROM marts.discrepancies GROUP BY kind ORDER BY 2 DESC").fetchall()
    if kinds:
        kt = Table(title="discrepancies by kind")
        kt.add_column("kind")
        kt.add_column("count", justify="right")
        for k, n in kinds:
            kt.add_row(k, str(n))
        console.print(kt)
    if truth is not None:
        found, injected, unexpected = truth_check(con, truth)
        colour = "green" if found == injected and not unexpected else "red"
        console.print(f"[{colour}]reconciliation vs the simulator's truth: {found}/{injected} injected "
                      f"discrepancies found, {unexpected} unexpected[/{colour}]")


def print_summary(s: Settings, truth: dict | None = None) -> None:
    from cashbook import warehouse

    con = warehouse.connect(s, read_only=True)
    try:
        table = Table(title="cashbook warehouse", show_lines=False)
        table.add_column("table")
        table.add_column("rows", justify="right")
        rows = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'staging', 'marts') ORDER BY 1"
        ).fetchall()
        for (name,) in rows:
            n = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # type: ignore[index]
            table.add_row(name, f"{n:,}")
        console.print(table)
        _print_discrepancies(con, truth)
    finally:
        con.close()
    console.print()
    console.print(f"warehouse: {s.warehouse_path}  (duckdb {s.warehouse_path} / python -c 'import duckdb')")
    console.print(f"lake:      {s.lake_dir}")
    console.print(f"dagster:   DAGSTER_HOME={s.dagster_home}; runs are in Postgres")
    console.print("next:      make ui   (Dagster UI on http://127.0.0.1:3000)   ·   make api   ·   cashbook report")

"""The `cashbook` command line: one typer app, one module per command group.

This package is the top of the import graph (DESIGN.md): it may run the pipeline, so it is the
only part of `cashbook` allowed to import `pipelines`/`assets`/`api`, and only lazily inside commands.
"""

from __future__ import annotations

import os

import typer

from cashbook.logs import configure_logging
from cashbook.settings import SettingsError

app = typer.Typer(
    name="cashbook",
    help="Stripe reconciliation and revenue analytics.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

# Each module registers its commands on `app` when imported.
from cashbook.cli import (  # noqa: E402, F401
    commands_alerts,
    commands_api,
    commands_dagster,
    commands_db,
    commands_pipeline,
    commands_reconcile,
    commands_replay,
    commands_report,
    commands_roles,
    commands_serve,
    commands_simulate,
    commands_stripe_pull,
)


def main() -> None:
    # Library code logs through structlog → `logging`; without a handler Python's last resort would print
    # warnings (the alert log sink's lines) as dict reprs and drop the rest. Commands for a person at a terminal
    # get readable, redacted warnings; `cashbook api` / `worker` reconfigure for JSON lines at INFO.
    configure_logging(level=os.environ.get("CASHBOOK_LOG_LEVEL") or "WARNING",
                      json_lines=os.environ.get("CASHBOOK_LOG_FORMAT", "console").lower() == "json")
    try:
        app()
    except SettingsError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise SystemExit(2) from None

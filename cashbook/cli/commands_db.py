"""Database commands: where Postgres is, migrations, stopping the embedded server."""

from __future__ import annotations

import typer

from cashbook.cli import app
from cashbook.cli.console import console
from cashbook.settings import get_settings


@app.command("db-url")
def db_url() -> None:
    """Print the Postgres URL in use (starting the embedded server if needed)."""
    from cashbook.db import database_url

    typer.echo(database_url(get_settings()))


@app.command("db-stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server (no-op when DATABASE_URL is set)."""
    from cashbook.db.embedded import stop_embedded

    s = get_settings()
    if s.database_url:
        console.print("DATABASE_URL is set; nothing embedded to stop.")
        return
    console.print("stopped" if stop_embedded(s) else "no embedded server running under " + str(s.pg_dir))

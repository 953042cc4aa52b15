"""Billing service commands: migrate, token, worker, api. `api` is imported lazily (CLI is the top of the graph)."""

from __future__ import annotations

import logging
import signal
import threading

import typer

from cashbook.cli import app
from cashbook.settings import get_settings


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending Postgres migrations (sql/postgres/NNNN_*.sql); safe to run twice or concurrently."""
    from cashbook.db import database_url
    from cashbook.db.migrate import migrate

    applied = migrate(database_url(get_settings()))
    typer.echo("applied: " + ", ".join(applied) if applied else "up to date")


@app.command("token")
def token_cmd(user: str = typer.Option(..., "--user", help="user id (JWT sub)"),
              admin: bool = typer.Option(False, "--admin", help="a short-lived admin-audience token; the user"
                                                                  " also needs the role (cashbook admin-role)"),
              email: str | None = typer.Option(None, "--email")) -> None:
    """Mint a bearer token signed with JWT_SECRET (the development secret only with CASHBOOK_API_ENV=dev)."""
    from api.settings import ApiSettings, ApiSettingsError
    from cashbook.billing.tokens import ADMIN_AUDIENCE, USER_AUDIENCE, mint

    s = ApiSettings()
    try:
        secret = s.signing_secret()
    except ApiSettingsError as exc:
        typer.secho(f"cannot mint a token: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    if admin:  # short-lived, for the admin audience; the role itself is `cashbook admin-role USER`
        typer.echo(mint(user, secret, audience=ADMIN_AUDIENCE, issuer=s.jwt_issuer, email=email,
                        ttl_seconds=s.admin_token_ttl_seconds))
    else:
        typer.echo(mint(user, secret, audience=USER_AUDIENCE, issuer=s.jwt_issuer, email=email,
                        ttl_seconds=s.jwt_ttl_seconds))


@app.command("worker")
def worker_cmd(once: bool = typer.Option(False, "--once", help="drain due events and exit")) -> None:
    """Process the webhook inbox and email outbox in a separate process (several may run)."""
    from psycopg_pool import ConnectionPool

    from api.main import resolve_database_url, worker_config
    from api.services.worker import Worker
    from api.settings import ApiSettings
    from cashbook.stripe_gateway import GatewayConfig, StripeGateway

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    s = ApiSettings()
    core = get_settings()
    with ConnectionPool(resolve_database_url(s, core), min_size=1, max_size=2) as pool:
        worker = Worker(pool, StripeGateway(GatewayConfig.from_settings(core)), worker_config(s))
        if once:
            total = 0
            while (n := worker.process_batch()):
                total += n
            typer.echo(f"processed {total} event(s)")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        worker.run_forever(s.worker_poll_seconds, stop)


@app.command("api")
def api_cmd(port: int = typer.Option(8000, "--port"), workers: int = typer.Option(1, "--workers")) -> None:
    """Serve the billing API with uvicorn on 127.0.0.1."""
    import uvicorn

    uvicorn.run("api.main:app", host="127.0.0.1", port=port, workers=workers, log_level="info")

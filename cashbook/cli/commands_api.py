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
def worker_cmd(once: bool = typer.Option(False, "--once", help="drain due events and exit"),
               concurrency: int = typer.Option(1, "--concurrency", min=1,
                                               help="worker threads in this process; more processes scale further")
               ) -> None:
    """Process the webhook inbox and email outbox in a separate process (several may run).

    Every thread claims one event at a time with FOR UPDATE SKIP LOCKED, so threads and processes never take the
    same event; the work waits on Postgres and Stripe, so threads overlap it and processes add cores.
    """
    from psycopg_pool import ConnectionPool

    from api.main import resolve_database_url, worker_config
    from api.services.worker import Worker
    from api.settings import ApiSettings
    from cashbook.stripe_gateway import GatewayConfig, StripeGateway

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(name)s %(message)s")
    s = ApiSettings()
    core = get_settings()
    with ConnectionPool(resolve_database_url(s, core), min_size=1, max_size=concurrency + 3) as pool:
        workers = [Worker(pool, StripeGateway(GatewayConfig.from_settings(core)), worker_config(s))
                   for _ in range(concurrency)]
        if once:
            totals = [0] * concurrency
            errors: list[BaseException] = []

            def drain(i: int) -> None:
                try:
                    while (n := workers[i].process_batch()):
                        totals[i] += n
                except BaseException as exc:  # surfaced below: --once must fail loudly, as with one thread
                    errors.append(exc)

            _run_threads([threading.Thread(target=drain, args=(i,), name=f"worker-{i}") for i in range(concurrency)])
            if errors:
                raise errors[0]
            typer.echo(f"processed {sum(totals)} event(s)")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        from api.services.admin_jobs import AdminLoop  # queued reconcile jobs, scheduled retention (issue 13)

        admin = AdminLoop(pool, s, core)
        _run_threads([threading.Thread(target=w.run_forever, args=(s.worker_poll_seconds, stop), name=f"worker-{i}")
                      for i, w in enumerate(workers)]
                     + [threading.Thread(target=admin.run_forever, args=(s.worker_poll_seconds, stop),
                                         name="admin-jobs")], stop)


def _run_threads(threads: list[threading.Thread], stop: threading.Event | None = None) -> None:
    """Start and join the threads; the main thread keeps waking up so SIGTERM/SIGINT are handled at once."""
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(timeout=0.5)
        if stop is not None and stop.is_set():
            for t in threads:
                t.join()


@app.command("api")
def api_cmd(host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on (0.0.0.0: all)"),
            port: int = typer.Option(8000, "--port"),
            workers: int = typer.Option(1, "--workers", min=1, help="uvicorn worker processes"),
            forwarded_allow_ips: str | None = typer.Option(
                None, "--forwarded-allow-ips",
                help="load balancer addresses trusted for X-Forwarded-* (uvicorn's default: 127.0.0.1)")) -> None:
    """Serve the billing API with uvicorn: N worker processes behind one port, each with its own pool.

    Several processes are safe: migrations take a lock, the inbox is claimed with SKIP LOCKED, idempotency keys
    are rows in Postgres. Behind a load balancer, run more of these on more machines against the same Postgres.
    """
    import uvicorn

    uvicorn.run("api.main:app", host=host, port=port, workers=workers, log_level="info",
                forwarded_allow_ips=forwarded_allow_ips)

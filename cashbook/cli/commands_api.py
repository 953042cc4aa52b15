"""Billing service commands: migrate, token, worker, api. `api` is imported lazily (CLI is the top of the graph)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

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
                                               help="worker threads in this process; more processes scale further"),
               metrics_port: int | None = typer.Option(None, "--metrics-port", min=0, max=65535,
                                                       help="serve Prometheus metrics on this port (/metrics)"),
               metrics_host: str = typer.Option("127.0.0.1", "--metrics-host",
                                                help="interface of the metrics port (0.0.0.0: all)"),
               parent_pid: int | None = typer.Option(None, "--parent-pid", hidden=True,
                                                     help="stop when this process is gone (`cashbook api`'s children)"),
               nice: int = typer.Option(0, "--nice", min=0, max=19,
                                        help="lower this process's CPU priority by this much (os.nice)"),
               ) -> None:
    """Process the webhook inbox and email outbox in a separate process (several may run).

    Every thread claims a few due events at a time with FOR UPDATE SKIP LOCKED, so threads and processes never take the
    same event; the work waits on Postgres and Stripe, so threads overlap it and processes add cores. Logs are JSON
    lines on stderr (cashbook/logs.py); `--metrics-port` serves this process's counters (every process's, under
    `cashbook api`, which shares a PROMETHEUS_MULTIPROC_DIR) plus the inbox gauges read from Postgres.
    """
    from psycopg_pool import ConnectionPool

    from api.gcpolicy import freeze_startup_heap
    from api.main import resolve_database_url, worker_config
    from api.services.admin_jobs import AdminLoop
    from api.services.worker import Worker, worker_connection_options
    from api.settings import ApiSettings
    from cashbook.logs import configure_logging, get_logger
    from cashbook.stripe_gateway import GatewayConfig, StripeGateway

    configure_logging()
    log = get_logger("cashbook.worker")
    if nice:
        os.nice(nice)
    s = ApiSettings()
    core = get_settings()
    url = resolve_database_url(s, core)
    with ConnectionPool(url, min_size=1, max_size=3) as pool, \
            ConnectionPool(url, min_size=1, max_size=concurrency + 1,
                           kwargs=worker_connection_options(s.worker_synchronous_commit)) as event_pool:
        metrics_server = _serve_metrics(pool, metrics_host, metrics_port) if metrics_port is not None else None
        workers = [Worker(event_pool, StripeGateway(GatewayConfig.from_settings(core)), worker_config(s))
                   for _ in range(concurrency)]
        try:
            if once:
                totals = [0] * concurrency
                errors: list[BaseException] = []

                def drain(i: int) -> None:
                    try:
                        while (n := workers[i].process_batch()):
                            totals[i] += n
                    except BaseException as exc:  # surfaced below: --once must fail loudly, as with one thread
                        errors.append(exc)

                _run_threads([threading.Thread(target=drain, args=(i,), name=f"worker-{i}")
                              for i in range(concurrency)])
                if errors:
                    raise errors[0]
                typer.echo(f"processed {sum(totals)} event(s)")
                return
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            if parent_pid is not None:  # a `cashbook api` killed with SIGKILL must not leave its workers running
                threading.Thread(target=_stop_when_orphaned, args=(parent_pid, stop), daemon=True).start()
            admin = AdminLoop(pool, s, core)  # queued reconcile jobs, scheduled retention (issue 13)
            freeze_startup_heap()  # full GCs over the import heap took 50-95 ms: storm lag (api/gcpolicy.py)
            log.info("worker started", threads=concurrency, metrics_port=metrics_port)
            _run_threads([threading.Thread(target=w.run_forever, args=(s.worker_poll_seconds, stop),
                                           name=f"worker-{i}") for i, w in enumerate(workers)]
                         + [threading.Thread(target=admin.run_forever, args=(s.worker_poll_seconds, stop),
                                             name="admin-jobs")], stop)
            log.info("worker stopped")
        finally:
            if metrics_server is not None:
                metrics_server.shutdown()


def _stop_when_orphaned(parent_pid: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            stop.set()


def _serve_metrics(pool: Any, host: str, port: int) -> Any:
    """prometheus-client's HTTP server on a thread: the process's (or all processes') metrics + inbox gauges."""
    from prometheus_client import start_http_server

    from cashbook.metrics import InboxCollector, scrape_registry

    server, _thread = start_http_server(port, addr=host, registry=scrape_registry(
        [InboxCollector(lambda: pool.connection(timeout=2))]))
    return server


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
            webhook_workers: int = typer.Option(
                1, "--webhook-workers", min=0,
                help="webhook worker processes started beside the API (`cashbook worker`); 0: none, run them"
                     " yourself (or set CASHBOOK_API_WORKER_IN_PROCESS=true for a thread in each API process)"),
            webhook_concurrency: int = typer.Option(
                1, "--webhook-concurrency", min=1,
                help="threads per webhook worker process. 1: a burst's booking takes one core at most and intake"
                     " keeps the other (docs/deploy.md); raise it when many events wait on Stripe fetches"),
            webhook_nice: int = typer.Option(
                0, "--webhook-nice", min=0, max=19,
                help="run the webhook workers this much below the API's CPU priority (intake first when CPU is"
                     " short; processing lag grows: with 5 the storm's lag p99 went past 1 s on the bench machine)"),
            forwarded_allow_ips: str | None = typer.Option(
                None, "--forwarded-allow-ips",
                help="load balancer addresses trusted for X-Forwarded-* (uvicorn's default: 127.0.0.1)"),
            app_path: str = typer.Option("api.main:app", "--app", hidden=True,
                                         help="ASGI app import string (benchmarks add a bare endpoint)"),
            factory: bool = typer.Option(False, "--factory", hidden=True, help="--app names an app factory"),
            ) -> None:
    """Serve the billing API with uvicorn, and process webhooks in their own processes.

    Layout (docs/deploy.md): N uvicorn worker processes behind one port, each with its own pool, answering requests
    only; `--webhook-workers` `cashbook worker` processes beside them process the inbox, so event processing never
    competes with intake for the request processes' CPU (issue 15). Several processes are safe: migrations take a
    lock, the inbox is claimed with SKIP LOCKED, idempotency keys are rows in Postgres. Metrics of every process are
    summed on `/metrics` through a shared PROMETHEUS_MULTIPROC_DIR. Logs are JSON lines on stderr.
    """
    import uvicorn

    from cashbook.logs import configure_logging

    configure_logging()
    multiproc = _multiproc_dir()
    if webhook_workers:
        os.environ["CASHBOOK_API_WORKER_IN_PROCESS"] = "false"  # inherited by the uvicorn workers
    children = _WebhookWorkers(webhook_workers, webhook_concurrency, webhook_nice)
    try:
        children.start()
        # log_config=None: uvicorn's loggers propagate to the JSON handler; our middleware writes the access line
        # http: uvicorn's httptools protocol writing each response once (api/http_protocol.py)
        uvicorn.run(app_path, host=host, port=port, workers=workers, factory=factory, log_config=None,
                    log_level="info", access_log=False, forwarded_allow_ips=forwarded_allow_ips,
                    http="api.http_protocol:CoalescingHttpToolsProtocol")
    finally:
        children.stop()
        if multiproc is not None:
            shutil.rmtree(multiproc, ignore_errors=True)


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # not imported from cashbook.metrics: prometheus-client must load after it is set


def _multiproc_dir() -> str | None:
    """Point prometheus-client's multiprocess mode at a directory every child inherits.

    The operator's PROMETHEUS_MULTIPROC_DIR is used (and emptied: values of a previous run must not be summed in);
    otherwise a private temporary directory, removed at exit (returned so the caller removes it)."""
    import tempfile

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return None
    made = tempfile.mkdtemp(prefix="cashbook-prometheus-")
    os.environ[MULTIPROC_ENV] = made
    return made


class _WebhookWorkers:
    """`cashbook worker` child processes of `cashbook api`, restarted (after a pause) when one exits early."""

    RESTART_PAUSE_SECONDS = 2.0

    def __init__(self, count: int, concurrency: int, nice: int = 0) -> None:
        self.count, self.concurrency, self.nice = count, concurrency, nice
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="webhook-workers", daemon=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "cashbook", "worker", "--concurrency", str(self.concurrency),
                                 "--parent-pid", str(os.getpid()), "--nice", str(self.nice)])

    def start(self) -> None:
        if not self.count:
            return
        from cashbook.logs import get_logger

        self.procs = [self._spawn() for _ in range(self.count)]
        get_logger("cashbook.api").info("webhook workers started", processes=self.count,
                                        threads_each=self.concurrency, pids=[p.pid for p in self.procs])
        self.thread.start()

    def _watch(self) -> None:
        from cashbook.logs import get_logger

        log = get_logger("cashbook.api")
        while not self.stopping.wait(0.5):
            for i, p in enumerate(self.procs):
                if p.poll() is not None and not self.stopping.is_set():
                    log.error("webhook worker exited; restarting", pid=p.pid, returncode=p.returncode)
                    if self.stopping.wait(self.RESTART_PAUSE_SECONDS):
                        return
                    self.procs[i] = self._spawn()

    def stop(self) -> None:
        self.stopping.set()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

"""The FastAPI app. `create_app(...)` lets tests and benchmarks point it at their own database and Stripe.

On start: check settings (no webhook secret outside dev → refuse), apply migrations, open the pool and
start the in-process worker thread; on stop: stop the worker and close the pool.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from api import gcpolicy, observability, openapi, problems, web
from api.audit import AuditMiddleware
from api.ratelimit import RateLimitMiddleware, RateLimits
from api.routes import admin, analytics, billing, health, webhooks
from api.services.admin_jobs import AdminLoop
from api.services.worker import Worker, WorkerConfig
from api.settings import ApiSettings
from cashbook.db.migrate import migrate
from cashbook.settings import Settings, get_settings
from cashbook.stripe_gateway import GatewayConfig, StripeGateway


def worker_config(s: ApiSettings) -> WorkerConfig:
    return WorkerConfig(batch=s.worker_batch, claim=s.worker_claim, max_attempts=s.worker_max_attempts,
                        backoff_seconds=s.worker_backoff_seconds, backoff_max_seconds=s.worker_backoff_max_seconds,
                        smtp_host=s.smtp_host, smtp_port=s.smtp_port, smtp_from=s.smtp_from)


def resolve_database_url(api: ApiSettings, core: Settings) -> str:
    from cashbook.db import database_url

    return api.database_url or database_url(core)


def create_app(settings: ApiSettings | None = None, *, database_url: str | None = None,
               gateway: StripeGateway | None = None, core: Settings | None = None) -> FastAPI:
    api_settings = settings or ApiSettings()
    core_settings = core or get_settings()
    stripe_gateway = gateway or StripeGateway(GatewayConfig.from_settings(core_settings))
    api_settings.check(stripe_gateway.config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url or resolve_database_url(api_settings, core_settings)
        if api_settings.auto_migrate:
            migrate(url)
        pool = ConnectionPool(url, min_size=api_settings.pool_min, max_size=api_settings.pool_max, open=False)
        pool.open(wait=True, timeout=30)
        app.state.pool = pool
        app.state.gateway = stripe_gateway
        stop = threading.Event()
        thread = None
        app.state.wakeup = None
        if api_settings.worker_in_process:
            app.state.wakeup = threading.Event()
            worker = Worker(pool, app.state.gateway, worker_config(api_settings))
            thread = threading.Thread(target=worker.run_forever, name="cashbook-worker", daemon=True,
                                      args=(api_settings.worker_poll_seconds, stop, app.state.wakeup))
            thread.start()
            # issue 13: queued reconcile jobs and scheduled retention (api/services/admin_jobs.py)
            admin_loop = AdminLoop(pool, api_settings, core_settings)
            admin_thread = threading.Thread(target=admin_loop.run_forever, name="cashbook-admin-jobs", daemon=True,
                                            args=(api_settings.worker_poll_seconds, stop))
            admin_thread.start()
        gcpolicy.freeze_startup_heap()  # a full GC over the startup heap was the tail (api/gcpolicy.py)
        try:
            yield
        finally:
            stop.set()
            if app.state.wakeup is not None:
                app.state.wakeup.set()
            if thread is not None:
                thread.join(timeout=10)
                admin_thread.join(timeout=10)
            pool.close()

    docs = api_settings.docs_on()
    app = FastAPI(title="cashbook billing API", version="0.1.0", lifespan=lifespan,
                  description="Subscriptions, credit purchases and Stripe webhooks. Amounts are integer minor units.",
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None)
    app.state.settings = api_settings
    app.state.webhook_secrets = api_settings.webhook_secrets()
    app.state.lease_seconds = api_settings.lease_seconds(stripe_gateway.config)
    problems.install(app)
    openapi.install(app)
    # first: routes are matched in order, and Stripe's deliveries are the hot path (matching cost ~8% of a webhook)
    app.include_router(webhooks.router)
    webhooks.install_fast_path(app)  # innermost middleware: Stripe's deliveries skip the router (issue 15)
    app.state.ratelimits = RateLimits.from_settings(api_settings)
    if api_settings.rate_limit_enabled:  # the dependencies check `enabled` themselves
        app.add_middleware(RateLimitMiddleware, limits=app.state.ratelimits)
    app.add_middleware(AuditMiddleware, get_pool=lambda scope: scope["app"].state.inbox_pool)
    analytics.install(app)  # /api/analytics/* and the request statistics its health route reads
    web.install(app, cors_origins=api_settings.cors_origins(), hsts_seconds=api_settings.hsts())
    observability.install(app, access_log=api_settings.access_log)  # outermost: request id, metrics, /metrics
    app.include_router(health.router)
    app.include_router(billing.router)
    app.include_router(admin.router)
    return app


def __getattr__(name: str) -> FastAPI:
    """`api.main:app` for uvicorn, built on first access so importing the module has no side effects."""
    if name == "app":
        global app
        from cashbook.logs import configure_logging

        configure_logging()  # each uvicorn worker process: JSON lines on stderr (cashbook/logs.py)
        app = create_app()
        return app
    raise AttributeError(name)

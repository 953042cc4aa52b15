"""Prometheus metrics of the billing API and the webhook worker (prometheus-client).

Why here (and not in `api/`): the Stripe gateway and the pager sinks live in `cashbook`, and they count their own
calls. Every metric is defined once at import; a process that never serves them just increments counters.

Several processes: `cashbook api` runs N uvicorn workers (and webhook worker processes), each with its own
counters. When `PROMETHEUS_MULTIPROC_DIR` is set (by `cashbook api`, before any child imports this module)
prometheus-client writes every process's values to files there, and a scrape of any process's `/metrics` (or of a
worker's `--metrics-port`) sums them (`MultiProcessCollector`). Without it, a process serves its own registry.

The inbox gauges (`cashbook_webhook_inbox_*`) are not counters kept in memory: `InboxCollector` asks Postgres at
scrape time, so every process reports the same truth and a dead worker cannot leave a stale value behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# request latency buckets (seconds): the webhook target is p99 < 20 ms, checkout calls Stripe (hundreds of ms)
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("cashbook_http_requests_total", "HTTP requests answered by the API",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("cashbook_http_request_duration_seconds",
                         "Time from the request's arrival to the end of its response, by route template",
                         ["method", "route", "status"], buckets=_HTTP_BUCKETS)
WEBHOOKS_RECEIVED = Counter("cashbook_webhook_deliveries_total",
                            "Signed webhook deliveries stored in the inbox (duplicate=true: already stored)",
                            ["duplicate"])
EVENTS = Counter("cashbook_webhook_events_total",
                 "Webhook events handled by the worker, by Stripe event type and outcome"
                 " (processed, ignored, failed = will be retried, parked = manual_review)", ["type", "outcome"])
EVENT_SECONDS = Histogram("cashbook_webhook_event_processing_seconds",
                          "Time the worker spent on one event (claim to commit, Stripe fetch included)", ["type"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
STRIPE_CALLS = Counter("cashbook_stripe_requests_total",
                       "Stripe API calls through StripeGateway, by SDK method and outcome (ok, or the error code)",
                       ["method", "outcome"])
STRIPE_RETRIES = Counter("cashbook_stripe_retries_total",
                         "Network retries the Stripe SDK made inside one gateway call (connection errors, 409/429/5xx)")
STRIPE_ERRORS = Counter("cashbook_stripe_errors_total",
                        "Stripe API calls that ended in an error, by error code (card declines included)",
                        ["method", "code"])
STRIPE_LATENCY = Histogram("cashbook_stripe_request_duration_seconds", "Wall time of one gateway call, retries"
                           " included", ["method"],
                           buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
PAGES = Counter("cashbook_pages_total",
                "Alert notifications to on-call sinks, by sink, action (trigger, resolve) and outcome"
                " (sent, undelivered: the alert stays recorded and the sensors retry it)",
                ["sink", "action", "outcome"])

INBOX_SQL = ("SELECT status, count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0)"
             " FROM webhook_events WHERE status IN ('pending', 'failed', 'manual_review') GROUP BY status")


class InboxCollector(Collector):
    """Backlog and oldest-pending age of the webhook inbox, read from Postgres at each scrape.

    `connect` returns a context manager yielding a psycopg connection (a pool's `connection`, or `psycopg.connect`).
    If Postgres cannot be read, the scrape still answers, with `cashbook_webhook_inbox_up 0`, so an alert on
    the gauge itself can fire instead of the whole scrape failing."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self.connect = connect

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("cashbook_webhook_inbox_up", "1 when the inbox gauges could be read from Postgres")
        backlog = GaugeMetricFamily("cashbook_webhook_inbox_backlog",
                                    "Inbox events not yet handled: pending (due now), failed (waiting for a retry),"
                                    " manual_review (parked, needs a human)", labels=["status"])
        age = GaugeMetricFamily("cashbook_webhook_inbox_oldest_age_seconds",
                                "Age of the oldest event in each unhandled status (0 when there is none)",
                                labels=["status"])
        counts = {"pending": (0, 0.0), "failed": (0, 0.0), "manual_review": (0, 0.0)}
        try:
            with self.connect() as conn:
                for status, n, oldest in conn.execute(INBOX_SQL).fetchall():
                    counts[status] = (int(n), float(oldest))
            up.add_metric([], 1)
        except Exception:  # the scrape must answer even with Postgres down
            up.add_metric([], 0)
            yield up
            return
        for status, (n, oldest) in counts.items():
            backlog.add_metric([status], n)
            age.add_metric([status], oldest)
        yield up
        yield backlog
        yield age


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def scrape_registry(extra: list[Collector] | None = None) -> CollectorRegistry:
    """The registry to expose: every process's values in multiprocess mode, this process's otherwise."""
    path = multiprocess_dir()
    if path:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    for collector in extra or []:
        registry.register(collector)
    return registry


class _Forward(Collector):
    """The process's default registry as one collector, so a scrape registry can add the inbox gauges to it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        yield from self.registry.collect()


def render(extra: list[Collector] | None = None) -> tuple[bytes, str]:
    """(body, content type) of one scrape."""
    return generate_latest(scrape_registry(extra)), CONTENT_TYPE_LATEST


def observe_stripe_call(method: str, started: float, outcome: str) -> None:
    STRIPE_CALLS.labels(method, outcome).inc()
    STRIPE_LATENCY.labels(method).observe(time.perf_counter() - started)
    if outcome != "ok":
        STRIPE_ERRORS.labels(method, outcome).inc()

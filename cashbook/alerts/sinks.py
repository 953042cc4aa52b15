"""Where pages go: PagerDuty Events API v2, a Slack-compatible incoming webhook, and the log.

Each delivery is retried with exponential backoff (tenacity) on network errors, 429 and 5xx; a sink that
still fails raises, and the alert stays marked undelivered for that sink so the next evaluation retries it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from cashbook import metrics
from cashbook.logs import get_logger

log = get_logger("cashbook.alerts")

PD_SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}


@dataclass(frozen=True)
class Page:
    """What a sink needs to know about one alert."""

    dedup_key: str
    rule: str
    scope: str
    severity: str
    summary: str
    value: float | None
    threshold: float | None
    links: dict[str, str]


class Sink(Protocol):
    name: str

    def trigger(self, page: Page) -> None: ...
    def resolve(self, page: Page) -> None: ...


class DeliveryError(RuntimeError):
    pass


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, DeliveryError) and getattr(exc, "retryable", False)


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> None:
    resp = client.post(url, json=body)
    if not 200 <= resp.status_code < 300:  # PagerDuty answers 202, Slack 200
        err = DeliveryError(f"{url} answered {resp.status_code}: {resp.text[:200]}")
        err.retryable = resp.status_code == 429 or resp.status_code >= 500  # type: ignore[attr-defined]
        raise err


_retry = retry(
    retry=retry_if_exception(_retryable),
    wait=wait_exponential_jitter(initial=0.2, max=5),
    stop=stop_after_attempt(4),
    reraise=True,
)


def _counted(action: str) -> Any:
    """Count each delivery once, after its retries: `cashbook_pages_total{sink, action, outcome}`."""
    def wrap(fn: Any) -> Any:
        @functools.wraps(fn)
        def counted(self: Any, page: Page) -> None:
            try:
                fn(self, page)
            except BaseException:
                metrics.PAGES.labels(self.name, action, "undelivered").inc()
                raise
            metrics.PAGES.labels(self.name, action, "sent").inc()
        return counted
    return wrap


class _HttpSink:
    """A sink that POSTs a JSON body per trigger/resolve; subclasses only say what the body is."""

    name = "http"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout)

    def trigger_body(self, page: Page) -> dict[str, Any]:
        raise NotImplementedError

    def resolve_body(self, page: Page) -> dict[str, Any]:
        raise NotImplementedError

    @_counted("trigger")
    @_retry
    def trigger(self, page: Page) -> None:
        _post(self.client, self.url, self.trigger_body(page))

    @_counted("resolve")
    @_retry
    def resolve(self, page: Page) -> None:
        _post(self.client, self.url, self.resolve_body(page))


class PagerDutySink(_HttpSink):
    """PagerDuty Events API v2: trigger and resolve share the dedup_key, so PagerDuty dedups too."""

    name = "pagerduty"

    def __init__(self, routing_key: str, url: str = "https://events.pagerduty.com/v2/enqueue",
                 timeout: float = 10.0) -> None:
        super().__init__(url, timeout)
        self.routing_key = routing_key

    def trigger_body(self, page: Page) -> dict[str, Any]:
        return {
            "routing_key": self.routing_key,
            "event_action": "trigger",
            "dedup_key": page.dedup_key,
            "payload": {
                "summary": page.summary[:1024],
                "source": "cashbook",
                "severity": PD_SEVERITY.get(page.severity, "error"),
                "component": page.rule,
                "group": "cashbook",
                "class": page.rule,
                "custom_details": {"scope": page.scope, "value": page.value, "threshold": page.threshold},
            },
            "links": [{"href": href, "text": text} for text, href in sorted(page.links.items())],
        }

    def resolve_body(self, page: Page) -> dict[str, Any]:
        return {"routing_key": self.routing_key, "event_action": "resolve", "dedup_key": page.dedup_key}


class SlackSink(_HttpSink):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat accept `text`)."""

    name = "slack"

    def trigger_body(self, page: Page) -> dict[str, Any]:
        links = " · ".join(f"<{href}|{text}>" for text, href in sorted(page.links.items()))
        return {"text": f":rotating_light: [{page.severity.upper()}] {page.summary}" + (f"\n{links}" if links else "")}

    def resolve_body(self, page: Page) -> dict[str, Any]:
        return {"text": f":white_check_mark: [RESOLVED] {page.rule} ({page.scope}) is back within its threshold"}


class LogSink:
    """Always on: the alert is at least in the logs (and in analytics.alerts)."""

    name = "log"

    @_counted("trigger")
    def trigger(self, page: Page) -> None:
        log.warning("alert.triggered", dedup_key=page.dedup_key, severity=page.severity, summary=page.summary,
                    links=page.links)

    @_counted("resolve")
    def resolve(self, page: Page) -> None:
        log.info("alert.resolved", dedup_key=page.dedup_key, rule=page.rule, scope=page.scope)


def sinks_from_config(config: Any) -> list[Sink]:
    sinks: list[Sink] = [LogSink()]
    if config.pagerduty_routing_key:
        sinks.append(PagerDutySink(config.pagerduty_routing_key, config.pagerduty_url))
    if config.slack_webhook_url:
        sinks.append(SlackSink(config.slack_webhook_url))
    return sinks

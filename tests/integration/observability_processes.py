"""The shipped API layout as real processes for the observability tests: `cashbook api` (uvicorn workers plus
webhook worker processes) or a lone `cashbook worker --metrics-port`, with stderr captured to a file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.integration.api_fixtures import JWT_SECRET, WEBHOOK_SECRET, free_port

ROOT = Path(__file__).resolve().parents[2]
STRIPE_KEY = "sk_test_0bservabilityKeyMustNotLeak42"


def layout_env(pg_url: str, home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=pg_url, CASHBOOK_HOME=str(home), DAGSTER_HOME=str(home / "dagster"),
               CASHBOOK_API_ENV="test", JWT_SECRET=JWT_SECRET, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
               STRIPE_API_KEY=STRIPE_KEY, STRIPE_API_BASE="http://127.0.0.1:9",  # nothing listens: fails fast
               STRIPE_MAX_NETWORK_RETRIES="1", CASHBOOK_API_WORKER_POLL_SECONDS="0.05",
               CASHBOOK_API_WORKER_BACKOFF_SECONDS="0", CASHBOOK_API_RATE_LIMIT_ENABLED="false",
               CASHBOOK_LOG_LEVEL="INFO")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        """Every stderr line parsed as JSON (a line that is not JSON fails the test that reads it)."""
        out = []
        for line in self.lines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"log line is not JSON: {line[:300]!r}") from None
        return out


def wait_http(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s: {log_path.read_text()[-3000:]}")


@contextmanager
def running(args: list[str], env: dict[str, str], log_path: Path, port: int, ready_path: str) -> Iterator[Proc]:
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cashbook", *args], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}{ready_path}", proc, log_path)
        yield Proc(proc, log_path, port)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def api_layout(pg_url: str, home: Path, *, workers: int = 2, webhook_workers: int = 1,
               **extra: str) -> Iterator[Proc]:
    """`cashbook api --workers N --webhook-workers M` as `make api` runs it (defaults aside from the counts)."""
    port = free_port()
    args = ["api", "--port", str(port), "--workers", str(workers), "--webhook-workers", str(webhook_workers)]
    with running(args, layout_env(pg_url, home, **extra), home / "api.log", port, "/healthz") as p:
        yield p


@contextmanager
def worker_process(pg_url: str, home: Path, **extra: str) -> Iterator[Proc]:
    port = free_port()
    args = ["worker", "--concurrency", "2", "--metrics-port", str(port)]
    with running(args, layout_env(pg_url, home, **extra), home / "worker.log", port, "/metrics") as p:
        yield p


def sample(text: str, name: str, **labels: str) -> float | None:
    """One sample's value from a Prometheus text exposition (labels must match exactly those given)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None

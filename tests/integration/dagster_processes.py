"""Helpers for tests that run Dagster's processes for real: start/stop process groups, wait, talk GraphQL.

Every process starts in its own session so stopping it also stops what it spawned (the code server's code
process, run workers). Output goes to a log file that a failure message quotes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_password(url: str, password: str) -> tuple[str, str]:
    """The URL with a password (trust auth ignores it) and the password in effect; one already there is kept."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        userinfo, hostport = "postgres", parts.netloc
    user, _, existing = userinfo.partition(":")
    if existing:
        return url, existing
    netloc = f"{user}:{password}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), password


class Proc:
    """A long-running process with its output in a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("w")
        self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()}")

    def stop(self, timeout: float = 30) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        with contextlib.suppress(ProcessLookupError):  # children that outlived the leader (group id = its pid)
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._log.close()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, procs: list[Proc] = (),  # type: ignore[assignment]
             interval: float = 1.0) -> T:
    """Poll `probe` until it returns something truthy; fail early when a process died, with its log."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for p in procs:
            p.check_alive()
        try:
            value = probe()
            if value:
                return value
        except (OSError, urllib.error.URLError, httpx.HTTPError, KeyError, TypeError) as exc:
            last_error = exc
        time.sleep(interval)
    logs = "\n".join(f"--- {p.name}\n{p.log(2000)}" for p in procs)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})\n{logs}")


def graphql(base_url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST a query to the webserver's /graphql, the way the UI does; GraphQL errors raise."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"{base_url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        payload = json.load(resp)
    if payload.get("errors"):
        raise AssertionError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


def cashbook(*args: str) -> list[str]:
    return [str(BIN / "cashbook"), *args]


def dagster(*args: str) -> list[str]:
    return [str(BIN / "dagster"), *args]

"""`cashbook serve`: the whole production topology on one machine, each part its own process.

A supervisor for trying the topology locally (`make prod-local`) or on a single host: it prepares the instance once,
starts the code server, webserver, daemon, API (N uvicorn workers) and webhook workers as the same commands a
process manager would run (docs/deploy.md), prefixes their output with their name, and stops them all when one
exits or on Ctrl-C/SIGTERM. On several machines, run those commands under systemd, Kubernetes, etc. instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import typer

from cashbook.cli import app
from cashbook.cli.console import console
from cashbook.settings import get_settings

STOP_GRACE_SECONDS = 30


def _pump(name: str, stream, lock: threading.Lock) -> None:  # type: ignore[no-untyped-def]
    for line in iter(stream.readline, ""):
        with lock:
            sys.stdout.write(f"{name:<11}| {line}")
            sys.stdout.flush()


@app.command("serve")
def serve(host: str = typer.Option("127.0.0.1", "--host", help="interface every part listens on"),
          ui_port: int = typer.Option(3000, "--ui-port"),
          code_server_port: int = typer.Option(4266, "--code-server-port"),
          api_port: int = typer.Option(8000, "--api-port"),
          api_workers: int = typer.Option(2, "--api-workers", min=1),
          worker_concurrency: int = typer.Option(
              1, "--worker-concurrency", min=1,
              help="threads of the webhook worker (1: it leaves the API a core during a burst, docs/deploy.md)"),
          api: bool = typer.Option(True, "--api/--no-api", help="also run the billing API and webhook workers")
          ) -> None:
    """Run code server, Dagster webserver and daemon, API workers and webhook workers as separate processes."""
    from cashbook.cli.commands_pipeline import prepare_instance
    from cashbook.cli.dagster_runs import python_module

    env = prepare_instance(get_settings())  # once, so the children do not race on a fresh database
    cli = python_module("cashbook")
    target = f"{host}:{code_server_port}"
    parts = [
        ("code-server", [*cli, "dagster", "code-server", "--host", host, "--port", str(code_server_port)]),
        ("webserver", [*cli, "dagster", "webserver", "--host", host, "--port", str(ui_port), "--code-server", target]),
        ("daemon", [*cli, "dagster", "daemon", "--code-server", target]),
    ]
    if api:
        # webhook events are processed by the worker processes, not by threads inside the API workers
        env = dict(env, CASHBOOK_API_WORKER_IN_PROCESS="false")
        parts += [
            ("api", [*cli, "api", "--host", host, "--port", str(api_port), "--workers", str(api_workers),
                     "--webhook-workers", "0"]),  # the `worker` part below processes the inbox
            ("worker", [*cli, "worker", "--concurrency", str(worker_concurrency)]),
        ]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    lock = threading.Lock()
    procs: list[tuple[str, subprocess.Popen[str]]] = []
    for name, args in parts:
        p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)  # own group: a stop reaches the part's children too
        threading.Thread(target=_pump, args=(name, p.stdout, lock), daemon=True).start()
        procs.append((name, p))
    console.print(f"[green]started[/green]: Dagster UI http://{host}:{ui_port}  code server {target}"
                  + (f"  API http://{host}:{api_port} ({api_workers} workers)  worker x{worker_concurrency}"
                     if api else "") + "  (Ctrl-C stops all)")
    failed = None
    while not stop.is_set() and failed is None:
        failed = next((name for name, p in procs if p.poll() is not None), None)
        stop.wait(1)
    for _, p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for _, p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.1, deadline - time.monotonic()))
    for _, p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
    if failed is not None:
        code = dict(procs)[failed].returncode
        console.print(f"[red]{failed} exited with {code}; stopped the others[/red]")
        raise typer.Exit(1)
    console.print("stopped")

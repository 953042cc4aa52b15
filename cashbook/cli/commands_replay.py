"""`cashbook stripe-replay`: serve an export directory as a local, Stripe-shaped API for tests and demos."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from cashbook.cli import app


@app.command("stripe-replay")
def stripe_replay(
    export_dir: Path = typer.Argument(..., help="Export directory (DESIGN Contract 1) to serve."),
    port: int = typer.Option(8421, "--port", help="Port on 127.0.0.1 (0 = any free port)."),
    latency_ms: float = typer.Option(0.0, "--latency-ms", help="Added latency per /v1 request."),
    error_rate: float = typer.Option(0.0, "--error-rate", min=0.0, max=1.0,
                                     help="Share of /v1 requests answered with an injected 429 or 500."),
    error_statuses: str = typer.Option("429,500", "--error-statuses", help="Injected statuses, comma-separated."),
    retry_after: float = typer.Option(1.0, "--retry-after", help="Retry-After seconds on injected 429s."),
    seed: int = typer.Option(0, "--seed", help="Seed for error injection."),
) -> None:
    """Serve EXPORT_DIR with Stripe list semantics on 127.0.0.1; prints the base URL, then runs until Ctrl-C.

    Point the API source at it with STRIPE_SOURCE=api STRIPE_API_BASE=<url> STRIPE_API_KEY=sk_test_anything.
    Request counts per second: GET <url>/_replay/stats.
    """
    from cashbook.replay import ReplayConfig, serve_forever

    def ready(url: str, counts: dict[str, int]) -> None:
        typer.echo(url)
        loaded = ", ".join(f"{k}={v}" for k, v in counts.items() if v)
        typer.echo(f"serving {export_dir} ({loaded})", err=True)

    statuses = tuple(int(x) for x in error_statuses.split(",") if x.strip())
    cfg = ReplayConfig(latency_ms=latency_ms, error_rate=error_rate, error_statuses=statuses,
                       retry_after=retry_after, seed=seed)
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(export_dir, port=port, config=cfg, on_ready=ready)

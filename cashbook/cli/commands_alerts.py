"""`cashbook alerts`: evaluate the thresholds now (what the sensors do) and show open alerts."""

from __future__ import annotations

import psycopg
import typer
from rich.table import Table

from cashbook.cli import app
from cashbook.cli.console import console
from cashbook.settings import get_settings


@app.command("alerts")
def alerts(
    evaluate: bool = typer.Option(True, help="Evaluate every rule before listing (pages new breaches)"),
) -> None:
    """Evaluate alert thresholds, page new breaches through the configured sinks, list open alerts."""
    from cashbook.alerts.config import load_alerts_config
    from cashbook.alerts.engine import evaluate_and_page
    from cashbook.alerts.sinks import sinks_from_config
    from cashbook.db import database_url
    from cashbook.db.migrate import migrate

    s = get_settings()
    url = database_url(s)
    migrate(url)
    if evaluate:
        config = load_alerts_config()
        report = evaluate_and_page(url, s.lake_dir, config, sinks_from_config(config))
        console.print(f"[dim]evaluation: {report.summary()}[/dim]")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT severity, rule, scope, summary, first_seen_at, paged_at IS NOT NULL FROM analytics.alerts "
            "WHERE status = 'open' ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'error' THEN 1 "
            "WHEN 'warning' THEN 2 ELSE 3 END, rule, scope").fetchall()
    table = Table(title=f"open alerts ({len(rows)})")
    table.add_column("severity")
    table.add_column("rule", no_wrap=True)
    table.add_column("scope", no_wrap=True, max_width=24)
    table.add_column("summary", ratio=1)
    table.add_column("paged", no_wrap=True)
    for sev, rule, scope, summary, _since, paged in rows[:30]:
        table.add_row(sev, rule, scope, summary, "yes" if paged else "retrying")
    console.print(table)
    if len(rows) > 30:
        console.print(f"... and {len(rows) - 30} more (SELECT * FROM analytics.alerts WHERE status = 'open')")

"""The code location: every asset and check under `assets/`, resources built from settings.

Secrets never reach the Dagster UI: a secret taken from the process environment is passed as `dg.EnvVar`, so the
UI and GraphQL show the variable's name and the value is resolved only where a run or sensor executes. A secret
from elsewhere (`.env`, or settings a test builds) goes in as a value into a field marked secret, which the UI
masks. Unset secrets stay empty, and the resources fall back to the embedded defaults (embedded Postgres, the
export directory), so loading and runs never depend on a variable that is not there.
"""

from __future__ import annotations

import os

import dagster as dg

import assets
from assets.partitions import with_partition_start
from assets.resources import (
    LakeResource,
    LedgerSourceResource,
    PostgresResource,
    StripeSourceResource,
    WarehouseResource,
)
from cashbook.settings import Settings, get_settings
from pipelines.alert_sensors import alert_sensors
from pipelines.jobs import DEFAULT_EXECUTOR, raw_job, warehouse_job
from pipelines.schedules import daily_raw_schedule
from pipelines.sensors import analyst_warehouse_automation, warehouse_after_raw
from pipelines.stripe_refresh import stripe_events_refresh


def secret(env_var: str, value: str | None) -> str | dg.EnvVar:
    """`dg.EnvVar(env_var)` when the value is that variable's, else the value itself (may be empty)."""
    if value and os.environ.get(env_var) == value:
        return dg.EnvVar(env_var)
    return value or ""


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    home = str(settings.cashbook_home)
    return {
        "lake": LakeResource(lake_dir=str(settings.lake_dir), partition_start=settings.partition_start.isoformat(),
                             freshness_max_age_hours=settings.freshness_max_age_hours),
        "warehouse": WarehouseResource(
            cashbook_home=home,
            reconcile_grace_days=settings.reconcile_grace_days,
            reporting_currency=settings.reporting_currency or "",
            exchange_rates_csv=str(settings.exchange_rates_csv or ""),
        ),
        "postgres": PostgresResource(database_url=secret("DATABASE_URL", settings.database_url), cashbook_home=home),
        "stripe": StripeSourceResource(
            source=settings.stripe_source,
            export_dir=str(settings.stripe_export_dir),
            api_key=secret("STRIPE_API_KEY", settings.stripe_api_key),
            api_base=settings.stripe_api_base or "",
            rate_limit=settings.stripe_rate_limit or 0.0,
            lookback_days=settings.stripe_lookback_days,
        ),
        "ledger": LedgerSourceResource(
            source=settings.ledger_source,
            csv_patterns=settings.ledger_csv_patterns(),
            quarantine_dir=str(settings.cashbook_home / "rejects") if settings.ledger_rejects == "quarantine" else "",
        ),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or get_settings()
    return dg.Definitions(
        assets=with_partition_start(dg.load_assets_from_package_module(assets), settings.partition_start),
        asset_checks=dg.load_asset_checks_from_package_module(assets),
        jobs=[raw_job, warehouse_job],
        schedules=[daily_raw_schedule],
        sensors=[warehouse_after_raw, analyst_warehouse_automation, stripe_events_refresh, *alert_sensors],
        executor=DEFAULT_EXECUTOR,
        resources=build_resources(settings),
    )


defs = build_definitions()

"""The code location: every asset and check under `assets/`, resources built from settings."""

from __future__ import annotations

import dagster as dg

import assets
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


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    home = str(settings.cashbook_home)
    return {
        "lake": LakeResource(lake_dir=str(settings.lake_dir)),
        "warehouse": WarehouseResource(cashbook_home=home),
        "postgres": PostgresResource(database_url=settings.database_url or "", cashbook_home=home),
        "stripe": StripeSourceResource(
            source=settings.stripe_source,
            export_dir=str(settings.stripe_export_dir),
            api_key=settings.stripe_api_key or "",
            api_base=settings.stripe_api_base or "",
            rate_limit=settings.stripe_rate_limit or 0.0,
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
        assets=dg.load_assets_from_package_module(assets),
        asset_checks=dg.load_asset_checks_from_package_module(assets),
        jobs=[raw_job, warehouse_job],
        schedules=[daily_raw_schedule],
        sensors=[warehouse_after_raw, analyst_warehouse_automation, stripe_events_refresh, *alert_sensors],
        executor=DEFAULT_EXECUTOR,
        resources=build_resources(settings),
    )


defs = build_definitions()

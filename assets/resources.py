"""Resources the assets declare: small ConfigurableResources, instantiated from settings in pipelines/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb
import pyarrow as pa
from pydantic import Field, PrivateAttr

from cashbook import warehouse
from cashbook.settings import Settings, load_settings
from cashbook.snapshot import SnapshotInfo, publish_snapshot
from cashbook.sources.reader import StripeReader

if TYPE_CHECKING:  # imported when a run uses the API: the SDK is not needed to load the code location
    from cashbook.sources.stripe_api import StripeApiSource

# Dagster masks a field marked secret in the UI and GraphQL ("********") when it is given as a plain value;
# pipelines/ passes secrets that come from the environment as dg.EnvVar, which the UI shows by variable name.
SECRET = {"dagster__is_secret": True}


def _default(name: str) -> Any:
    """The settings' own default for a field, so a resource built without settings behaves like a fresh clone."""
    return Settings.model_fields[name].default


class LakeResource(dg.ConfigurableResource):
    """Where raw Parquet partitions live, the first daily partition, and how old the newest Stripe data may be."""

    lake_dir: str
    partition_start: str = Field(default=_default("partition_start").isoformat(),
                                 description="PARTITION_START: first daily partition (UTC), YYYY-MM-DD")
    freshness_max_age_hours: float = Field(default=_default("freshness_max_age_hours"), gt=0,
                                           description="FRESHNESS_MAX_AGE_HOURS: older raw Stripe data is stale")

    @property
    def path(self) -> Path:
        return Path(self.lake_dir)

    @property
    def first_day(self) -> dt.date:
        return dt.date.fromisoformat(self.partition_start)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse: the pipeline's build file, and the read-only copy it publishes for analysts.

    Steps that open the build file must run in the `duckdb` pool (one writer per file).
    """

    cashbook_home: str
    threads: int = 2
    # What the warehouse's SQL runs with: the reconciliation's grace window and the marts' reporting currency.
    reconcile_grace_days: int = Field(default=_default("reconcile_grace_days"), ge=0,
                                      description="RECONCILE_GRACE_DAYS")
    reporting_currency: str = Field(default="", description="REPORTING_CURRENCY; empty: no conversion")
    exchange_rates_csv: str = Field(default="", description="EXCHANGE_RATES_CSV for the reporting currency")
    _log: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._log = context.log  # lock waits show in the run's event log, not only on stderr

    def _warn(self, message: str) -> None:
        if self._log is not None:
            self._log.warning(message)
        else:
            warehouse.log.warning(message)

    def settings(self) -> Settings:
        """Settings as this resource configures them (for the cashbook functions that take `Settings`)."""
        return load_settings(cashbook_home=self.cashbook_home, reconcile_grace_days=self.reconcile_grace_days,
                             reporting_currency=self.reporting_currency or None,
                             exchange_rates_csv=self.exchange_rates_csv or None)

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        try:
            return warehouse.connect(self.settings(), read_only=read_only,
                                     threads=self.threads, warn=self._warn)
        except warehouse.WarehouseMissingError as exc:
            raise dg.Failure(str(exc)) from None

    def publish_snapshot(self, run_id: str = "") -> SnapshotInfo:
        """Copy the build file to `$CASHBOOK_HOME/warehouse.duckdb` atomically (cashbook.snapshot)."""
        settings = self.settings()
        return publish_snapshot(warehouse.build_path(settings), warehouse.published_path(settings), run_id=run_id)


class PostgresResource(dg.ConfigurableResource):
    """The cashbook Postgres (embedded or DATABASE_URL) for publishing marts and reading the API's ledger."""

    database_url: str = Field(default="", json_schema_extra=SECRET,
                              description="DATABASE_URL; empty: the embedded server under cashbook_home/pg")
    cashbook_home: str = ".cashbook"

    def url(self) -> str:
        from cashbook.db import database_url_for

        return database_url_for(self.database_url, Path(self.cashbook_home) / "pg")


class StripeSourceResource(dg.ConfigurableResource):
    """Stripe objects for a time window, from an export directory or the API (same rows either way)."""

    source: str = "export"  # "export" | "api"
    export_dir: str = ""
    api_key: str = Field(default="", json_schema_extra=SECRET, description="STRIPE_API_KEY")
    api_base: str = ""
    rate_limit: float = 0.0
    lookback_days: int = Field(default=_default("stripe_lookback_days"), ge=0,
                               description="STRIPE_LOOKBACK_DAYS: days before yesterday each scheduled run re-reads")

    def reader(self) -> StripeReader:
        """One reader per run: with the API, every stream shares its token bucket and counters."""
        if self.source == "api":
            return self.api_client()
        from cashbook.sources.export import ExportReader

        return ExportReader(Path(self.export_dir))

    def api_client(self) -> StripeApiSource:
        """The Stripe API client this resource is configured for (raw reads, the events refresher)."""
        from cashbook.sources.stripe_api import StripeApiSource

        if not self.api_key:
            raise dg.Failure("STRIPE_SOURCE=api needs STRIPE_API_KEY")
        return StripeApiSource(self.api_key, api_base=self.api_base or None, rate_limit=self.rate_limit or None)


class LedgerSourceResource(dg.ConfigurableResource):
    """The company ledger: CSV files and/or the billing API's Postgres table (`cashbook.sources.ledger`)."""

    source: str = "csv"  # csv | postgres | both
    csv_patterns: list[str] = []  # noqa: RUF012 (pydantic copies field defaults per instance)
    quarantine_dir: str = ""  # set: bad CSV rows go to a rejects file there instead of failing the load

    def read_range_with_info(self, start: dt.datetime, end: dt.datetime, pg: PostgresResource | None = None
                             ) -> tuple[pa.Table, dict[str, Any]]:
        """Entries with start <= occurred_at < end, and what was read (files, rejected rows)."""
        from cashbook.sources.ledger import read_ledger_window

        needs_pg = self.source in ("postgres", "both") and pg is not None
        return read_ledger_window(start, end, source=self.source, csv_patterns=self.csv_patterns,
                                  quarantine_dir=Path(self.quarantine_dir) if self.quarantine_dir else None,
                                  postgres_url=pg.url() if needs_pg else None)

"""Process-wide settings, read once from the environment and `.env`.

Every knob has an embedded default so a fresh clone runs with nothing set; a bad value fails at start
with the variable's name instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Pinned once for every live Stripe call (the SDK's own pin for stripe-python 16.x).
STRIPE_API_VERSION = "2026-10-28.endive"


class SettingsError(RuntimeError):
    """A configuration value is invalid; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    cashbook_home: Path = Field(default=Path(".cashbook"), description="Root for all local state.")
    database_url: str | None = Field(
        default=None, description="Postgres URL; unset starts the embedded server under $CASHBOOK_HOME/pg."
    )
    dagster_home: Path | None = Field(default=None, description="Defaults to $CASHBOOK_HOME/dagster.")

    stripe_source: Literal["api", "export"] = "export"
    stripe_export_dir: Path | None = Field(default=None, description="Defaults to $CASHBOOK_HOME/stripe_export.")
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    stripe_rate_limit: float | None = Field(default=None, gt=0, description="Requests/s; default by key mode.")
    stripe_lookback_days: int = Field(default=7, ge=0)
    # Live calls (billing API, worker): explicit bounds instead of the SDK's 80 s timeout (issue 12, defect 5).
    stripe_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    stripe_read_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    stripe_max_network_retries: int = Field(default=1, ge=0, le=5)
    stripe_breaker_fail_max: int = Field(default=5, ge=1, description="Consecutive failures that open the circuit.")
    stripe_breaker_reset_seconds: float = Field(default=30.0, gt=0, description="Open → half-open after this.")

    ledger_source: Literal["csv", "postgres", "both"] = "csv"
    ledger_csv_paths: str | None = Field(
        default=None, description="Comma-separated CSV files or globs; defaults to $CASHBOOK_HOME/ledger/*.csv."
    )
    ledger_rejects: Literal["fail", "quarantine"] = "fail"

    partition_start: dt.date = Field(default=dt.date(2025, 1, 1), description="First daily partition (UTC).")
    reconcile_grace_days: int = Field(default=3, ge=0)
    reporting_timezone: str = "UTC"
    reporting_currency: str | None = None
    exchange_rates_csv: Path | None = None
    max_concurrent_runs: int = Field(default=4, ge=1)
    freshness_max_age_hours: float = Field(default=36.0, gt=0, description="Raw Stripe data older fails freshness.")

    @field_validator("cashbook_home", mode="after")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @field_validator("reporting_currency", mode="after")
    @classmethod
    def _lower_currency(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if len(v) != 3 or not v.isalpha():
            raise ValueError("must be a 3-letter ISO 4217 code")
        return v.lower()

    @field_validator("database_url", mode="after")
    @classmethod
    def _pg_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise ValueError("must be a postgresql:// URL")
        return v

    @model_validator(mode="after")
    def _derived_paths(self) -> Settings:
        if self.dagster_home is None:
            self.dagster_home = self.cashbook_home / "dagster"
        self.dagster_home = self.dagster_home.expanduser().resolve()
        if self.stripe_export_dir is None:
            self.stripe_export_dir = self.cashbook_home / "stripe_export"
        self.stripe_export_dir = self.stripe_export_dir.expanduser().resolve()
        return self

    # Derived locations: one place decides where things live.
    @property
    def lake_dir(self) -> Path:
        return self.cashbook_home / "lake"

    @property
    def warehouse_path(self) -> Path:
        return self.cashbook_home / "warehouse.duckdb"

    @property
    def pg_dir(self) -> Path:
        return self.cashbook_home / "pg"

    @property
    def reports_dir(self) -> Path:
        return self.cashbook_home / "reports"

    def ledger_csv_patterns(self) -> list[str]:
        """The configured ledger CSV files or globs; expanded when a run reads them (files come and go)."""
        if self.ledger_csv_paths:
            return [p.strip() for p in self.ledger_csv_paths.split(",") if p.strip()]
        return [str(self.cashbook_home / "ledger" / "*.csv")]


def expand_globs(patterns: list[str]) -> list[Path]:
    """Files matching the patterns, sorted per pattern so runs are deterministic.

    A pattern without wildcards is kept even when the file is missing, so the reader reports it by name.
    """
    import glob

    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if matches:
            files.extend(Path(m) for m in matches)
        elif not any(ch in pattern for ch in "*?["):
            files.append(Path(pattern))
    return files


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's error into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "settings"
            lines.append(f"{name}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()

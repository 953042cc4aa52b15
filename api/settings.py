"""API-only settings (pydantic-settings). Shared knobs (DATABASE_URL, STRIPE_API_KEY/BASE) stay in cashbook.settings.

Secrets have development defaults so `cashbook api` runs on a fresh clone, but outside `dev` the service
refuses to start with them: a webhook route without a real secret would accept forged events.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789"
DEV_WEBHOOK_SECRET = "whsec_dev_only"


class ApiSettingsError(RuntimeError):
    """The API cannot start with this configuration (e.g. no webhook secret outside dev)."""


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASHBOOK_API_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str | None = Field(default=None, description="Overrides DATABASE_URL for the API only.")
    jwt_secret: str = Field(default=DEV_JWT_SECRET, validation_alias=AliasChoices("JWT_SECRET", "CASHBOOK_API_JWT_SECRET"))
    jwt_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    stripe_webhook_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET", "CASHBOOK_API_STRIPE_WEBHOOK_SECRET"),
        description="Comma-separated to accept several during rotation.")
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    auto_migrate: bool = True
    pool_min: int = Field(default=2, ge=1)
    pool_max: int = Field(default=10, ge=1)
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    idempotency_lease_seconds: float = Field(
        default=60.0, gt=0, description="An in-progress Idempotency-Key claim older than this is taken over.")

    worker_in_process: bool = True
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    worker_batch: int = Field(default=50, ge=1)
    worker_max_attempts: int = Field(default=5, ge=1)
    worker_backoff_seconds: float = Field(default=2.0, ge=0)
    worker_backoff_max_seconds: float = Field(default=3600.0, ge=0)

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "billing@cashbook.local"
    default_payment_method: str | None = Field(
        default=None, description="Dev/test only: used when a request names none (e.g. pm_card_visa).")

    def webhook_secrets(self) -> list[str]:
        """The secrets to verify against; the dev default only in dev."""
        if self.stripe_webhook_secret:
            return [s.strip() for s in self.stripe_webhook_secret.split(",") if s.strip()]
        if self.env == "dev":
            return [DEV_WEBHOOK_SECRET]
        raise ApiSettingsError("STRIPE_WEBHOOK_SECRET must be set outside dev (the webhook route needs it)")

    def check(self) -> None:
        """Fail at start, not at the first request."""
        self.webhook_secrets()
        if self.env != "dev" and self.jwt_secret == DEV_JWT_SECRET:
            raise ApiSettingsError("JWT_SECRET must be set outside dev")

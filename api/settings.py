"""API-only settings (pydantic-settings). Shared knobs (DATABASE_URL, STRIPE_API_KEY/BASE) stay in cashbook.settings.

Security fails closed: `CASHBOOK_API_ENV` defaults to `prod`, and only an explicit `dev` (set by `make api`,
the README walkthrough and the tests that ask for it) enables the committed development secrets. Outside dev
the service refuses to start without its own secrets, or with the development ones: a deploy that forgot a
variable would otherwise accept forged admin tokens and forged webhooks (issue 12, defect 1).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cashbook.billing.risk import RiskConfig
from cashbook.money import to_minor
from cashbook.stripe_gateway import LONGEST_CHAIN_CALLS, GatewayConfig

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789"
DEV_WEBHOOK_SECRET = "whsec_dev_only"


MIN_JWT_SECRET_BYTES = 32  # HS256: a key shorter than the hash output is brute-forceable offline (RFC 7518 §3.2)


class ApiSettingsError(RuntimeError):
    """The API cannot start with this configuration (e.g. no webhook secret outside dev)."""


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASHBOOK_API_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = Field(
        default="prod", description="`dev` enables the committed development secrets; nothing else does.")
    database_url: str | None = Field(default=None, description="Overrides DATABASE_URL for the API only.")
    jwt_secret: str | None = Field(default=None,
                                   validation_alias=AliasChoices("JWT_SECRET", "CASHBOOK_API_JWT_SECRET"))
    jwt_ttl_seconds: int = Field(default=3600, gt=0, description="Lifetime of user tokens minted by `cashbook token`.")
    jwt_issuer: str = Field(default="cashbook", min_length=1, description="Required `iss` of every token.")
    admin_token_ttl_seconds: int = Field(
        default=900, gt=0, le=3600, description="Admin tokens: minted with, and refused above, this lifetime.")
    stripe_webhook_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET", "CASHBOOK_API_STRIPE_WEBHOOK_SECRET"),
        description="Comma-separated to accept several during rotation.")
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    webhook_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Larger webhook bodies are refused with 413 before being read.")
    webhook_insert_inflight: int = Field(
        default=4, ge=1, description="Webhook inbox inserts in flight at once; deliveries arriving meanwhile are"
                                     " group-committed as one statement when one finishes (api/services/inbox.py).")
    auto_migrate: bool = True
    pool_min: int = Field(default=2, ge=1)
    pool_max: int = Field(default=10, ge=1)
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    idempotency_lease_seconds: float | None = Field(
        default=None, gt=0,
        description="An in-progress claim (Idempotency-Key, subscription) older than this is taken over. Unset:"
                    " derived from the Stripe timeouts; set: must exceed the worst-case Stripe call chain.")

    # Browser-facing (api/web.py)
    cors_allow_origins: str = Field(
        default="", description="Comma-separated origins of the checkout (Stripe Elements runs there); `*` only in dev.")
    docs_enabled: bool | None = Field(default=None, description="/docs, /redoc, /openapi.json; unset: off in prod.")
    hsts_seconds: int | None = Field(default=None, ge=0, description="Strict-Transport-Security max-age; unset:"
                                                                      " 2 years in prod, off elsewhere.")

    # Rate limits (api/ratelimit.py): "N/second|minute|hour" in the `limits` notation; REDIS_URL shares them
    # between processes (memory otherwise).
    rate_limit_enabled: bool = True
    rate_limit_ip: str = Field(default="600/minute", description="Per client IP, every route but health/webhooks.")
    rate_limit_user: str = Field(default="300/minute", description="Per authenticated user (admins too).")
    rate_limit_payment: str = Field(default="20/minute", description="Per user, on the money-moving POSTs.")
    rate_limit_webhook: str = Field(default="100/second", description="Per source IP on the webhook route.")
    rate_limit_key_prefix: str = Field(default="cashbook-rl", min_length=1, description="Redis key prefix.")
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "CASHBOOK_API_REDIS_URL"))

    # Fraud risk scoring (cashbook/billing/risk.py; docs/security.md explains each signal)
    risk_enabled: bool = True
    risk_review_score: int = Field(default=50, ge=1)
    risk_block_score: int = Field(default=80, ge=1)
    risk_window_minutes: int = Field(default=10, ge=1)
    risk_max_user_attempts: int = Field(default=5, ge=1)
    risk_max_ip_attempts: int = Field(default=10, ge=1)
    risk_card_window_hours: int = Field(default=24, ge=1)
    risk_max_card_users: int = Field(default=2, ge=1)
    risk_failure_streak: int = Field(default=3, ge=1)
    risk_amount_multiple: int = Field(default=5, ge=1)
    risk_first_payment_max: str = Field(default="100.00", description="Major units, in the payment's currency.")
    risk_new_account_minutes: int = Field(default=60, ge=0)
    risk_points: dict[str, int] = Field(default_factory=dict, description="JSON: points per signal, overriding defaults.")
    risk_ip_country_header: str | None = Field(
        default=None, description="Header an edge proxy sets to the client IP's country (e.g. CF-IPCountry).")

    worker_in_process: bool = True
    access_log: bool = True  # one JSON `request` line per request (method, route template, status, duration)
    worker_poll_seconds: float = Field(default=0.1, gt=0)  # idle poll; 0.5 s put most of the storm lag in waiting
    worker_batch: int = Field(default=50, ge=1)
    # events claimed and committed together (api/services/worker.py, process_claimed); 1 = one per transaction
    worker_claim: int = Field(default=8, ge=1)
    # `cashbook worker` commits event processing without waiting for the WAL flush unless this is true: the inbox
    # row is already durable and processing is replayable (api/services/worker.py, worker_connection_options).
    worker_synchronous_commit: bool = False
    worker_max_attempts: int = Field(default=5, ge=1)
    worker_backoff_seconds: float = Field(default=2.0, ge=0)
    worker_backoff_max_seconds: float = Field(default=3600.0, ge=0)

    # Admin tools (issue 13; docs/api.md "Admin tools"). Per-currency maps are JSON, in minor units.
    max_manual_payment: dict[str, int] = Field(
        default_factory=lambda: {"usd": 1_000_000, "eur": 1_000_000, "gbp": 1_000_000},
        validation_alias=AliasChoices("MAX_MANUAL_PAYMENT", "CASHBOOK_API_MAX_MANUAL_PAYMENT"),
        description="JSON {currency: minor units}: the largest |amount| of one manual payment; a currency not"
                    " listed is refused (fails closed).")
    manual_payment_approval_threshold: dict[str, int] = Field(
        default_factory=lambda: {"usd": 100_000, "eur": 100_000, "gbp": 100_000},
        description="JSON {currency: minor units}: above this |amount| a second admin must approve; a currency"
                    " not listed always needs approval.")
    max_manual_credits: int = Field(default=100_000, ge=1, description="Largest |credits| of one manual payment.")
    manual_credits_approval_threshold: int = Field(
        default=10_000, ge=0, description="Above this |credits| a second admin must approve.")
    dagster_graphql_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DAGSTER_GRAPHQL_URL", "CASHBOOK_API_DAGSTER_GRAPHQL_URL"),
        description="e.g. http://127.0.0.1:3000/graphql: reconcile-on-demand launches the warehouse job there;"
                    " unset: the reconciliation runs as a worker job in the API process.")
    dagster_reconcile_job: str = Field(default="warehouse", min_length=1,
                                       description="The Dagster job launched by reconcile-on-demand.")
    dagster_repository_location: str = Field(default="cashbook", min_length=1)
    dagster_repository_name: str = Field(default="__repository__", min_length=1)
    dagster_ui_url: str | None = Field(default=None, description="Base of run links; default: the GraphQL URL's.")
    reconcile_job_timeout_seconds: float = Field(
        default=3600.0, gt=0, description="A worker reconcile job running longer is considered dead (its process"
                                          " died) and no longer blocks a new start.")
    autofix_enabled: bool = Field(default=False, description="Auto-fix may apply proposed ledger rows (issue 13);"
                                                               " off: dry run only.")
    audit_retention_days: int = Field(default=2555, ge=30, description="audit_log rows older are purged (7 years).")
    webhook_payload_retention_days: int = Field(
        default=90, ge=1, description="Payloads of processed/ignored webhook events older are emptied.")
    retention_interval_seconds: float = Field(default=3600.0, gt=0, description="How often the worker enforces"
                                                                                  " retention.")

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "billing@cashbook.local"
    default_payment_method: str | None = Field(
        default=None, description="Dev/test only: used when a request names none (e.g. pm_card_visa).")

    @field_validator("rate_limit_ip", "rate_limit_user", "rate_limit_payment", "rate_limit_webhook")
    @classmethod
    def _limit(cls, v: str) -> str:
        from limits import parse

        try:
            parse(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a rate limit like '100/minute' or '10/second'") from None
        return v

    @field_validator("max_manual_payment", "manual_payment_approval_threshold")
    @classmethod
    def _per_currency(cls, v: dict[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for currency, amount in v.items():
            if len(currency) != 3 or not currency.isalpha():
                raise ValueError(f"{currency!r} is not a 3-letter ISO 4217 currency code")
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                raise ValueError(f"{currency}: {amount!r} must be a non-negative integer in minor units")
            out[currency.lower()] = amount
        return out

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("redis://", "rediss://", "redis+unix://")):
            raise ValueError("must be a redis:// or rediss:// URL")
        return v

    @model_validator(mode="after")
    def _dev_defaults(self) -> ApiSettings:
        """The development JWT secret only where the developer asked for dev."""
        if self.jwt_secret is None and self.env == "dev":
            self.jwt_secret = DEV_JWT_SECRET
        return self

    def webhook_secrets(self) -> list[str]:
        """The secrets to verify against; the dev default only in dev, never the dev secret elsewhere."""
        if self.stripe_webhook_secret:
            secrets = [s.strip() for s in self.stripe_webhook_secret.split(",") if s.strip()]
        elif self.env == "dev":
            secrets = [DEV_WEBHOOK_SECRET]
        else:
            raise ApiSettingsError("STRIPE_WEBHOOK_SECRET must be set outside dev (CASHBOOK_API_ENV="
                                   f"{self.env}); the webhook route needs it")
        if self.env != "dev" and DEV_WEBHOOK_SECRET in secrets:
            raise ApiSettingsError("STRIPE_WEBHOOK_SECRET is the committed development secret; it is refused"
                                   f" outside dev (CASHBOOK_API_ENV={self.env})")
        return secrets

    def signing_secret(self) -> str:
        """The JWT secret, checked: set, ≥ 32 bytes, and not the development one outside dev."""
        secret = self.jwt_secret
        if not secret:
            raise ApiSettingsError(f"JWT_SECRET must be set outside dev (CASHBOOK_API_ENV={self.env}); "
                                   "set CASHBOOK_API_ENV=dev for the development secret")
        if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ApiSettingsError(f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes")
        if self.env != "dev" and secret == DEV_JWT_SECRET:
            raise ApiSettingsError(f"JWT_SECRET is the committed development secret; it is refused outside dev"
                                   f" (CASHBOOK_API_ENV={self.env})")
        return secret

    def lease_seconds(self, gateway: GatewayConfig) -> float:
        """How long an in-progress claim protects its work: longer than the slowest chain of Stripe calls one
        request can make, else a retry would take over work still running (issue 12, defect 5)."""
        worst = gateway.worst_case_chain_seconds()
        if self.idempotency_lease_seconds is None:
            return max(60.0, round(worst * 1.2 + 10, 1))
        if self.idempotency_lease_seconds <= worst:
            raise ApiSettingsError(
                f"CASHBOOK_API_IDEMPOTENCY_LEASE_SECONDS={self.idempotency_lease_seconds:g} must exceed the"
                f" worst-case Stripe call chain of {worst:g} s ({LONGEST_CHAIN_CALLS} calls at"
                f" STRIPE_CONNECT_TIMEOUT_SECONDS={gateway.connect_timeout_seconds:g} +"
                f" STRIPE_READ_TIMEOUT_SECONDS={gateway.read_timeout_seconds:g}, STRIPE_MAX_NETWORK_RETRIES="
                f"{gateway.max_network_retries}); unset it to derive it")
        return self.idempotency_lease_seconds

    def risk_config(self) -> RiskConfig:
        base = RiskConfig()
        unknown = set(self.risk_points) - set(base.points)
        if unknown:
            raise ApiSettingsError(f"CASHBOOK_API_RISK_POINTS: unknown signal(s) {sorted(unknown)}")
        try:
            return RiskConfig(
                review_score=self.risk_review_score, block_score=self.risk_block_score,
                window_minutes=self.risk_window_minutes, max_user_attempts=self.risk_max_user_attempts,
                max_ip_attempts=self.risk_max_ip_attempts, card_window_hours=self.risk_card_window_hours,
                max_card_users=self.risk_max_card_users, failure_streak=self.risk_failure_streak,
                amount_multiple=self.risk_amount_multiple, new_account_minutes=self.risk_new_account_minutes,
                points={**base.points, **self.risk_points})
        except ValueError as exc:
            raise ApiSettingsError(f"CASHBOOK_API_RISK_REVIEW_SCORE/BLOCK_SCORE: {exc}") from None

    def cors_origins(self) -> list[str]:
        origins = [o.strip().rstrip("/") for o in self.cors_allow_origins.split(",") if o.strip()]
        for origin in origins:
            if origin == "*":
                if self.env != "dev":
                    raise ApiSettingsError("CASHBOOK_API_CORS_ALLOW_ORIGINS=* is refused outside dev: list the"
                                           " checkout's origins (https://shop.example.com)")
            elif not origin.startswith(("https://", "http://")) or "*" in origin:
                raise ApiSettingsError(f"CASHBOOK_API_CORS_ALLOW_ORIGINS: {origin!r} is not an origin"
                                       " (scheme://host[:port], no wildcard)")
            elif origin.startswith("http://") and self.env == "prod" and not origin.startswith(
                    ("http://localhost", "http://127.0.0.1")):
                raise ApiSettingsError(f"CASHBOOK_API_CORS_ALLOW_ORIGINS: {origin!r} must be https in prod")
        return origins

    def docs_on(self) -> bool:
        return self.docs_enabled if self.docs_enabled is not None else self.env != "prod"

    def hsts(self) -> int:
        return self.hsts_seconds if self.hsts_seconds is not None else (63072000 if self.env == "prod" else 0)

    def check(self, gateway: GatewayConfig | None = None) -> None:
        """Fail at start, not at the first request."""
        self.signing_secret()
        self.webhook_secrets()
        self.cors_origins()
        self.risk_config()
        try:
            to_minor(self.risk_first_payment_max, "usd")
        except ValueError as exc:
            raise ApiSettingsError(f"CASHBOOK_API_RISK_FIRST_PAYMENT_MAX: {exc}") from None
        if gateway is not None:
            self.lease_seconds(gateway)

"""The one class that talks to Stripe (DESIGN.md: one `StripeGateway`).

Everything Stripe-specific stays here: the pinned API version, network retries, idempotency keys derived
from our own operation ids (the SDK's random key only covers its own retries), localstripe's quirks (plans
instead of prices, no unknown params) and `latest_charge` arriving as an id or an object. Results are
plain dicts (`StripeObject` is not a dict since stripe-python 15).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import stripe

from cashbook import metrics
from cashbook.circuit import CircuitBreaker, CircuitOpen
from cashbook.settings import STRIPE_API_VERSION, Settings, get_settings

StripeDict = dict[str, Any]


class GatewayError(RuntimeError):
    """A Stripe call failed. `status` is the HTTP status we should answer with, `code` a stable reason,
    `retry_after` (seconds) set when Stripe is known to be unavailable for a while (circuit open)."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class NotFound(GatewayError):
    """The object does not exist (any more) at Stripe."""


# The longest chain of Stripe calls one API request makes (create-subscription: create customer, attach the
# payment method, set it as default, retrieve the plan, create the plan, create the subscription, retrieve
# its invoice). Leases on in-progress work must outlast this chain at its worst (issue 12, defect 5).
LONGEST_CHAIN_CALLS = 7


@dataclass(frozen=True)
class GatewayConfig:
    api_key: str
    api_base: str | None = None
    max_network_retries: int = 1
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 20.0
    breaker_fail_max: int = 5
    breaker_reset_seconds: float = 30.0
    # localstripe has no Prices API: subscription items name a `plan`; real Stripe accepts `price` too.
    item_mode: Literal["plan", "price"] = "plan"

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> GatewayConfig:
        s = settings or get_settings()
        base = dict(api_key=s.stripe_api_key or "sk_test_dev", api_base=s.stripe_api_base,
                    max_network_retries=s.stripe_max_network_retries,
                    connect_timeout_seconds=s.stripe_connect_timeout_seconds,
                    read_timeout_seconds=s.stripe_read_timeout_seconds,
                    breaker_fail_max=s.stripe_breaker_fail_max, breaker_reset_seconds=s.stripe_breaker_reset_seconds)
        base.update(overrides)
        return cls(**base)

    def worst_case_call_seconds(self) -> float:
        """One call at its slowest: every try hits both timeouts, plus the SDK's backoff between tries
        (min(0.5·2^(n−1), 5) s, jitter only shortens it; the SDK ignores Retry-After)."""
        tries = self.max_network_retries + 1
        backoff = sum(min(0.5 * 2 ** (n - 1), 5.0) for n in range(1, self.max_network_retries + 1))
        return tries * (self.connect_timeout_seconds + self.read_timeout_seconds) + backoff

    def worst_case_chain_seconds(self) -> float:
        return LONGEST_CHAIN_CALLS * self.worst_case_call_seconds()


def _idem(key: str) -> str:
    """Stripe allows ≤255 characters; our keys are `<operation>:<our id>`."""
    if not key or len(key) > 255:
        raise ValueError("idempotency key must be 1..255 characters")
    return key


class _CountingRequestsClient(stripe.RequestsClient):
    """The SDK's HTTP client, counting the network retries it makes inside one call (`cashbook_stripe_retries_total`);
    the SDK decides and sleeps, we only observe."""

    def _should_retry(self, *args: Any, **kwargs: Any) -> bool:
        retry = super()._should_retry(*args, **kwargs)
        if retry:
            metrics.STRIPE_RETRIES.inc()
        return retry


def _method_label(fn: Any) -> str:
    """`PaymentIntent.create` for `client.v1.payment_intents.create`: a bounded label set (one per SDK method)."""
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "call")
    return f"{type(owner).__name__.removesuffix('Service')}.{name}" if owner is not None else name


class StripeGateway:
    """Thin, typed wrapper over `stripe.StripeClient`; every write takes an idempotency key."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.breaker = CircuitBreaker("stripe", fail_max=config.breaker_fail_max,
                                      reset_seconds=config.breaker_reset_seconds)
        base = {"api": config.api_base} if config.api_base else {}
        self._client = stripe.StripeClient(
            config.api_key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=config.max_network_retries,
            # (connect, read): the SDK's default is one 80 s timeout per try
            http_client=_CountingRequestsClient(timeout=(config.connect_timeout_seconds, config.read_timeout_seconds)),
        )

    # -- helpers -------------------------------------------------------------------------------
    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> StripeDict:
        """One SDK call behind the circuit breaker, counted and timed (`cashbook_stripe_*` metrics)."""
        method, started = _method_label(fn), time.perf_counter()
        try:
            obj = self._guarded(fn, *args, **kwargs)
        except GatewayError as exc:
            metrics.observe_stripe_call(method, started, exc.code)
            raise
        except BaseException:
            metrics.observe_stripe_call(method, started, "error")
            raise
        metrics.observe_stripe_call(method, started, "ok")
        return obj

    def _guarded(self, fn: Any, *args: Any, **kwargs: Any) -> StripeDict:
        """The SDK call behind the circuit breaker: while Stripe is failing, fail fast with a 503."""
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            raise GatewayError(503, "stripe_circuit_open", "the payment provider is unavailable; retry later",
                               retry_after=max(1, round(exc.retry_after))) from None
        try:
            obj = fn(*args, **kwargs)
        except stripe.CardError as exc:
            self.breaker.success()  # Stripe answered
            raise GatewayError(402, exc.code or "card_declined", exc.user_message or "card declined") from exc
        except stripe.InvalidRequestError as exc:
            self.breaker.success()
            if exc.http_status == 404:
                raise NotFound(404, "not_found", "object not found at Stripe") from exc
            raise GatewayError(400, "stripe_invalid_request", str(exc.user_message or exc)) from exc
        except stripe.RateLimitError as exc:
            self.breaker.failure()
            raise GatewayError(503, "stripe_rate_limited", "Stripe rate limit, retry later", retry_after=1) from exc
        except (stripe.APIConnectionError, stripe.APIError) as exc:  # timeouts, network, Stripe 5xx
            self.breaker.failure()
            raise GatewayError(502, "stripe_unavailable", "Stripe request failed") from exc
        except stripe.StripeError as exc:  # authentication, permission, idempotency: Stripe answered
            self.breaker.success()
            raise GatewayError(502, "stripe_unavailable", "Stripe request failed") from exc
        except BaseException:
            self.breaker.failure()
            raise
        self.breaker.success()
        return obj.to_dict()

    @staticmethod
    def _opts(idempotency_key: str | None) -> dict[str, Any]:
        return {"idempotency_key": _idem(idempotency_key)} if idempotency_key else {}

    # -- reachability --------------------------------------------------------------------------
    def ping(self) -> None:
        self._call(self._client.v1.balance.retrieve)

    # -- catalog -------------------------------------------------------------------------------
    def ensure_plan(self, plan_id: str, *, amount: int, currency: str, interval: str, name: str) -> None:
        """Create the recurring plan at Stripe when missing (dev/test catalogs are seeded by SQL)."""
        try:
            self._call(self._client.v1.plans.retrieve, plan_id)
        except NotFound:
            self._call(self._client.v1.plans.create, params={
                "id": plan_id, "amount": amount, "currency": currency, "interval": interval,
                "product": {"name": name}}, options=self._opts(f"plan:{plan_id}"))

    # -- customers ------------------------------------------------------------------------------
    def create_customer(self, *, user_id: str, email: str | None, idempotency_key: str) -> StripeDict:
        """Parameters depend only on (user, e-mail): the caller's key names both, so it is never replayed with
        other parameters (Stripe answers that with an idempotency error for 24 h)."""
        params: dict[str, Any] = {"metadata": {"user_id": user_id}}
        if email:
            params["email"] = email
        return self._call(self._client.v1.customers.create, params=params, options=self._opts(idempotency_key))

    def retrieve_payment_method(self, payment_method: str) -> StripeDict:
        return self._call(self._client.v1.payment_methods.retrieve, payment_method)

    def set_default_payment_method(self, customer_id: str, payment_method: str, idempotency_key: str) -> None:
        self._call(self._client.v1.payment_methods.attach, payment_method,
                   params={"customer": customer_id}, options=self._opts(idempotency_key + ":attach"))
        self._call(self._client.v1.customers.update, customer_id,
                   params={"invoice_settings": {"default_payment_method": payment_method}},
                   options=self._opts(idempotency_key + ":default"))

    # -- subscriptions --------------------------------------------------------------------------
    def create_subscription(self, *, customer_id: str, stripe_plan_id: str, metadata: dict[str, str],
                            idempotency_key: str) -> StripeDict:
        item = {self.config.item_mode: stripe_plan_id}
        return self._call(self._client.v1.subscriptions.create,
                          params={"customer": customer_id, "items": [item], "metadata": metadata},
                          options=self._opts(idempotency_key))

    def retrieve_subscription(self, subscription_id: str) -> StripeDict:
        return self._call(self._client.v1.subscriptions.retrieve, subscription_id)

    def set_cancel_at_period_end(self, subscription_id: str, value: bool, idempotency_key: str) -> StripeDict:
        return self._call(self._client.v1.subscriptions.update, subscription_id,
                          params={"cancel_at_period_end": value}, options=self._opts(idempotency_key))

    def cancel_subscription_now(self, subscription_id: str, idempotency_key: str) -> StripeDict:
        return self._call(self._client.v1.subscriptions.cancel, subscription_id,
                          options=self._opts(idempotency_key))

    def retrieve_invoice(self, invoice_id: str) -> StripeDict:
        return self._call(self._client.v1.invoices.retrieve, invoice_id)

    # -- payment intents -------------------------------------------------------------------------
    def create_payment_intent(self, *, amount: int, currency: str, customer_id: str | None,
                              payment_method: str | None, metadata: dict[str, str],
                              idempotency_key: str) -> StripeDict:
        params: dict[str, Any] = {"amount": amount, "currency": currency, "metadata": metadata}
        if customer_id:
            params["customer"] = customer_id
        if payment_method:
            params["payment_method"] = payment_method
        return self._call(self._client.v1.payment_intents.create, params=params,
                          options=self._opts(idempotency_key))

    def retrieve_payment_intent(self, payment_intent_id: str) -> StripeDict:
        return self._call(self._client.v1.payment_intents.retrieve, payment_intent_id)

    def confirm_payment_intent(self, payment_intent_id: str, *, payment_method: str | None,
                               idempotency_key: str) -> StripeDict:
        """Confirm server-side; localstripe 500s on `confirm(payment_method=…)`, so modify first."""
        if payment_method:
            self._call(self._client.v1.payment_intents.update, payment_intent_id,
                       params={"payment_method": payment_method},
                       options=self._opts(idempotency_key + ":pm"))
        return self._call(self._client.v1.payment_intents.confirm, payment_intent_id,
                          options=self._opts(idempotency_key))

    def retrieve_charge(self, charge_id: str) -> StripeDict:
        return self._call(self._client.v1.charges.retrieve, charge_id)

    def retrieve_refund(self, refund_id: str) -> StripeDict:
        return self._call(self._client.v1.refunds.retrieve, refund_id)

    def retrieve_dispute(self, dispute_id: str) -> StripeDict:
        return self._call(self._client.v1.disputes.retrieve, dispute_id)

    def list_refunds(self, charge_id: str, *, page_size: int = 100) -> list[StripeDict]:
        """Every refund of the charge: follows `has_more` with `starting_after` (a page holds ≤ 100)."""
        refunds: list[StripeDict] = []
        params: dict[str, Any] = {"charge": charge_id, "limit": page_size}
        while True:
            page = self._call(self._client.v1.refunds.list, params=params)
            data = list(page.get("data") or [])
            refunds.extend(data)
            if not page.get("has_more") or not data:
                return refunds
            params = {**params, "starting_after": data[-1]["id"]}

    @staticmethod
    def latest_charge_id(payment_intent: StripeDict) -> str | None:
        """`latest_charge` is an id, or an object when expanded (localstripe always embeds it)."""
        from cashbook.stripe_shapes import expandable_id

        return expandable_id(payment_intent.get("latest_charge"))

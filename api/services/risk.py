"""Collects the risk signals of an attempt (Postgres; the card from Stripe) and records the assessment.

The scoring rules are pure (cashbook/billing/risk.py). The card's fingerprint and country come from one read
of the PaymentMethod at Stripe, made before any transaction and before anything is created at Stripe: a
blocked attempt creates no customer, PaymentIntent or subscription.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cashbook.billing.risk import Assessment, RiskConfig, Signals, assess
from cashbook.money import to_minor
from cashbook.paths import SQL_DIR
from cashbook.stripe_gateway import GatewayError, StripeGateway

SIGNALS_SQL = (SQL_DIR / "postgres" / "risk" / "signals.sql").read_text()


@dataclass(frozen=True)
class ClientInfo:
    """Request facts: the client IP (as the server sees it, after trusted proxy headers) and, where an edge
    proxy tells it (CASHBOOK_API_RISK_IP_COUNTRY_HEADER), the IP's country."""

    ip: str | None
    country: str | None = None


@dataclass(frozen=True)
class Card:
    fingerprint: str | None = None
    country: str | None = None


def card_of(gateway: StripeGateway, payment_method: str | None) -> Card:
    if not payment_method:
        return Card()
    try:
        pm = gateway.retrieve_payment_method(payment_method)
    except GatewayError:  # unknown or unreadable: no card signals; Stripe refuses a bad method later anyway
        return Card()
    card = pm.get("card") or {}
    return Card(card.get("fingerprint"), card.get("country"))


def assess_attempt(conn: psycopg.Connection, config: RiskConfig, first_payment_max_major: str, *, user_id: str,
                   amount: int, currency: str, client: ClientInfo, card: Card) -> Assessment:
    row = conn.execute(SIGNALS_SQL, {"user": user_id, "ip": client.ip, "fingerprint": card.fingerprint,
                                     "currency": currency, "window": config.window_minutes,
                                     "card_hours": config.card_window_hours}).fetchone()
    user_attempts, ip_attempts, card_users, largest, age, recent = row
    streak = 0
    for status in recent or []:
        if status != "failed":
            break
        streak += 1
    per_currency = RiskConfig(**{**config.__dict__,
                                 "first_payment_max_minor": to_minor(first_payment_max_major, currency)})
    return assess(Signals(amount=amount, user_attempts_in_window=int(user_attempts),
                          ip_attempts_in_window=int(ip_attempts) if client.ip else 0,
                          card_users_in_window=None if card_users is None else int(card_users),
                          failure_streak=streak, largest_success=None if largest is None else int(largest),
                          account_age_minutes=float(age or 0), card_country=card.country,
                          ip_country=client.country), per_currency)


def risk_columns(a: Assessment | None, client: ClientInfo, card: Card) -> dict[str, Any]:
    return {"risk_score": a.score if a else None, "risk_decision": a.decision if a else None,
            "risk_reasons": Jsonb(a.reasons) if a else None, "client_ip": client.ip, "ip_country": client.country,
            "card_fingerprint": card.fingerprint, "card_country": card.country}

"""Fraud risk scoring for purchases and subscriptions (issue 12): signals → score → allow / review / block.

Pure logic (no I/O): the API collects the signals from Postgres and Stripe (api/services/risk.py) and stores
the outcome — score, decision and each reason — on the `payment_attempts` row. A blocked attempt never
reaches Stripe. Each signal adds points when it fires; `docs/security.md` explains what each one catches and
what it misses. Thresholds and points come from settings (`CASHBOOK_API_RISK_*`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Decision = Literal["allow", "review", "block"]


@dataclass(frozen=True)
class RiskConfig:
    review_score: int = 50
    block_score: int = 80
    window_minutes: int = 10           # velocity window for user and IP
    max_user_attempts: int = 5         # attempts by one user in the window before the signal fires
    max_ip_attempts: int = 10          # attempts from one IP in the window
    card_window_hours: int = 24
    max_card_users: int = 2            # distinct users of one card fingerprint in the card window
    failure_streak: int = 3            # consecutive failed attempts of the user
    amount_multiple: int = 5           # amount above this × the user's largest successful payment (same currency)
    first_payment_max_minor: int = 10_000  # a first payment above this (minor units of its currency)
    new_account_minutes: int = 60
    points: dict[str, int] = field(default_factory=lambda: {
        "user_velocity": 30, "ip_velocity": 30, "card_velocity": 50, "failure_streak": 30,
        "amount_spike": 25, "first_payment_large": 20, "new_account": 10, "country_mismatch": 25})

    def __post_init__(self) -> None:
        if not 0 < self.review_score <= self.block_score:
            raise ValueError("risk thresholds must satisfy 0 < review_score ≤ block_score")


@dataclass(frozen=True)
class Signals:
    """What is known about one attempt (None: unknown, the signal does not fire)."""

    amount: int
    user_attempts_in_window: int
    ip_attempts_in_window: int
    card_users_in_window: int | None       # distinct users of this card, this user included; None: no card
    failure_streak: int
    largest_success: int | None            # the user's largest successful payment in this currency
    account_age_minutes: float
    card_country: str | None = None
    ip_country: str | None = None


@dataclass(frozen=True)
class Assessment:
    score: int
    decision: Decision
    reasons: list[dict[str, object]]

    def as_json(self) -> dict[str, object]:
        return {"score": self.score, "decision": self.decision, "reasons": self.reasons}


def assess(s: Signals, c: RiskConfig) -> Assessment:
    reasons: list[dict[str, object]] = []

    def fire(signal: str, detail: str) -> None:
        reasons.append({"signal": signal, "points": c.points.get(signal, 0), "detail": detail})

    if s.user_attempts_in_window >= c.max_user_attempts:
        fire("user_velocity", f"{s.user_attempts_in_window} attempts by this user in {c.window_minutes} min")
    if s.ip_attempts_in_window >= c.max_ip_attempts:
        fire("ip_velocity", f"{s.ip_attempts_in_window} attempts from this IP in {c.window_minutes} min")
    if s.card_users_in_window is not None and s.card_users_in_window > c.max_card_users:
        fire("card_velocity", f"card used by {s.card_users_in_window} users in {c.card_window_hours} h")
    if s.failure_streak >= c.failure_streak:
        fire("failure_streak", f"last {s.failure_streak} attempts of this user failed")
    if s.largest_success is None:
        if s.amount > c.first_payment_max_minor:
            fire("first_payment_large", f"first payment of {s.amount} (minor units) above {c.first_payment_max_minor}")
    elif s.amount > c.amount_multiple * s.largest_success:
        fire("amount_spike", f"{s.amount} is more than {c.amount_multiple}× the largest earlier payment"
                             f" ({s.largest_success})")
    if s.account_age_minutes < c.new_account_minutes:
        fire("new_account", f"account is {s.account_age_minutes:.0f} min old")
    if s.card_country and s.ip_country and s.card_country.upper() != s.ip_country.upper():
        fire("country_mismatch", f"card issued in {s.card_country.upper()}, request from {s.ip_country.upper()}")
    score = sum(int(r["points"]) for r in reasons)  # type: ignore[call-overload]
    decision: Decision = "block" if score >= c.block_score else "review" if score >= c.review_score else "allow"
    return Assessment(score, decision, reasons)

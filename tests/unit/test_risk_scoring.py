"""Risk scoring rules (cashbook/billing/risk.py): each signal, the thresholds, and the decision."""

from __future__ import annotations

import pytest

from cashbook.billing.risk import RiskConfig, Signals, assess

CALM = Signals(amount=1999, user_attempts_in_window=0, ip_attempts_in_window=0, card_users_in_window=1,
               failure_streak=0, largest_success=1999, account_age_minutes=10_000)


def signals(**kw: object) -> Signals:
    return Signals(**{**CALM.__dict__, **kw})  # type: ignore[arg-type]


def fired(s: Signals, c: RiskConfig | None = None) -> list[str]:
    return [str(r["signal"]) for r in assess(s, c or RiskConfig()).reasons]


def test_calm_attempt_is_allowed() -> None:
    a = assess(CALM, RiskConfig())
    assert (a.score, a.decision, a.reasons) == (0, "allow", [])


@pytest.mark.parametrize(("change", "signal"), [
    ({"user_attempts_in_window": 5}, "user_velocity"),
    ({"ip_attempts_in_window": 10}, "ip_velocity"),
    ({"card_users_in_window": 3}, "card_velocity"),
    ({"failure_streak": 3}, "failure_streak"),
    ({"amount": 1999 * 5 + 1}, "amount_spike"),
    ({"largest_success": None, "amount": 10_001}, "first_payment_large"),
    ({"account_age_minutes": 5}, "new_account"),
    ({"card_country": "fr", "ip_country": "US"}, "country_mismatch"),
])
def test_each_signal_fires_alone(change: dict[str, object], signal: str) -> None:
    assert fired(signals(**change)) == [signal]


def test_signals_stay_quiet_at_their_edges_and_when_unknown() -> None:
    assert fired(signals(user_attempts_in_window=4, ip_attempts_in_window=9, card_users_in_window=2,
                         failure_streak=2, amount=1999 * 5, account_age_minutes=60)) == []
    assert fired(signals(card_users_in_window=None, card_country="FR", ip_country=None)) == []
    assert fired(signals(largest_success=None, amount=10_000)) == []


def test_thresholds_decide() -> None:
    review = assess(signals(failure_streak=3, account_age_minutes=5, card_country="FR", ip_country="DE"),
                    RiskConfig())
    assert (review.score, review.decision) == (65, "review")
    block = assess(signals(card_users_in_window=5, user_attempts_in_window=9), RiskConfig())
    assert (block.score, block.decision) == (80, "block")
    strict = assess(signals(account_age_minutes=5), RiskConfig(review_score=5, block_score=10))
    assert strict.decision == "block"
    with pytest.raises(ValueError):
        RiskConfig(review_score=90, block_score=80)

"""The simulated account's fixed facts: currencies, plans, coupons, fees and FX.

Tier prices are chosen so that a downgrade with prorations never makes an invoice negative
(2 × lower tier ≥ higher tier even after the largest coupon), which keeps every subscription
invoice a plain positive charge.
"""

from __future__ import annotations

from dataclasses import dataclass

CURRENCIES = ("usd", "eur", "jpy")
CURRENCY_WEIGHTS = (60, 25, 15)
SETTLEMENT = {"usd": "usd", "eur": "eur", "jpy": "usd"}  # the account settles usd and eur natively

TIERS = ("basic", "pro", "business")
MONTHLY_PRICE = {
    "usd": (2900, 4900, 7900),
    "eur": (2500, 4500, 7900),
    "jpy": (3000, 4900, 8000),
}
YEARLY_FACTOR = 10  # two months free
CREDIT_PACKS = {"usd": (1000, 2500, 5000), "eur": (1000, 2000, 5000), "jpy": (1000, 3000, 5000)}
COUPON_PERCENTS = (10, 15, 20)

# Stripe fee schedule on the settlement amount: (basis points, fixed minor units).
FEES = {"usd": (290, 30), "eur": (150, 25)}
FX_FEE_BPS = 100  # +1 % when the presentment currency is converted
DISPUTE_FEE = 1500  # minor units of the settlement currency

# Amounts at or above this bound (minor units) never occur in Stripe data: used for ledger-only rows.
LEDGER_ONLY_FLOOR = {"usd": 2_000_000, "eur": 2_000_000, "jpy": 2_000_000}


@dataclass(frozen=True)
class Plan:
    currency: str
    tier: int
    interval: str  # month | year
    unit_amount: int
    price_id: str
    product_id: str
    created: int


def jpy_rate_e6(month_index: int) -> int:
    """USD per JPY × 10⁶ for a simulated month (a slowly moving, deterministic rate)."""
    return 6400 + (month_index * 37) % 500


def rhe(n: int, d: int) -> int:
    """Integer n / d rounded half to even (exact, no floats), d > 0."""
    q, r = divmod(n, d)
    twice = 2 * r
    if twice > d or (twice == d and q % 2 == 1):
        q += 1
    return q


def to_settlement(amount: int, currency: str, month_index: int) -> tuple[int, str, float | None, int]:
    """Presentment amount → (settlement amount, settlement currency, exchange_rate, rate_e6)."""
    settle = SETTLEMENT[currency]
    if settle == currency:
        return amount, currency, None, 0
    rate = jpy_rate_e6(month_index)
    sign = -1 if amount < 0 else 1
    return sign * rhe(abs(amount) * rate, 10_000), settle, rate / 1_000_000, rate


def charge_fee(settle_amount: int, settle_currency: str, converted: bool) -> int:
    bps, fixed = FEES[settle_currency]
    if converted:
        bps += FX_FEE_BPS
    return rhe(settle_amount * bps, 10_000) + fixed

"""Read Stripe objects of either side of the 2025 (basil) API changes through one adapter.

Webhook payloads use the endpoint's API version and localstripe answers in pre-2025 shapes, so every
handler reads fields through these helpers instead of indexing the payload directly.
"""

from __future__ import annotations

from typing import Any

StripeDict = dict[str, Any]


def expandable_id(value: Any) -> str | None:
    """An expandable field is either an id string or the expanded object (e.g. `latest_charge`)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("id")
    raise TypeError(f"expected id or object, got {type(value).__name__}")


def subscription_period_end(sub: StripeDict) -> int | None:
    """`current_period_end` on the subscription (pre-basil) or the max over its items (basil+)."""
    if sub.get("current_period_end"):
        return int(sub["current_period_end"])
    items = (sub.get("items") or {}).get("data") or []
    ends = [int(i["current_period_end"]) for i in items if i.get("current_period_end")]
    return max(ends) if ends else None


def subscription_plan_id(sub: StripeDict) -> str | None:
    """The Stripe plan/price id of the (single) item: `price` when present, else `plan`."""
    items = (sub.get("items") or {}).get("data") or []
    for item in items:
        for key in ("price", "plan"):
            if isinstance(item.get(key), dict) and item[key].get("id"):
                return item[key]["id"]
    plan = sub.get("plan")
    return plan.get("id") if isinstance(plan, dict) else None


def invoice_subscription_id(inv: StripeDict) -> str | None:
    """`invoice.subscription` (pre-basil) or `invoice.parent.subscription_details.subscription`."""
    if inv.get("subscription"):
        return expandable_id(inv["subscription"])
    parent = inv.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return expandable_id(details.get("subscription"))


def invoice_charge_id(inv: StripeDict) -> str | None:
    """`invoice.charge` (pre-basil) or the first payment's charge under `payments` (basil+)."""
    if inv.get("charge"):
        return expandable_id(inv["charge"])
    for p in ((inv.get("payments") or {}).get("data") or []):
        payment = p.get("payment") or {}
        if payment.get("charge"):
            return expandable_id(payment["charge"])
    return None

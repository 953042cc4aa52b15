"""Read Stripe objects of either side of the 2025-03-31 ("basil") API changes: the one adapter.

The lake's row builders (`cashbook.sources.streams`) and the billing API's webhook handlers (`api/services`) both
read these fields through this module, so an object lands in the lake and in the billing tables with the same
answer. Webhook payloads use the endpoint's API version, localstripe answers in pre-basil shapes and the pinned
version for live calls is newer than basil, so both shapes arrive:

| field | pre-basil | basil and later |
|---|---|---|
| subscription period | `current_period_start/end` on the subscription | on each of `items.data[]` |
| invoice's subscription | `invoice.subscription` | `invoice.parent.subscription_details.subscription` |
| invoice's charge / payment intent | `invoice.charge`, `invoice.payment_intent` | `invoice.payments.data[].payment.charge/payment_intent` |
| item's price | `item.plan` | `item.price` (both may be present) |

A subscription's period, when it sits on the items, is the period of the item that ends last: the subscription
is paid for until then (Stripe's own grace rule for `cancel_at_period_end`, and dbt_stripe's max over items), and
start and end come from one real item period, never a span no item has. With one item (every subscription the
billing API creates) this is that item's period.
"""

from __future__ import annotations

from typing import Any

StripeDict = dict[str, Any]


def expandable_id(value: Any) -> str | None:
    """An expandable field is an id string or the expanded object (e.g. `latest_charge`); anything else is
    a malformed payload, refused rather than turned into a made-up id."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("id")
    raise TypeError(f"expected an id or an object, got {type(value).__name__}")


def get_path(obj: Any, *path: str) -> Any:
    """`obj[p0][p1]…`, None as soon as a level is missing or not an object."""
    cur = obj
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def _list_data(obj: Any, *path: str) -> list[Any]:
    data = get_path(obj, *path, "data")
    return data if isinstance(data, list) else []


def subscription_period(sub: StripeDict) -> tuple[int | None, int | None]:
    """(current_period_start, current_period_end): the subscription's own (pre-basil), else the period of
    the item that ends last (basil+)."""
    if sub.get("current_period_end") is not None:
        return sub.get("current_period_start"), sub["current_period_end"]
    best: StripeDict | None = None
    for item in _list_data(sub, "items"):
        end = get_path(item, "current_period_end")
        if end is not None and (best is None or end > best["current_period_end"]):
            best = item
    if best is None:
        return sub.get("current_period_start"), None
    return best.get("current_period_start"), best["current_period_end"]


def subscription_period_start(sub: StripeDict) -> int | None:
    return subscription_period(sub)[0]


def subscription_period_end(sub: StripeDict) -> int | None:
    return subscription_period(sub)[1]


def subscription_plan_id(sub: StripeDict) -> str | None:
    """The Stripe price/plan id of the first item that has one (`price` preferred), else the subscription's
    legacy `plan`."""
    for item in _list_data(sub, "items"):
        for key in ("price", "plan"):
            price_id = get_path(item, key, "id")
            if price_id:
                return price_id
    return get_path(sub, "plan", "id")


def invoice_subscription_id(inv: StripeDict) -> str | None:
    """`invoice.subscription` (pre-basil) or `invoice.parent.subscription_details.subscription`."""
    found = expandable_id(inv.get("subscription"))
    if found is None:
        found = expandable_id(get_path(inv, "parent", "subscription_details", "subscription"))
    return found


def _invoice_payment_field(inv: StripeDict, field: str) -> str | None:
    """`invoice.<field>` (pre-basil) or the first of its `payments` that carries one (basil+)."""
    found = expandable_id(inv.get(field))
    if found is None:
        for payment in _list_data(inv, "payments"):
            found = expandable_id(get_path(payment, "payment", field))
            if found:
                return found
    return found


def invoice_charge_id(inv: StripeDict) -> str | None:
    return _invoice_payment_field(inv, "charge")


def invoice_payment_intent_id(inv: StripeDict) -> str | None:
    return _invoice_payment_field(inv, "payment_intent")

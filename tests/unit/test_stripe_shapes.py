"""The one basil/pre-basil adapter (cashbook.stripe_shapes), on real payloads and their basil form.

The real fixtures (tests/fixtures/stripe) are pre-basil. Their basil form is derived here the way Stripe's
2025-03-31 changelog describes the move (period fields from the subscription to each item, `invoice.subscription`
to `parent.subscription_details`, `invoice.charge`/`payment_intent` to `payments`), so both sides are the same
object, and the lake's row and the billing API's reading must agree on each.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cashbook.sources.errors import SourceError
from cashbook.sources.streams import to_row
from cashbook.stripe_shapes import (
    expandable_id,
    invoice_charge_id,
    invoice_payment_intent_id,
    invoice_subscription_id,
    subscription_period,
    subscription_period_end,
    subscription_plan_id,
)
from tests.fixture_files import STRIPE_EVENTS_DIR

Obj = dict[str, Any]


def _event_object(name: str) -> Obj:
    return json.loads((STRIPE_EVENTS_DIR / f"{name}.json").read_text())["data"]["object"]


def _basil_subscription(sub: Obj) -> Obj:
    """The subscription as basil returns it: no period on the subscription, one on each item."""
    out = copy.deepcopy(sub)
    start, end = out.pop("current_period_start"), out.pop("current_period_end")
    for item in out["items"]["data"]:
        item["current_period_start"], item["current_period_end"] = start, end
    return out


def _basil_invoice(inv: Obj) -> Obj:
    """The invoice as basil returns it: the subscription under `parent`, the charge under `payments`."""
    out = copy.deepcopy(inv)
    sub, charge, pi = out.pop("subscription"), out.pop("charge"), out.pop("payment_intent")
    out["parent"] = {"type": "subscription_details", "subscription_details": {"subscription": sub}}
    out["payments"] = {"object": "list", "data": [
        {"object": "invoice_payment", "payment": {"type": "charge", "charge": charge, "payment_intent": pi}}]}
    return out


def test_real_pre_basil_subscription_and_its_basil_form_read_the_same() -> None:
    sub = _event_object("customer.subscription.updated")
    basil = _basil_subscription(sub)
    assert "current_period_end" not in basil
    expected = (sub["current_period_start"], sub["current_period_end"])
    assert subscription_period(sub) == subscription_period(basil) == expected
    assert subscription_plan_id(sub) == subscription_plan_id(basil) == "price_000000000000000000000000"
    for shape in (sub, basil):  # the lake lands what the billing API reads
        row = to_row("subscriptions", shape, "test")
        assert (row["current_period_start"], row["current_period_end"]) == expected


def test_real_pre_basil_invoice_and_its_basil_form_read_the_same() -> None:
    # The fixture is a one-off invoice (subscription null): link it to a subscription to exercise that move too.
    inv = {**_event_object("invoice.paid"), "subscription": "sub_000000000000000000000000"}
    basil = _basil_invoice(inv)
    for shape in (inv, basil):
        assert invoice_charge_id(shape) == "ch_000000000000000000000000"
        assert invoice_payment_intent_id(shape) == inv["payment_intent"]
        assert invoice_subscription_id(shape) == inv["subscription"]
        row = to_row("invoices", shape, "test")
        assert (row["charge"], row["payment_intent"], row["subscription"]) == (
            "ch_000000000000000000000000", inv["payment_intent"], inv["subscription"])


def test_a_subscriptions_period_is_the_item_that_ends_last() -> None:
    """One answer for lake and billing: paid until the latest item period ends, start from that same item."""
    sub = {"id": "sub_1", "items": {"data": [
        {"current_period_start": 100, "current_period_end": 200, "price": {"id": "price_a"}},
        {"current_period_start": 150, "current_period_end": 300, "price": {"id": "price_b"}},
        {"current_period_start": 120, "current_period_end": 250}]}}
    assert subscription_period(sub) == (150, 300)
    assert subscription_period_end(sub) == 300
    assert subscription_plan_id(sub) == "price_a"
    row = to_row("subscriptions", {**sub, "created": 1, "status": "active"}, "test")
    assert (row["current_period_start"], row["current_period_end"]) == (150, 300)
    assert subscription_period({"id": "sub_2", "items": {"data": []}}) == (None, None)


def test_expandable_ids_and_malformed_ones() -> None:
    assert expandable_id({"id": "ch_1", "object": "charge"}) == "ch_1" and expandable_id(None) is None
    assert invoice_subscription_id({"subscription": {"id": "sub_x"}}) == "sub_x"
    with pytest.raises(TypeError):
        expandable_id(12)
    # In the lake, a malformed id is named with its location instead of becoming a made-up id.
    with pytest.raises(SourceError, match="test: cannot read field 'customer'"):
        to_row("subscriptions", {"id": "sub_1", "created": 1, "status": "active", "customer": 12}, "test")

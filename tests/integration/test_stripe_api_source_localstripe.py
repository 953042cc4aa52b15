"""StripeApiSource against localstripe, a separate stateful fake Stripe process (GPL: run, never import).

localstripe refuses `created` filters on balance transactions (NOTES §3); the source must notice the
refusal and fall back to a newest-first scan that stops below the window, losing nothing.
"""

from __future__ import annotations

import datetime as dt

import stripe

from cashbook.sources.stripe_api import StripeApiSource


def test_reads_back_customers_and_charges_from_localstripe(localstripe_url: str) -> None:
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": localstripe_url}, max_network_retries=0)
    customers = [client.v1.customers.create(params={"email": f"u{i}@example.com"}) for i in range(3)]
    pis = []
    for i, cus in enumerate(customers):
        pi = client.v1.payment_intents.create(params={
            "amount": 1000 + i, "currency": "usd", "customer": cus.id, "payment_method": "pm_card_visa",
            "confirm": True})
        pis.append(pi)
    assert all(p.status == "succeeded" for p in pis)

    src = StripeApiSource("sk_test_local", localstripe_url, rate_limit=50, max_workers=4)
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)

    cus_table = src.read_range("customers", start, end)
    assert sorted(cus_table.column("id").to_pylist()) == sorted(c.id for c in customers)

    ch_table = src.read_range("charges", start, end)
    assert sorted(ch_table.column("amount").to_pylist()) == [1000, 1001, 1002]
    assert set(ch_table.column("customer").to_pylist()) == {c.id for c in customers}

    bt_table = src.read_range("balance_transactions", start, end)
    assert bt_table.num_rows == 3
    assert sorted(bt_table.column("amount").to_pylist()) == [1000, 1001, 1002]
    assert set(bt_table.column("source").to_pylist()) == set(ch_table.column("id").to_pylist())
    assert any("created filter" in w for w in src.stats.warnings)

    # A window entirely in the past holds nothing: the newest-first scan stops below it.
    old = src.read_range("balance_transactions", start - dt.timedelta(days=2), start - dt.timedelta(days=1))
    assert old.num_rows == 0

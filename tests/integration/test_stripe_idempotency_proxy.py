"""The idempotency test double itself, driven by the official SDK over real HTTP (it must be trustworthy)."""

from __future__ import annotations

import httpx
import pytest
import stripe


def test_same_key_replays_other_params_refused(stripe_idempotent: str) -> None:
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": stripe_idempotent}, max_network_retries=0)
    opts = {"idempotency_key": "customer:u1"}
    first = client.v1.customers.create(params={"email": "a@example.test"}, options=opts)
    again = client.v1.customers.create(params={"email": "a@example.test"}, options=opts)
    assert again.id == first.id
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"email": "b@example.test"}, options=opts)
    other = client.v1.customers.create(params={"email": "b@example.test"}, options={"idempotency_key": "k2"})
    assert other.id != first.id
    stats = httpx.get(f"{stripe_idempotent}/_proxy/stats").json()
    assert (stats["replayed"], stats["idempotency_errors"]) == (1, 1)
    assert len(client.v1.customers.list().data) == 2

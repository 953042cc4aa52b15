"""StripeGateway against localstripe (a separate process): paging that the billing handlers rely on."""

from __future__ import annotations

import stripe

from cashbook.stripe_gateway import GatewayConfig, StripeGateway


def test_list_refunds_follows_has_more_across_pages(localstripe_url: str) -> None:
    gateway = StripeGateway(GatewayConfig(api_key="sk_test_cashbook", api_base=localstripe_url,
                                          max_network_retries=0))
    cus = gateway.create_customer(user_id="u_refunds", email=None, idempotency_key="customer:u_refunds")
    pi = gateway.create_payment_intent(amount=1000, currency="usd", customer_id=cus["id"],
                                       payment_method="pm_card_visa", metadata={}, idempotency_key="pi:u_refunds")
    pi = gateway.confirm_payment_intent(pi["id"], payment_method=None, idempotency_key="confirm:u_refunds")
    charge_id = gateway.latest_charge_id(pi)
    assert pi["status"] == "succeeded" and charge_id
    client = stripe.StripeClient("sk_test_cashbook", base_addresses={"api": localstripe_url}, max_network_retries=0)
    created = {client.v1.refunds.create(params={"charge": charge_id, "amount": 100 + i}).id for i in range(5)}
    # a refund of another charge must not leak into this charge's list
    other = gateway.confirm_payment_intent(
        gateway.create_payment_intent(amount=500, currency="usd", customer_id=cus["id"], payment_method="pm_card_visa",
                                      metadata={}, idempotency_key="pi2:u_refunds")["id"],
        payment_method=None, idempotency_key="confirm2:u_refunds")
    client.v1.refunds.create(params={"charge": gateway.latest_charge_id(other)})
    paged = gateway.list_refunds(charge_id, page_size=2)  # pages of 2, 2, 1
    assert len(paged) == 5 and {r["id"] for r in paged} == created
    assert sorted(r["amount"] for r in paged) == [100, 101, 102, 103, 104]
    assert {r["id"] for r in gateway.list_refunds(charge_id)} == created

"""Builders for Stripe API objects, field for field as the API returns them (see fixtures3.json).

Only the shapes live here; what happens (amounts, times, links) is decided by the engine. Objects are
written in their final state as of the simulation's as-of instant (an export is a snapshot).
"""

from __future__ import annotations

from typing import Any

from cashbook.simulator.catalog import TIERS, Plan

Obj = dict[str, Any]

_CARD_BRANDS = ("visa", "mastercard", "amex")


def price_obj(p: Plan) -> Obj:
    return {
        "id": p.price_id, "object": "price", "active": True, "billing_scheme": "per_unit",
        "created": p.created, "currency": p.currency, "custom_unit_amount": None, "livemode": False,
        "lookup_key": f"{TIERS[p.tier]}_{p.interval}ly_{p.currency}", "metadata": {},
        "nickname": f"{TIERS[p.tier].title()} {p.interval}ly", "product": p.product_id,
        "recurring": {"aggregate_usage": None, "interval": p.interval, "interval_count": 1,
                      "trial_period_days": None, "usage_type": "licensed"},
        "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None, "type": "recurring",
        "unit_amount": p.unit_amount, "unit_amount_decimal": str(p.unit_amount),
    }


def plan_obj(p: Plan) -> Obj:
    return {
        "id": p.price_id, "object": "plan", "active": True, "aggregate_usage": None,
        "amount": p.unit_amount, "amount_decimal": str(p.unit_amount), "billing_scheme": "per_unit",
        "created": p.created, "currency": p.currency, "interval": p.interval, "interval_count": 1,
        "livemode": False, "metadata": {}, "nickname": f"{TIERS[p.tier].title()} {p.interval}ly",
        "product": p.product_id, "tiers_mode": None, "transform_usage": None, "trial_period_days": None,
        "usage_type": "licensed",
    }


def customer_obj(cid: str, created: int, currency: str, name: str, email: str, prefix: str) -> Obj:
    return {
        "id": cid, "object": "customer", "address": None, "balance": 0, "created": created,
        "currency": currency, "default_source": None, "delinquent": False, "description": None,
        "discount": None, "email": email, "invoice_prefix": prefix,
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                             "rendering_options": None},
        "livemode": False, "metadata": {}, "name": name, "next_invoice_sequence": 1, "phone": None,
        "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None,
    }


def coupon_obj(coupon_id: str, percent: int, created: int) -> Obj:
    return {
        "id": coupon_id, "object": "coupon", "amount_off": None, "created": created, "currency": None,
        "duration": "forever", "duration_in_months": None, "livemode": False, "max_redemptions": None,
        "metadata": {}, "name": f"{percent}% off", "percent_off": percent, "redeem_by": None,
        "times_redeemed": 0, "valid": True,
    }


def discount_obj(di_id: str, coupon: Obj, customer: str, subscription: str, start: int) -> Obj:
    return {
        "id": di_id, "object": "discount", "checkout_session": None, "coupon": coupon, "customer": customer,
        "end": None, "invoice": None, "invoice_item": None, "promotion_code": None, "start": start,
        "subscription": subscription,
    }


def bt_obj(txn: str, created: int, available_on: int, amount: int, fee: int, currency: str,
           exchange_rate: float | None, typ: str, category: str, source: str, description: str,
           status: str) -> Obj:
    details = [] if fee == 0 else [{
        "amount": fee, "application": None, "currency": currency,
        "description": "Dispute fee" if category in ("dispute", "dispute_reversal") else "Stripe processing fees",
        "type": "stripe_fee"}]
    return {
        "id": txn, "object": "balance_transaction", "amount": amount, "available_on": available_on,
        "created": created, "currency": currency, "description": description, "exchange_rate": exchange_rate,
        "fee": fee, "fee_details": details, "net": amount - fee, "reporting_category": category,
        "source": source, "status": status, "type": typ,
    }


def _card(rnd: int) -> Obj:
    brand = _CARD_BRANDS[rnd % 3]
    return {"card": {"brand": brand, "checks": {"address_line1_check": None, "address_postal_code_check": None,
                                                 "cvc_check": "pass"},
                     "country": "US", "exp_month": 1 + rnd % 12, "exp_year": 2027 + rnd % 4,
                     "fingerprint": f"fp{rnd:014d}"[:16], "funding": "credit", "installments": None,
                     "last4": f"{4242 + rnd % 5000:04d}", "mandate": None, "network": brand,
                     "three_d_secure": None, "wallet": None}, "type": "card"}


OUTCOME_OK: Obj = {"network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                   "risk_score": 32, "seller_message": "Payment complete.", "type": "authorized"}

FAILURES = (
    ("card_declined", "Your card was declined.", "generic_decline"),
    ("insufficient_funds", "Your card has insufficient funds.", "insufficient_funds"),
    ("expired_card", "Your card has expired.", "expired_card"),
)


def charge_obj(ch: str, created: int, amount: int, currency: str, customer: str, name: str, email: str,
               pi: str, invoice: str | None, txn: str | None, description: str, failure: int | None,
               refunds: list[Obj], disputed: bool, pm: str, rnd: int) -> Obj:
    failed = failure is not None
    refunded_amt = sum(r["amount"] for r in refunds)
    if failed:
        code, msg, reason = FAILURES[failure]
        outcome: Obj = {"network_status": "declined_by_network", "reason": reason, "risk_level": "normal",
                        "risk_score": 40, "seller_message": "The bank did not return any further details.",
                        "type": "issuer_declined"}
    else:
        code = msg = None
        outcome = {**OUTCOME_OK, "risk_score": 5 + rnd % 60}
    return {
        "id": ch, "object": "charge", "amount": amount, "amount_captured": 0 if failed else amount,
        "amount_refunded": refunded_amt, "application": None, "application_fee": None,
        "application_fee_amount": None, "balance_transaction": txn,
        "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                        "postal_code": None, "state": None},
                            "email": email, "name": name, "phone": None},
        "calculated_statement_descriptor": "CASHBOOK SAAS", "captured": not failed, "created": created,
        "currency": currency, "customer": customer, "description": description, "disputed": disputed,
        "failure_balance_transaction": None, "failure_code": code, "failure_message": msg,
        "fraud_details": {}, "invoice": invoice, "livemode": False, "metadata": {}, "on_behalf_of": None,
        "outcome": outcome, "paid": not failed, "payment_intent": pi, "payment_method": pm,
        "payment_method_details": _card(rnd), "receipt_email": email, "receipt_number": None,
        "receipt_url": None, "refunded": (not failed) and refunded_amt == amount, "refunds": {
            "object": "list", "data": refunds, "has_more": False, "total_count": len(refunds),
            "url": f"/v1/charges/{ch}/refunds"},
        "review": None, "shipping": None, "source_transfer": None, "statement_descriptor": None,
        "statement_descriptor_suffix": None, "status": "failed" if failed else "succeeded",
        "transfer_data": None, "transfer_group": None,
    }


def refund_obj(re_id: str, created: int, amount: int, currency: str, charge: str, pi: str, txn: str,
               reason: str | None) -> Obj:
    return {
        "id": re_id, "object": "refund", "amount": amount, "balance_transaction": txn, "charge": charge,
        "created": created, "currency": currency, "destination_details": {"card": {
            "reference_status": "available", "reference_type": "acquirer_reference_number", "type": "refund"},
            "type": "card"},
        "metadata": {}, "payment_intent": pi, "reason": reason, "receipt_number": None,
        "source_transfer_reversal": None, "status": "succeeded", "transfer_reversal": None,
    }


_EVIDENCE_KEYS = ["access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name", "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation", "duplicate_charge_explanation", "duplicate_charge_id", "product_description", "receipt", "refund_policy", "refund_policy_disclosure", "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address", "shipping_carrier", "shipping_date", "shipping_documentation", "shipping_tracking_number", "uncategorized_file", "uncategorized_text"]


def dispute_obj(dp: str, created: int, amount: int, currency: str, charge: str, pi: str, status: str,
                reason: str, bts: list[Obj]) -> Obj:
    return {
        "id": dp, "object": "dispute", "amount": amount, "balance_transactions": bts, "charge": charge,
        "created": created, "currency": currency, "evidence": dict.fromkeys(_EVIDENCE_KEYS),
        "evidence_details": {"due_by": created + 21 * 86_400, "has_evidence": status != "needs_response",
                             "past_due": False, "submission_count": 0 if status == "needs_response" else 1},
        "is_charge_refundable": False, "livemode": False, "metadata": {}, "payment_intent": pi,
        "reason": reason, "status": status,
    }


def payout_obj(po: str, created: int, arrival: int, amount: int, currency: str, txn: str, status: str,
               destination: str) -> Obj:
    return {
        "id": po, "object": "payout", "amount": amount, "arrival_date": arrival, "automatic": True,
        "balance_transaction": txn, "created": created, "currency": currency, "description": "STRIPE PAYOUT",
        "destination": destination, "failure_balance_transaction": None, "failure_code": None,
        "failure_message": None, "livemode": False, "metadata": {}, "method": "standard",
        "original_payout": None, "reconciliation_status": "completed", "reversed_by": None,
        "source_type": "card", "statement_descriptor": None, "status": status, "type": "bank_account",
    }


def line_obj(il: str, amount: int, currency: str, description: str, discount_amounts: list[Obj],
             period: tuple[int, int], plan: Plan, quantity: int, proration: bool, subscription: str,
             sub_item: str, invoice_item: str | None, price: Obj, plan_o: Obj) -> Obj:
    return {
        "id": il, "object": "line_item", "amount": amount, "amount_excluding_tax": amount, "currency": currency,
        "description": description, "discount_amounts": discount_amounts, "discountable": not proration,
        "discounts": [d["discount"] for d in discount_amounts], "invoice_item": invoice_item, "livemode": False,
        "metadata": {}, "period": {"end": period[1], "start": period[0]}, "plan": plan_o, "price": price,
        "proration": proration, "proration_details": {"credited_items": None}, "quantity": quantity,
        "subscription": subscription, "subscription_item": sub_item, "tax_amounts": [], "tax_rates": [],
        "type": "invoiceitem" if proration else "subscription",
        "unit_amount_excluding_tax": str(amount // quantity if not proration else amount),
    }


def invoice_obj(inv: str, number: str, created: int, customer: str, name: str, email: str, currency: str,
                subscription: str, lines: list[Obj], status: str, charge: str | None, pi: str | None,
                billing_reason: str, period: tuple[int, int], attempt_count: int, paid_at: int | None,
                ended_at: int | None, discount: Obj | None, next_attempt: int | None) -> Obj:
    subtotal = sum(x["amount"] for x in lines)
    disc_total = sum(d["amount"] for x in lines for d in x["discount_amounts"])
    total = subtotal - disc_total
    paid = status == "paid"
    by_discount: dict[str, int] = {}
    for x in lines:
        for d in x["discount_amounts"]:
            by_discount[d["discount"]] = by_discount.get(d["discount"], 0) + d["amount"]
    return {
        "id": inv, "object": "invoice", "account_country": "US", "account_name": "Cashbook Demo SaaS",
        "account_tax_ids": None, "amount_due": total, "amount_paid": total if paid else 0,
        "amount_remaining": 0 if paid or status == "void" else total, "amount_shipping": 0, "application": None,
        "application_fee_amount": None, "attempt_count": attempt_count, "attempted": attempt_count > 0,
        "auto_advance": status == "open", "automatic_tax": {"enabled": False, "status": None},
        "billing_reason": billing_reason, "charge": charge, "collection_method": "charge_automatically",
        "created": created, "currency": currency, "custom_fields": None, "customer": customer,
        "customer_address": None, "customer_email": email, "customer_name": name, "customer_phone": None,
        "customer_shipping": None, "customer_tax_exempt": "none", "customer_tax_ids": [],
        "default_payment_method": None, "default_source": None, "default_tax_rates": [], "description": None,
        "discount": discount, "discounts": [discount["id"]] if discount else [], "due_date": None,
        "ending_balance": 0, "footer": None, "from_invoice": None,
        "hosted_invoice_url": None, "invoice_pdf": None, "last_finalization_error": None,
        "latest_revision": None,
        "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                  "url": f"/v1/invoices/{inv}/lines"},
        "livemode": False, "metadata": {}, "next_payment_attempt": next_attempt, "number": number,
        "on_behalf_of": None, "paid": paid, "paid_out_of_band": False, "payment_intent": pi,
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": period[1], "period_start": period[0], "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0, "quote": None, "receipt_number": None, "rendering_options": None,
        "shipping_cost": None, "shipping_details": None, "starting_balance": 0, "statement_descriptor": None,
        "status": status, "status_transitions": {
            "finalized_at": created, "marked_uncollectible_at": ended_at if status == "uncollectible" else None,
            "paid_at": paid_at, "voided_at": ended_at if status == "void" else None},
        "subscription": subscription, "subtotal": subtotal, "subtotal_excluding_tax": subtotal, "tax": None,
        "test_clock": None, "total": total,
        "total_discount_amounts": [{"amount": a, "discount": k} for k, a in by_discount.items()],
        "total_excluding_tax": total, "total_tax_amounts": [], "transfer_data": None,
        "webhooks_delivered_at": created,
    }


def subscription_obj(sub: str, customer: str, created: int, currency: str, status: str, item: Obj,
                     period: tuple[int, int], anchor: int, cancel_at_period_end: bool, canceled_at: int | None,
                     ended_at: int | None, cancel_reason: str | None, trial: tuple[int, int] | None,
                     discount: Obj | None, latest_invoice: str | None) -> Obj:
    return {
        "id": sub, "object": "subscription", "application": None, "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None}, "billing_cycle_anchor": anchor,
        "billing_thresholds": None, "cancel_at": period[1] if cancel_at_period_end else None,
        "cancel_at_period_end": cancel_at_period_end, "canceled_at": canceled_at,
        "cancellation_details": {"comment": None, "feedback": None, "reason": cancel_reason},
        "collection_method": "charge_automatically", "created": created, "currency": currency,
        "current_period_end": period[1], "current_period_start": period[0], "customer": customer,
        "days_until_due": None, "default_payment_method": None, "default_source": None, "default_tax_rates": [],
        "description": None, "discount": discount, "discounts": [discount["id"]] if discount else [],
        "ended_at": ended_at,
        "items": {"object": "list", "data": [item], "has_more": False, "total_count": 1,
                  "url": f"/v1/subscription_items?subscription={sub}"},
        "latest_invoice": latest_invoice, "livemode": False, "metadata": {},
        "next_pending_invoice_item_invoice": None, "on_behalf_of": None, "pause_collection": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
        "plan": item["plan"], "quantity": item["quantity"], "schedule": None, "start_date": created,
        "status": status, "test_clock": None, "transfer_data": None,
        "trial_end": trial[1] if trial else None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": trial[0] if trial else None,
    }


def subscription_item_obj(si: str, created: int, sub: str, price: Obj, plan_o: Obj, quantity: int,
                          period: tuple[int, int]) -> Obj:
    return {
        "id": si, "object": "subscription_item", "billing_thresholds": None, "created": created,
        "current_period_end": period[1], "current_period_start": period[0], "discounts": [], "metadata": {},
        "plan": plan_o, "price": price, "quantity": quantity, "subscription": sub, "tax_rates": [],
    }

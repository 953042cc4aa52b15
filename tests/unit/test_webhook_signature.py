"""Stripe-Signature verification against the SDK's own signer (so we agree with Stripe, not just ourselves)."""

from __future__ import annotations

import time

import pytest
import stripe

from api.services.worker import backoff
from cashbook.billing.signature import SignatureError, sign, verify

SECRET = "whsec_unit"
BODY = b'{"id": "evt_1", "type": "invoice.paid"}'


def test_accepts_the_sdk_signature() -> None:
    now = int(time.time())
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET, timestamp=now)  # type: ignore[attr-defined]
    assert verify(BODY, header, [SECRET]) == now
    assert sign(BODY, SECRET, now) == header


def test_any_v1_and_any_secret_match_for_rotation() -> None:
    now = int(time.time())
    good = sign(BODY, SECRET, now).split("v1=")[1]
    header = f"t={now},v1={'0' * 64},v1={good}"
    assert verify(BODY, header, ["whsec_old", SECRET]) == now


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("v1=abc", "no timestamp"),
        ("t=123", "no v1"),
        ("t=abc,v1=00", "not an integer"),
    ],
)
def test_malformed_headers(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify(BODY, header, [SECRET])


def test_tampered_body_and_wrong_secret_fail() -> None:
    header = sign(BODY, SECRET, int(time.time()))
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY + b" ", header, [SECRET])
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, header, ["whsec_other"])


def test_stale_timestamp_fails_but_inside_tolerance_passes() -> None:
    now = 1_800_000_000
    assert verify(BODY, sign(BODY, SECRET, now - 299), [SECRET], now=now) == now - 299
    with pytest.raises(SignatureError, match="older than the 300 s"):
        verify(BODY, sign(BODY, SECRET, now - 301), [SECRET], now=now)


def test_backoff_grows_exponentially_and_is_capped() -> None:
    assert [backoff(n, 2.0, 30.0) for n in range(1, 6)] == [2.0, 4.0, 8.0, 16.0, 30.0]

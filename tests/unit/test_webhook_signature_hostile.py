"""Defect 4 (issue 12): hostile Stripe-Signature headers are refused as bad signatures, never crash."""

from __future__ import annotations

import time

import pytest

from cashbook.billing.signature import SignatureError, sign, verify

SECRET = "whsec_unit"
BODY = b'{"id": "evt_1"}'


@pytest.mark.parametrize("v1", ["é" * 64, "ab\u00ffcd", "\u0660" * 64, "💳"])
def test_non_ascii_v1_is_a_bad_signature(v1: str) -> None:
    with pytest.raises(SignatureError):
        verify(BODY, f"t={int(time.time())},v1={v1}", [SECRET])


def test_non_ascii_digits_in_t_are_refused() -> None:
    now = int(time.time())
    good = sign(BODY, SECRET, now).split("v1=")[1]
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in str(now))  # int() would accept these digits
    with pytest.raises(SignatureError):
        verify(BODY, f"t={arabic_indic},v1={good}", [SECRET])

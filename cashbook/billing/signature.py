"""Stripe webhook signature verification (`Stripe-Signature: t=…,v1=…[,v1=…]`).

Written out rather than delegated to `stripe.Webhook.construct_event` so the endpoint can tell the two
failures apart (bad signature → 401, bad payload → 400) and so verification never parses JSON first.
Every `v1` is tried (secret rotation) with a constant-time compare; `t` older than the tolerance is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time

DEFAULT_TOLERANCE = 300  # seconds, as stripe.Webhook.DEFAULT_TOLERANCE


class SignatureError(ValueError):
    """The Stripe-Signature header is missing, malformed, stale or does not match."""


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The header Stripe would send for `payload` at `timestamp` (used by tests and benchmarks)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(payload: bytes, header: str | None, secrets: list[str], *, tolerance: int = DEFAULT_TOLERANCE,
           now: float | None = None) -> int:
    """Check `header` against `payload` under any of `secrets`; returns the signed timestamp."""
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            # ASCII digits only: int() also accepts other scripts' digits and surrounding whitespace
            if not (value.isascii() and value.isdigit()):
                raise SignatureError("timestamp in Stripe-Signature is not an integer")
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise SignatureError("no timestamp in Stripe-Signature")
    if not candidates:
        raise SignatureError("no v1 signature in Stripe-Signature")
    signed = f"{timestamp}.".encode() + payload
    ok = False
    # bytes, not str: compare_digest raises TypeError on non-ASCII str (a hostile header answered 500)
    raw = [c.encode("utf-8", "surrogatepass") for c in candidates]
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode()
        for cand in raw:
            ok |= hmac.compare_digest(expected, cand)
    if not ok:
        raise SignatureError("signature does not match the payload")
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise SignatureError(f"timestamp is older than the {tolerance} s tolerance")
    return timestamp

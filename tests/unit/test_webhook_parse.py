"""`inbox.parse_verified`: which verified bodies are Stripe events (400 otherwise) and which signatures are 401."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from api.problems import Problem
from api.services.inbox import InboxEvent, parse_verified
from cashbook.billing.signature import sign

SECRET = "whsec_unit"
GOOD: dict[str, Any] = {"id": "evt_1", "type": "invoice.paid", "created": 1_700_000_000, "livemode": False,
                        "data": {"object": {"id": "in_1"}}}


def parse(body: bytes, secret: str = SECRET) -> InboxEvent:
    return parse_verified(body, sign(body, secret, int(time.time())), [SECRET], tolerance=300)


def test_a_stripe_event_is_parsed() -> None:
    assert parse(orjson.dumps(GOOD)) == InboxEvent("evt_1", "invoice.paid", 1_700_000_000, False)


@pytest.mark.parametrize(
    "created", [True, False, "1700000000", 1_700_000_000.5, None],
    ids=["bool-true", "bool-false", "string", "float", "null"])
def test_created_must_be_a_plain_int(created: Any) -> None:
    """`True` is an int subclass in Python: it must not pass as `created` = 1."""
    with pytest.raises(Problem) as exc:
        parse(orjson.dumps({**GOOD, "created": created}))
    assert exc.value.status == 400 and exc.value.code == "bad_payload"


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", orjson.dumps({k: v for k, v in GOOD.items() if k != "created"}),
     orjson.dumps({**GOOD, "id": 1}), orjson.dumps({**GOOD, "type": None}),
     orjson.dumps({**GOOD, "data": {"object": "in_1"}}), orjson.dumps({**GOOD, "data": []})],
    ids=["not-json", "array", "no-created", "int-id", "null-type", "object-not-dict", "data-not-dict"])
def test_bodies_that_are_not_events_are_400(body: bytes) -> None:
    with pytest.raises(Problem) as exc:
        parse(body)
    assert exc.value.status == 400 and exc.value.code == "bad_payload"


def test_signature_failures_are_401_and_a_missing_header_400() -> None:
    body = orjson.dumps(GOOD)
    with pytest.raises(Problem) as exc:
        parse(body, secret="whsec_other")
    assert exc.value.status == 401 and exc.value.code == "bad_signature"
    with pytest.raises(Problem) as exc:
        parse_verified(body, None, [SECRET], tolerance=300)
    assert exc.value.status == 400 and exc.value.code == "missing_signature"

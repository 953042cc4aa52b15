"""cashbook/logs.py: every line is one JSON object, and no secret, token, card data or e-mail body survives —
whether it was logged through structlog or the standard library, as a field, in the message, or in a traceback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from cashbook.logs import (
    bound,
    configure_logging,
    get_logger,
    new_request_id,
    scrub,
    unconfigure_logging,
    valid_request_id,
)

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImF1ZCI6ImNhc2hib29rIn0.c2lnbmF0dXJlLXZhbHVl"
SECRETS = {
    "jwt": JWT, "sk": "sk_live_51HqLyjWDarjtT1zdp7dc", "rk": "rk_test_51HqLyjabc", "whsec": "whsec_abcDEF123456",
    "pan": "4242424242424242", "pan_spaced": "4000 0566 5566 5556", "email": "ann.customer@example.com",
    "db_password": "s3cr3t-pw", "slack": "T000/B000/XXXXXXXXXXXXXXXX", "hmac": "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
}


@pytest.fixture()
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", json_lines=True, stream=stream)
    try:
        yield stream
    finally:
        unconfigure_logging()
        structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_fields_messages_and_tracebacks_are_redacted(captured: io.StringIO) -> None:
    log = get_logger("cashbook.test")
    with bound(request_id="req-unit-1"):
        log.info("checkout", authorization=f"Bearer {SECRETS['jwt']}", stripe_api_key=SECRETS["sk"],
                 card={"number": SECRETS["pan"], "cvc": "123", "exp_month": 12, "brand": "visa"},
                 body="Dear Ann, your invoice ...", note=f"key {SECRETS['rk']} for {SECRETS['email']}",
                 url=f"postgresql://cashbook:{SECRETS['db_password']}@db:5432/cashbook", pan_int=4242424242424242)
        logging.getLogger("stdlib.test").warning("signature t=1,v1=%s secret %s; card %s cvc: 321",
                                                 SECRETS["hmac"], SECRETS["whsec"], SECRETS["pan_spaced"])
        try:
            raise RuntimeError(f"posting to https://hooks.slack.com/services/{SECRETS['slack']} for {JWT}")
        except RuntimeError:
            logging.getLogger("stdlib.test").exception("delivery failed")
    out = captured.getvalue()
    records = lines(captured)
    assert len(records) == 3 and all(r["request_id"] == "req-unit-1" for r in records)
    assert records[0]["card"] == "[REDACTED]" and records[0]["body"] == "[REDACTED]"
    assert records[0]["authorization"] == "[REDACTED]" and records[0]["stripe_api_key"] == "[REDACTED]"
    assert "[EMAIL]" in records[0]["note"] and "rk_[REDACTED]" in records[0]["note"]
    assert records[0]["url"] == "postgresql://cashbook:[REDACTED]@db:5432/cashbook"
    assert "cvc=[REDACTED]" in records[1]["event"] and "[PAN]" in records[1]["event"]
    assert "Traceback" in records[2]["exception"] and "RuntimeError" in records[2]["exception"]
    for name, secret in SECRETS.items():
        assert secret not in out, name
    assert "321" not in records[1]["event"] and "123" not in json.dumps(records[0])


def test_ids_and_timestamps_are_not_mistaken_for_card_numbers() -> None:
    text = ("evt_1234567890123456789 in_1QFoo2000000000000000 req_0123456789012345678901234567890 "
            "2026-11-30T02:13:46.123456Z amount 100000 created 1764469026")
    assert scrub(text) == text


def test_request_ids_from_callers_are_plain_tokens_only() -> None:
    assert valid_request_id("abc-123_x.y") == "abc-123_x.y"
    for bad in ("", "has space", "new\nline", "x" * 65, "quote\"", None):
        assert valid_request_id(bad) is None
    rid = new_request_id()
    assert rid.startswith("req_") and valid_request_id(rid) == rid and scrub(rid) == rid


def test_info_line_writes_the_ordinary_line_redacted_and_steps_aside_for_other_handlers(
        captured: io.StringIO) -> None:
    """`info_line` (the API's access line, issue 15) skips the stdlib round trip only when our handler is alone."""
    from cashbook.logs import info_line

    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == "cashbook"]
    others = [h for h in root.handlers if h.get_name() != "cashbook"]  # pytest's capture handlers
    fields = {"route": "/api/webhooks/stripe", "status": 200, "token": SECRETS["sk"], "note": SECRETS["email"]}
    root.handlers = ours
    try:
        with bound(request_id="req_line"):
            get_logger("cashbook.api").info("request", **fields)
            info_line("cashbook.api", "request", **fields)
    finally:
        root.handlers = ours + others
    ordinary, fast = (json.loads(x) for x in captured.getvalue().splitlines())
    assert ordinary.pop("timestamp") and fast.pop("timestamp")
    assert fast == ordinary and list(fast) == list(ordinary)
    assert fast["token"] == "[REDACTED]" and fast["note"] == "[EMAIL]" and fast["request_id"] == "req_line"
    # another handler listening (here pytest's own): the line goes through logging, so that handler sees it too
    seen: list[logging.LogRecord] = []
    spy = logging.Handler()
    spy.emit = seen.append  # type: ignore[method-assign]
    root.addHandler(spy)
    try:
        info_line("cashbook.api", "request", note=SECRETS["pan"])
    finally:
        root.removeHandler(spy)
    assert len(seen) == 1
    assert SECRETS["pan"] not in captured.getvalue().splitlines()[-1]
    assert json.loads(captured.getvalue().splitlines()[-1])["note"] == "[PAN]"


def test_cli_processes_print_readable_redacted_warnings() -> None:
    """A CLI command (the demo, `cashbook alerts`) has no handler of its own: `main()` installs the console one,
    so the alert log sink's warnings are readable lines, redacted, instead of Python's last-resort dict repr."""
    import subprocess
    import sys

    code = ("import structlog\nfrom cashbook import cli\n"
            "cli.app = lambda: structlog.get_logger('cashbook.alerts').warning("
            "'alert.triggered', summary='payout mismatch', api_key='sk_test_abcdef123456')\n"
            "cli.main()\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("CASHBOOK_LOG_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "alert.triggered" in out.stderr and "payout mismatch" in out.stderr
    assert "{'" not in out.stderr  # not the last-resort repr of the event dict
    assert "sk_test_abcdef123456" not in out.stderr


def test_the_ascii_trigger_fires_exactly_where_the_case_insensitive_one_does() -> None:
    """`scrub` skips its patterns when the trigger finds nothing; the ASCII shortcut must never skip more."""
    import random

    from cashbook.logs import _TRIGGER, _triggered

    words = ["Bearer", "BASIC", "eyJ", "EYJ", "sk_", "SK_", "Rk_", "whSEC_", "V1=", "v0=", "://", "PaSs", "pWd",
             "SECRET", "Token", "API_KEY", "CvC", "cvv", "CSC", "Hooks.Slack", "PAGERDUTY", "@",
             "4242 4242 4242 4", "4242-4242-4242-4", "1234567890123", "évt", "ſk_", "\u212a", "İ", "ﬃ"]
    rng = random.Random(15)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:= "
    for _ in range(20_000):
        parts = [("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))), rng.choice(words))
                 for _ in range(rng.randint(0, 2))]
        text = "".join(a + (b if rng.random() < 0.5 else "") for a, b in parts)
        assert _triggered(text) == (_TRIGGER.search(text) is not None), text
    for text in ["evt_1PqR2sT3uV4wX5yZ6aB7cD8e", "/api/webhooks/stripe", "POST", "invoice.paid", *SECRETS.values()]:
        assert _triggered(text) == (_TRIGGER.search(text) is not None), text

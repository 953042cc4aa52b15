"""Structured JSON logs for the API and the webhook worker: one configuration, one redaction pass.

Why one module: the API (every uvicorn worker), `cashbook worker` and `cashbook api`'s supervisor must write the
same shape of line — one JSON object per line on stderr, with `timestamp`, `level`, `logger`, `event` and whatever
the request or event bound — so a log pipeline (Loki, CloudWatch, Datadog) can parse and join them. structlog and
the standard library's `logging` (uvicorn, psycopg, stripe, our older `logging.getLogger` callers) both go through
the same `ProcessorFormatter`, so every line, whoever wrote it, gets the context and the redaction.

Context: `bind_request_id` / `bound` put `request_id` (and e.g. `event_id`) in structlog's context variables;
every line logged in that request or while that webhook event is processed carries them. The API stores the
request id of the delivery with the inbox row (`webhook_events.request_id`), and the worker binds it again when it
processes the event, so intake, processing and the effect (ledger row, credits) share one id.

Redaction (`redact`) runs last, on the rendered values, and fails closed: keys that name secrets (authorization,
cookie, password, token, secret, api key, signature, card, cvc, e-mail bodies) are replaced whole, and every string
is scrubbed of bearer tokens, JWTs, Stripe keys and webhook secrets, passwords in URLs, card-number-like digit runs,
CVC values and e-mail addresses — including exception tracebacks, which are rendered before the pass.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

REDACTED = "[REDACTED]"
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._\-]{1,64}")  # the audit trail (api/audit.py) takes the same

# Keys whose whole value is a secret or personal content: compared after lower-casing, '-' → '_'.
_SECRET_KEYS = frozenset({
    "authorization", "proxy_authorization", "cookie", "set_cookie", "password", "passwd", "secret", "token",
    "access_token", "refresh_token", "id_token", "api_key", "apikey", "stripe_api_key", "client_secret",
    "stripe_signature", "signature", "webhook_secret", "jwt", "jwt_secret", "routing_key", "card", "card_number",
    "number", "pan", "cvc", "cvv", "cvv2", "cvc2", "exp_month", "exp_year", "body", "email_body", "html", "text",
    "content", "message_body",
})
_SECRET_KEY_PARTS = ("password", "secret", "token", "api_key", "authorization", "cvc", "cvv")

_SCRUB: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 " + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), REDACTED),  # JWT (header.payload.sig)
    (re.compile(r"\b(sk|rk)_[A-Za-z0-9_]{3,}"), r"\1_" + REDACTED),  # Stripe secret / restricted keys
    (re.compile(r"(hooks\.slack\.com/services|events\.pagerduty\.com/integration)/[^\s\"']+"),
     r"\1/" + REDACTED),  # the URL is the credential
    (re.compile(r"\bwhsec_[A-Za-z0-9_]+"), "whsec_" + REDACTED),  # webhook signing secrets
    (re.compile(r"\b(v1|v0)=[0-9a-f]{32,}"), r"\1=" + REDACTED),  # Stripe-Signature HMACs
    (re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^:/\s@]*:)[^@\s/]+@"), r"\1" + REDACTED + "@"),  # URL passwords
    (re.compile(r"(?i)\b(password|passwd|pwd|secret|token|api_key)=[^\s&;,]+"), r"\1=" + REDACTED),
    (re.compile(r"(?i)\b(cvc|cvv|cvv2|cvc2|csc)\b[\"']?\s*[:=]?\s*[\"']?\d{3,4}\b"), r"\1=" + REDACTED),
    (re.compile(r"(?<![\w])(?:\d[ \-]?){12,18}\d(?![\w])"), "[PAN]"),  # 13–19 digits, spaces or dashes allowed
    (re.compile(r"[A-Za-z0-9._%+\-]+@([A-Za-z0-9\-]+\.)+[A-Za-z]{2,}"), "[EMAIL]"),
]


# Every pattern above starts with (or, for card numbers, contains) one of these: a string with none of them is
# returned as is after one scan, instead of eleven. Most values (routes, ids, event names) take that path.
# (Lower case: the ASCII scan below matches them against lower-cased text.)
_TRIGGER_WORDS = (r"bearer|basic|eyj|sk_|rk_|whsec_|v[01]=|://|pass|pwd|secret|token|api_key|cvc|cvv|csc"
                  r"|hooks\.slack|pagerduty|\d(?:[ \-]?\d){12}|@")
_TRIGGER = re.compile("(?i)" + _TRIGGER_WORDS)
# The same scan for ASCII text, case-sensitive over its lower-cased copy: for ASCII, lower-casing is exactly what
# (?i) compares, and Python's case-insensitive search is 3× slower (7 µs for an event id; the access line scans
# six strings per request, issue 15). Text with any non-ASCII character takes `_TRIGGER` (Unicode case rules).
_TRIGGER_ASCII_LOWER = re.compile(_TRIGGER_WORDS)


def _triggered(text: str) -> bool:
    if text.isascii():
        return _TRIGGER_ASCII_LOWER.search(text.lower()) is not None
    return _TRIGGER.search(text) is not None


@functools.lru_cache(maxsize=1024)
def _secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    k = key.lower().replace("-", "_")
    return k in _SECRET_KEYS or any(part in k for part in _SECRET_KEY_PARTS)


def scrub(text: str) -> str:
    """Mask every secret-looking part of one string (patterns above)."""
    if not _triggered(text):
        return text
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if type(value) is float or value is None or type(value) is bool:
        return value
    if depth > 6:  # nothing we log is this deep; refuse to walk further rather than leak
        return REDACTED
    if isinstance(value, dict):
        return {k: (REDACTED if _secret_key(k) else _clean(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        if isinstance(value, int) and not isinstance(value, bool) and 10**12 <= abs(value) < 10**19:
            return scrub(str(value))  # a card number passed as an int
        return value
    return scrub(str(value))


# keys structlog and we set ourselves: never masked by name (their values are still scrubbed)
_OWN_KEYS = frozenset({"event", "timestamp", "level", "logger", "request_id", "exception", "stack"})
# values we generate ourselves, which cannot carry anything secret: not even scanned
_TRUSTED = frozenset({"timestamp", "level", "logger", "pid", "_record", "_from_structlog"})


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop secret values by key, scrub every string value (see the module docstring)."""
    for key in list(event_dict):
        if key in _TRUSTED:
            continue
        value = event_dict[key]
        if key not in _OWN_KEYS and _secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _clean(value)
    return event_dict


def _add_pid(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Which process wrote the line: the API's uvicorn workers and the webhook workers share one stream."""
    event_dict.setdefault("pid", os.getpid())
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
    return event_dict


def _pre_chain() -> list[Any]:
    """What every line gets before rendering, whether it came from structlog or from `logging`."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_pid,
    ]


def _dumps(value: Any, **_kw: Any) -> str:
    """orjson: several times faster than `json.dumps`, and there is one line per request."""
    return orjson.dumps(value, default=str).decode()


def _redact_foreign(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Redact records that came from `logging`; structlog's own were redacted before they left structlog."""
    if event_dict.get("_from_structlog"):
        return event_dict
    return redact(logger, method, event_dict)


def formatter(*, json_lines: bool = True) -> structlog.stdlib.ProcessorFormatter:
    """The formatter that renders (and redacts) every record; tests attach it to their own handler."""
    renderer: Any = (structlog.processors.JSONRenderer(serializer=_dumps) if json_lines
                     else structlog.dev.ConsoleRenderer(colors=False))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_pre_chain(),
        processors=[
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,  # tracebacks become a string, then get redacted like the rest
            _redact_foreign,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )


def _configure_structlog() -> None:
    """structlog → the standard library, redacted before it leaves structlog.

    Done on import, so a structlog line is never printed unredacted by structlog's default (stdout, console
    renderer) in a process that did not call `configure_logging`, and any `logging` handler (pytest's capture, an
    operator's) only ever sees redacted values."""
    structlog.configure(
        processors=[*_pre_chain()[:1], structlog.stdlib.filter_by_level, *_pre_chain()[1:],
                    structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.processors.StackInfoRenderer(),
                    structlog.processors.format_exc_info,
                    redact,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


_configure_structlog()
_configured: dict[str, Any] = {}
_fast: dict[str, logging.StreamHandler[TextIO] | None] = {"handler": None}  # set by configure_logging (JSON only)
_STAMP = structlog.processors.TimeStamper(fmt="iso", utc=True)


def configure_logging(level: str | None = None, *, json_lines: bool | None = None,
                      stream: TextIO | None = None) -> None:
    """Route structlog and `logging` to one stderr handler emitting redacted JSON lines. Idempotent.

    `CASHBOOK_LOG_LEVEL` (default INFO) and `CASHBOOK_LOG_FORMAT` (`json`, default, or `console` for a human
    reading a terminal) are read when the arguments are not given.
    """
    level = (level or os.environ.get("CASHBOOK_LOG_LEVEL") or "INFO").upper()
    if json_lines is None:
        json_lines = os.environ.get("CASHBOOK_LOG_FORMAT", "json").lower() != "console"
    key = {"level": level, "json": json_lines, "stream": id(stream)}
    if _configured == key:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(json_lines=json_lines))
    handler.set_name("cashbook")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "cashbook":  # replace ours, leave anyone else's (pytest's capture, an operator's)
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # no handlers of their own: through ours
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # the API's middleware writes the access line (route template, request id, duration); uvicorn's would repeat it
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    _configured.clear()
    _configured.update(key)
    _fast["handler"] = handler if json_lines else None


def unconfigure_logging() -> None:
    """Remove our handler (tests that configured logging in their own process put things back)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "cashbook":
            root.removeHandler(old)
    _configured.clear()
    _fast["handler"] = None


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)


def new_request_id() -> str:
    """`req_` + 32 hex digits: the prefix keeps a digit-heavy id from ever looking like a card number."""
    return "req_" + uuid.uuid4().hex


def valid_request_id(value: str | None) -> str | None:
    """A caller's X-Request-ID when it is a plain token (≤64 of [A-Za-z0-9._-]); None otherwise.

    Anything else (spaces, control characters, an over-long value) is replaced by a fresh id rather than echoed:
    it goes into every log line and a response header."""
    if value and _REQUEST_ID_OK.fullmatch(value):
        return value
    return None


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


@contextlib.contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind context (request_id, event_id, …) to every log line in this block, in this thread or task."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in values.items() if v is not None}):
        yield


def info_line(logger: str, event: str, **fields: Any) -> None:
    """`get_logger(logger).info(event, **fields)`, for the one line every request writes (the API's access line).

    Why: the profile of webhook intake (issue 15) put a quarter of the API's CPU per request in that line, half of
    it in the standard library's machinery around it (a LogRecord, the caller's frame, handler dispatch, the
    formatter re-walking the event dict). When the only handler is the one `configure_logging` installed and it
    writes JSON, this builds the same line directly — the bound context, level, logger, timestamp, pid, the same
    `redact` pass and the same renderer — and writes it under the handler's lock. Whenever anything else listens
    (pytest's caplog, an operator's handler, console format, a level above INFO) it takes the ordinary path.
    """
    handler = _fast["handler"]
    root = logging.getLogger()
    std = logging.getLogger(logger)
    if (handler is None or root.handlers != [handler] or std.handlers or not std.propagate
            or not std.isEnabledFor(logging.INFO) or handler.level > logging.INFO or handler.filters):
        get_logger(logger).info(event, **fields)
        return
    event_dict: dict[str, Any] = {**fields, "event": event}
    for key, value in structlog.contextvars.get_contextvars().items():
        event_dict.setdefault(key, value)
    event_dict["level"] = "info"
    event_dict["logger"] = logger
    _STAMP(None, "info", event_dict)
    event_dict["pid"] = os.getpid()
    line = _dumps(redact(None, "info", event_dict)) + "\n"
    handler.acquire()
    try:
        handler.stream.write(line)
        handler.flush()
    except Exception:  # like logging.Handler.handleError: a broken stderr never fails the request
        pass
    finally:
        handler.release()

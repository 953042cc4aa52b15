"""`Idempotency-Key` for POST endpoints, stored 24 h in `idempotency_keys`.

Same key + same body → the stored response is replayed; same key + another body → 409; a key whose first
request is still running → 409 (retry later). Client errors (4xx problems) are stored like successes, as
Stripe does; an unexpected failure releases the key so the client may retry. The key also seeds the
operation id, from which the outgoing Stripe idempotency keys are derived.

The operation id is random and stored with the claim (`operation_id`), never a function of (user, key):
once a key expires (24 h) and is reused, the new claim must be a new operation, or its payment_attempts row
would collide with the old one's and the new PaymentIntent would have no row (issue 12, defect 2).

A claim is a lease: if the process running the first request dies, its row (status NULL) would block the key
until it expires. Once `locked_at` is older than `lease_seconds`, the next request with the same key and body
takes the claim over (one winner: a conditional UPDATE) and runs the operation again — safe, because it
reuses the claim's stored operation id, so the same Stripe idempotency keys, and our writes are keyed. Only the current holder (matched by
`locked_at`) may release the claim; the first stored response wins.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from api.problems import PROBLEM, Problem
from cashbook.stripe_gateway import GatewayError

MAX_KEY_LEN = 200


class Idempotency:
    def __init__(self, pool: ConnectionPool, user_id: str, key: str | None, method: str, path: str,
                 ttl_hours: int, lease_seconds: float = 60.0) -> None:
        if key is not None and not (0 < len(key) <= MAX_KEY_LEN):
            raise Problem(400, "bad_idempotency_key", f"Idempotency-Key must be 1..{MAX_KEY_LEN} characters")
        self.pool, self.user_id, self.key = pool, user_id, key
        self.method, self.path, self.ttl_hours = method, path, ttl_hours
        self.lease_seconds = lease_seconds
        self._locked_at: Any = None  # our claim's lease stamp, set by `_claim`
        self._operation_id: str | None = None  # our claim's operation id, set by `_claim`

    def run(self, body: Any, fn: Callable[[str], Any], status_code: int = 200) -> JSONResponse:
        """Execute `fn(operation_id)` at most once per key and return (or replay) its response."""
        if self.key is None:
            return JSONResponse(_jsonable(fn(uuid.uuid4().hex)), status_code=status_code)
        request_hash = hashlib.sha256(
            self.method.encode() + b" " + self.path.encode() + b" " + orjson.dumps(_jsonable(body),
                                                                                    option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        stored = self._claim(request_hash)
        if stored is not None:
            status, response = stored
            media = PROBLEM if status >= 400 else "application/json"
            return JSONResponse(response, status_code=status, media_type=media,
                                headers={"Idempotent-Replayed": "true"})
        op = self._operation_id
        assert op is not None
        try:
            result = _jsonable(fn(op))
        except Problem as p:
            self._store(p.status, p.body(self.path))
            raise
        except GatewayError as e:
            if 400 <= e.status < 500:
                detail = e.message if e.status == 402 else "the payment provider rejected or failed the request"
                self._store(e.status, Problem(e.status, e.code, detail).body(self.path))
            else:
                self._release()
            raise
        except BaseException:
            self._release()
            raise
        self._store(status_code, result)
        return JSONResponse(result, status_code=status_code)

    def _claim(self, request_hash: str) -> tuple[int, Any] | None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM idempotency_keys WHERE user_id = %s AND key = %s AND expires_at < now()",
                         (self.user_id, self.key))
            inserted = conn.execute(
                "INSERT INTO idempotency_keys (user_id, key, method, path, request_hash, expires_at, locked_at,"
                " operation_id) VALUES (%s, %s, %s, %s, %s, now() + make_interval(hours => %s), clock_timestamp(), %s)"
                " ON CONFLICT DO NOTHING RETURNING locked_at, operation_id",
                (self.user_id, self.key, self.method, self.path, request_hash, self.ttl_hours,
                 uuid.uuid4().hex)).fetchone()
            if inserted:
                self._locked_at, self._operation_id = inserted
                return None
            taken = conn.execute(
                "UPDATE idempotency_keys SET locked_at = clock_timestamp() WHERE user_id = %s AND key = %s"
                " AND request_hash = %s AND status_code IS NULL"
                " AND locked_at < clock_timestamp() - make_interval(secs => %s) RETURNING locked_at, operation_id",
                (self.user_id, self.key, request_hash, self.lease_seconds)).fetchone()
            if taken:  # the previous holder's lease ran out (it crashed): the claim is ours now
                self._locked_at, self._operation_id = taken
                return None
            row = conn.execute(
                "SELECT request_hash, status_code, response FROM idempotency_keys WHERE user_id = %s AND key = %s",
                (self.user_id, self.key)).fetchone()
        if row is None:  # expired and deleted by a concurrent request between our statements
            raise Problem(409, "idempotency_conflict", "the request with this Idempotency-Key is being retried")
        stored_hash, status, response = row
        if stored_hash != request_hash:
            raise Problem(409, "idempotency_key_reused",
                          "this Idempotency-Key was used with a different request body or endpoint")
        if status is None:
            raise Problem(409, "idempotency_in_progress", "a request with this Idempotency-Key is still running")
        return status, response

    def _store(self, status: int, response: Any) -> None:
        with self.pool.connection() as conn:
            conn.execute("UPDATE idempotency_keys SET status_code = %s, response = %s WHERE user_id = %s AND key = %s"
                         " AND status_code IS NULL", (status, Jsonb(response), self.user_id, self.key))

    def _release(self) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM idempotency_keys WHERE user_id = %s AND key = %s AND status_code IS NULL"
                         " AND locked_at = %s", (self.user_id, self.key, self._locked_at))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return orjson.loads(orjson.dumps(value))

"""A test double that enforces Stripe's idempotency semantics in front of localstripe (which ignores them).

Runs as its own process (`python -m tests.integration.stripe_idempotency_proxy --upstream URL --port N`) and
forwards every request to localstripe over real HTTP, so the official SDK talks to it exactly as to Stripe.
For a POST with an `Idempotency-Key` (scoped per API key, as Stripe scopes keys per account), per
https://docs.stripe.com/api/idempotent_requests:
- the first request runs and its response is stored for `--ttl` seconds (24 h by default), errors included;
- the same key with the same parameters replays the stored status and body (`Idempotent-Replayed: true`);
- the same key with other parameters (or another path) is refused: 400 `idempotency_error`;
- the same key while the first request is still running: 409 `idempotency_error`;
- a request that failed validation (upstream 400) stores nothing, so it may be retried with the same key.
`GET /_proxy/stats` reports counts (forwarded, replayed, idempotency errors) for assertions.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


def _error(status: int, message: str) -> tuple[int, bytes]:
    body = {"error": {"type": "idempotency_error", "message": message}}
    return status, json.dumps(body).encode()


class Store:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.lock = threading.Lock()
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}
        self.stats = {"forwarded": 0, "replayed": 0, "idempotency_errors": 0, "conflicts": 0}


def make_handler(upstream: str, store: Store) -> type[BaseHTTPRequestHandler]:
    client = httpx.Client(base_url=upstream, timeout=60)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return None

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self, body: bytes) -> tuple[int, bytes, dict[str, str]]:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            resp = client.request(self.command, self.path, content=body or None, headers=headers)
            with store.lock:
                store.stats["forwarded"] += 1
            return resp.status_code, resp.content, {"Content-Type": resp.headers.get("content-type", "")}

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/_proxy/stats":
                with store.lock:
                    self._send(200, json.dumps(store.stats).encode(), {"Content-Type": "application/json"})
                return
            key = self.headers.get("Idempotency-Key")
            if self.command != "POST" or not key:
                self._send(*self._forward(body))
                return
            scope = (self.headers.get("Authorization", ""), key)
            fingerprint = [self.path, sorted(parse_qsl(body.decode(), keep_blank_values=True))]
            now = time.monotonic()
            with store.lock:
                entry = store.entries.get(scope)
                if entry is not None and now - entry["at"] > store.ttl:
                    del store.entries[scope]
                    entry = None
                if entry is None:
                    store.entries[scope] = entry = {"at": now, "fingerprint": fingerprint, "response": None}
                    mine = True
                else:
                    mine = False
            if not mine:
                if entry["fingerprint"] != fingerprint:
                    with store.lock:
                        store.stats["idempotency_errors"] += 1
                    self._send(*_error(400, "Keys for idempotent requests can only be used with the same parameters"
                                            " they were first used with."), {"Content-Type": "application/json"})
                    return
                if entry["response"] is None:
                    with store.lock:
                        store.stats["conflicts"] += 1
                    self._send(*_error(409, "There is currently another in-progress request using this"
                                            " Stripe-Idempotency-Key."), {"Content-Type": "application/json"})
                    return
                status, content, headers = entry["response"]
                with store.lock:
                    store.stats["replayed"] += 1
                self._send(status, content, {**headers, "Idempotent-Replayed": "true"})
                return
            try:
                status, content, headers = self._forward(body)
            except Exception:
                with store.lock:
                    store.entries.pop(scope, None)
                raise
            with store.lock:
                if status == 400:  # failed validation: Stripe saves no result for the key
                    store.entries.pop(scope, None)
                else:
                    entry["response"] = (status, content, headers)
            self._send(status, content, headers)

        do_GET = do_POST = do_DELETE = _handle

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttl", type=float, default=24 * 3600)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.upstream, Store(args.ttl)))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()

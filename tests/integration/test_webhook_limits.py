"""Defect 4 (issue 12): the webhook body is capped (413) before it is read, the header is checked first, and a
non-ASCII `v1=` answers 401, not 500. Raw sockets, so the server's behaviour on a lying Content-Length shows."""

from __future__ import annotations

import socket
import time

from tests.integration.api_fixtures import ApiFactory, signed


def raw(port: int, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _request(headers: dict[str, str]) -> bytes:
    lines = ["POST /api/webhooks/stripe HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_declared_oversized_body_is_refused_without_reading_it(running_api_factory: ApiFactory) -> None:
    api = running_api_factory(worker_in_process=False, webhook_max_body_bytes=64 * 1024)
    port = int(api.url.rsplit(":", 1)[1])
    header = f"t={int(time.time())},v1={'0' * 64}"
    # 100 MB announced, nothing sent: the answer must come at once, not after waiting for the body
    answer = raw(port, _request({"Content-Type": "application/json", "Content-Length": str(100 * 1024 * 1024),
                                 "Stripe-Signature": header}))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer
    # no signature header: 400 before anything else, whatever the size
    answer = raw(port, _request({"Content-Type": "application/json", "Content-Length": str(100 * 1024 * 1024)}))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_chunked_oversized_body_is_cut_off(running_api_factory: ApiFactory) -> None:
    api = running_api_factory(worker_in_process=False, webhook_max_body_bytes=64 * 1024)
    body = b'{"id": "evt_big", "pad": "' + b"x" * (200 * 1024) + b'"}'
    _, headers = signed(body)

    def chunks():  # no Content-Length: httpx sends Transfer-Encoding: chunked
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    r = api.client.post("/api/webhooks/stripe", content=chunks(), headers=headers)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("payload_too_large")
    # a normal event still goes through
    ok_body, ok_headers = signed({"id": "evt_small", "type": "invoice.created", "created": int(time.time()),
                                  "data": {"object": {"id": "in_1"}}, "livemode": False})
    assert api.client.post("/api/webhooks/stripe", content=ok_body, headers=ok_headers).status_code == 200


def test_non_ascii_v1_answers_401(running_api_factory: ApiFactory) -> None:
    api = running_api_factory(worker_in_process=False)
    port = int(api.url.rsplit(":", 1)[1])
    body = b'{"id": "evt_x"}'
    head = _request({"Content-Type": "application/json", "Content-Length": str(len(body))})
    head = head[:-2] + f"Stripe-Signature: t={int(time.time())},v1=".encode() + "é".encode("latin-1") * 64 + b"\r\n\r\n"
    answer = raw(port, head, body)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]

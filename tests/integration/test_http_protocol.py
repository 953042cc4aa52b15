"""The HTTP protocol `cashbook api` ships (api/http_protocol.py) under a real uvicorn on loopback: the client gets
byte for byte what uvicorn's own httptools protocol sends (a plain response, a HEAD answer, a streamed one whose
chunks are apart in time, an `Expect: 100-continue` upload, a `Connection: close` answer, and an answer to a client
that half-closed right after its request), and each response whose body follows its headers at once reaches the
socket in one write instead of two."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.http_protocol import CoalescingHttpToolsProtocol
from tests.integration.api_fixtures import free_port

WRITES: list[bytes] = []  # what reached the real socket, in order (the counting protocol below)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await asyncio.sleep(0.05)  # the second chunk comes in a later step of the loop
        await send({"type": "http.response.body", "body": b"second"})
        return
    payload = b'{"path":"' + scope["path"].encode() + b'","got":' + str(len(body)).encode() + b"}"
    await send({"type": "http.response.start", "status": 201 if body else 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class _CountingTransport:
    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(data)
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CountingCoalescingProtocol(CoalescingHttpToolsProtocol):
    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(_CountingTransport(transport))


class CountingStockProtocol(HttpToolsProtocol):
    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(_CountingTransport(transport))


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # running in a thread
        pass


def _serve(protocol: type, port: int) -> tuple[_Server, threading.Thread]:
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol, lifespan="off",
                                    log_level="warning", server_header=False, date_header=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread


def _read_until(sock: socket.socket, done: Any) -> bytes:
    data = b""
    while not done(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            return len(body) >= int(value)
    return body.endswith(b"0\r\n\r\n")


def _conversation(port: int) -> list[bytes]:
    """Six exchanges on one keep-alive connection, each read to its end before the next is sent, then two clients
    that half-close right after their request."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /plain HTTP/1.1\r\nhost: t\r\n\r\n")
        answers.append(_read_until(sock, _complete))
        sock.sendall(b"HEAD /plain HTTP/1.1\r\nhost: t\r\n\r\n")  # headers only: nothing follows them
        answers.append(_read_until(sock, lambda d: d.endswith(b"\r\n\r\n")))
        sock.sendall(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
        answers.append(_read_until(sock, _complete))
        sock.sendall(b"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n")
        answers.append(_read_until(sock, lambda d: d.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")))
        sock.sendall(b"hello")
        answers.append(_read_until(sock, _complete))
        sock.sendall(b"GET /last HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        answers.append(_read_until(sock, lambda d: False))  # to EOF: the server closes after this answer
    for method in (b"GET", b"HEAD"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            # the request and the client's FIN arrive together: the server's transport closes on that EOF while
            # the app answers, and the answer must still reach the client (a HEAD answer is a held block alone)
            sock.sendall(method + b" /half-closed HTTP/1.1\r\nhost: t\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            answers.append(_read_until(sock, lambda d: False))
    return answers


def _run(protocol: type) -> tuple[list[bytes], list[bytes]]:
    port = free_port()
    server, thread = _serve(protocol, port)
    try:
        WRITES.clear()
        answers = _conversation(port)
        return answers, list(WRITES)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_clients_get_the_same_bytes_in_fewer_writes() -> None:
    stock, stock_writes = _run(CountingStockProtocol)
    ours, our_writes = _run(CountingCoalescingProtocol)

    assert ours == stock
    assert stock[0].endswith(b'\r\n\r\n{"path":"/plain","got":0}')
    assert stock[1].startswith(b"HTTP/1.1 200 OK\r\n") and stock[1].endswith(b"content-length: 25\r\n\r\n")
    assert stock[2].endswith(b"5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n")
    assert stock[3] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert stock[4].startswith(b"HTTP/1.1 201 Created\r\n") and stock[4].endswith(b'{"path":"/upload","got":5}')
    assert b"connection: close" in stock[5].lower()
    assert stock[6].startswith(b"HTTP/1.1 200 OK\r\n") and stock[6].endswith(b'{"path":"/half-closed","got":0}')
    assert stock[7] == stock[6][: stock[6].index(b"\r\n\r\n") + 4]
    assert b"".join(our_writes) == b"".join(stock_writes)
    # headers and body once per response; the HEAD answer's headers alone; the stream's first chunk with its
    # headers, its second on its own; the 100 Continue alone
    assert len(stock_writes) == 2 + 1 + 3 + 1 + 2 + 2 + 2 + 1
    assert len(our_writes) == 1 + 1 + 2 + 1 + 1 + 1 + 1 + 1
    assert our_writes[0] == stock[0]

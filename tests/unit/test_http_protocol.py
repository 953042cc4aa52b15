"""`CoalescingTransport` (api/http_protocol.py): a response's header block leaves with its first body bytes, in
the app's own `send`; nothing else is held, nothing is reordered, and a held block is never lost (end of the
loop step, close, write_eof, a connection closing underneath) unless the connection is aborted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.http_protocol import CoalescingTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class _Recorder:
    """A transport that records what reaches it (and, like asyncio's, still sends while it is closing)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False
        self.gone = False

    def write(self, data: bytes) -> None:
        if self.gone:
            raise RuntimeError("unable to perform operation: the handler is closed")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data argument must be a bytes-like object")
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", None))
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


def _run(steps: Any) -> _Recorder:
    async def main() -> _Recorder:
        inner = _Recorder()
        await steps(CoalescingTransport(inner, asyncio.get_running_loop()), inner)  # type: ignore[arg-type]
        await asyncio.sleep(0)
        return inner

    return asyncio.run(main())


def test_the_header_block_leaves_with_the_first_body_bytes_at_once() -> None:
    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(HEAD)
        assert inner.calls == [] and t.get_write_buffer_size() == 7 + len(HEAD)
        t.write(b"{}")
        assert inner.calls == [("write", HEAD + b"{}")]  # in the app's send, not at the end of the step
        t.write(b"5\r\nchunk\r\n")  # anything that is not a status line goes straight through
        t.write(bytearray(b"raw"))
        assert inner.calls[1:] == [("write", b"5\r\nchunk\r\n"), ("write", b"raw")]

    assert len(_run(steps).calls) == 3


def test_a_large_body_is_not_copied_to_join_it() -> None:
    big = b"x" * (64 * 1024)

    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(HEAD)
        t.write(big)

    assert _run(steps).calls == [("write", HEAD), ("write", big)]


def test_a_body_the_transport_refuses_still_follows_its_headers() -> None:
    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(HEAD)
        with pytest.raises(TypeError):
            t.write("not bytes")
        assert inner.calls == [("write", HEAD)]

    _run(steps)


def test_a_header_block_with_nothing_after_it_leaves_at_the_end_of_the_step() -> None:
    """A HEAD answer, `100 Continue`, a stream whose first chunk comes later."""
    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert inner.calls == []
        await asyncio.sleep(0)
        assert inner.calls == [("write", b"HTTP/1.1 100 Continue\r\n\r\n")]

    _run(steps)


def test_close_and_write_eof_send_what_is_held_first() -> None:
    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(HEAD)
        t.write_eof()
        t.write(HEAD)
        t.close()

    assert _run(steps).calls == [("write", HEAD), ("write_eof", None), ("write", HEAD), ("close", None)]


def test_nothing_is_held_once_the_connection_is_closing() -> None:
    """The EOF came before the app answered: the write goes to the transport at once, as with uvicorn's own
    protocol, and the transport does with it what it would have done then."""
    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        inner.close()
        t.write(HEAD)
        assert inner.calls == [("close", None), ("write", HEAD)]

    _run(steps)


def test_the_protocol_writes_the_held_block_when_the_peer_s_eof_arrives() -> None:
    from api.http_protocol import CoalescingHttpToolsProtocol

    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        protocol = CoalescingHttpToolsProtocol.__new__(CoalescingHttpToolsProtocol)
        protocol.transport = t  # type: ignore[assignment]
        t.write(HEAD)
        protocol.eof_received()
        assert inner.calls == [("write", HEAD)]

    _run(steps)


def test_an_upgrade_gets_what_is_held_and_nothing_is_held_after_it() -> None:
    upgraded = object()

    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        inner.set_protocol = lambda protocol: inner.calls.append(("set_protocol", protocol))  # type: ignore[attr-defined]
        t.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        t.set_protocol(upgraded)  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 looks like a status line")
        assert inner.calls == [("write", b"HTTP/1.1 101 Switching Protocols\r\n\r\n"), ("set_protocol", upgraded),
                               ("write", b"HTTP/1.1 looks like a status line")]

    _run(steps)


def test_tls_connections_hold_nothing() -> None:
    from api.http_protocol import wrap

    class _Tls(_Recorder):
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return object() if name == "sslcontext" else super().get_extra_info(name, default)

    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        tls, plain = _Tls(), _Recorder()
        wrap(tls, asyncio.get_running_loop()).write(HEAD)
        wrap(plain, asyncio.get_running_loop()).write(HEAD)
        assert tls.calls == [("write", HEAD)] and plain.calls == []

    _run(steps)


def test_abort_and_a_vanished_connection_drop_the_held_block() -> None:
    async def aborted(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(HEAD)
        t.abort()

    async def vanished(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(HEAD)
        inner.closing = inner.gone = True  # closed and gone: the write is refused, and nobody is there to tell

    assert _run(aborted).calls == [("abort", None)]
    assert _run(vanished).calls == []


def test_everything_else_is_the_transport_s_own() -> None:
    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        assert t.get_extra_info("peername") == ("127.0.0.1", 5)
        assert t.is_closing() is False

    _run(steps)

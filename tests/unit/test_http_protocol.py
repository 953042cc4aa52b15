"""`CoalescingTransport` (api/http_protocol.py): a loop step's writes leave as one, in order, and nothing is lost
or held back past that step (close, abort, a closing socket)."""

from __future__ import annotations

import asyncio
from typing import Any

from api.http_protocol import FLUSH_AT, CoalescingTransport


class _Recorder:
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

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
        return inner

    return asyncio.run(main())


def test_writes_of_one_step_leave_as_one_write_at_its_end() -> None:
    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        t.write(b"{}")
        assert inner.calls == []  # nothing before the step ends
        assert t.get_write_buffer_size() == 7 + 38 + 2
        await asyncio.sleep(0)
        assert inner.calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")]
        t.write(b"next")  # a later step: its own write
        await asyncio.sleep(0)

    inner = _run(steps)
    assert inner.calls[1:] == [("write", b"next")]


def test_a_step_that_writes_a_lot_goes_out_at_once() -> None:
    """A body streamed without yielding stays bounded, and the real transport's flow control sees it in time."""
    big = b"x" * FLUSH_AT

    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(b"headers")
        t.write(big)
        assert inner.calls == [("write", b"headers" + big)]  # at once, with what was pending
        t.write(b"tail")
        assert t.get_write_buffer_size() == 7 + 4
        await asyncio.sleep(0)

    assert _run(steps).calls[1:] == [("write", b"tail")]


def test_close_and_write_eof_send_what_is_pending_first() -> None:
    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(b"a")
        t.writelines([b"b", b"c"])
        t.write_eof()
        t.write(b"d")
        t.close()
        await asyncio.sleep(0)  # the step's scheduled flush finds nothing left

    assert _run(steps).calls == [("write", b"abc"), ("write_eof", None), ("write", b"d"), ("close", None)]


def test_abort_drops_pending_bytes_and_a_closed_socket_gets_nothing() -> None:
    async def aborted(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(b"lost on purpose")
        t.abort()
        await asyncio.sleep(0)

    async def closed(t: CoalescingTransport, inner: _Recorder) -> None:
        t.write(b"x")
        inner.closing = True  # the peer went away before the step ended
        await asyncio.sleep(0)

    assert _run(aborted).calls == [("abort", None)]
    assert _run(closed).calls == []


def test_everything_else_is_the_transport_s_own() -> None:
    async def steps(t: CoalescingTransport, inner: _Recorder) -> None:
        assert t.get_extra_info("peername") == ("127.0.0.1", 5)
        assert t.is_closing() is False

    _run(steps)

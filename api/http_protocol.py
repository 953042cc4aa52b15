"""uvicorn's httptools protocol with one socket write per response instead of two (issue 15, items 4 and 5).

Why: uvicorn writes a response's status line and headers the moment `http.response.start` is sent, and the body
with `http.response.body`. With uvloop each `transport.write` on an idle socket is a `send()` at once, so every
response costs two system calls and, over loopback or a LAN, two segments that each wake the client. In the
webhook benchmark that first `send()` was 11 % of the API process's GIL-holding samples and the second 4 % (py-spy,
seventh machine).

Here the status line and headers are held back and go out with the next write, the first piece of the body, in one
`send()` made right there in the app's `send` call: the response leaves as early as before. What is held is only
ever that one block, which uvicorn builds as `bytes` starting with `HTTP/1.`; every other write goes straight
through. When nothing follows in the same step of the event loop (a HEAD answer, `100 Continue`, a stream whose first
chunk comes later), the block is written in the loop's next pass (`loop.call_soon`). `close()` and `write_eof()`
write it first. A client that half-closes after its request makes the transport close on that EOF, which can be
read in that next pass before the flush, and a closed transport discards what it is given: the protocol therefore
writes the held block when the EOF arrives, so such a client gets exactly what uvicorn's own protocol would send it.
Nothing is held once the transport is closing, after an upgrade hands the connection to another protocol
(`set_protocol`), or on TLS (an SSL transport can shut down on a bare FIN without calling `eof_received`). The
bytes and their order are unchanged.

`cashbook api` passes this class to uvicorn (`http=`), so it is the shipped configuration.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_LINE = b"HTTP/1."
_JOIN_BELOW = 64 * 1024


class CoalescingTransport:
    """The connection's transport, holding a response's header block until the first body bytes join it."""

    __slots__ = ("_hold", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, *, hold: bool = True) -> None:
        self._transport, self._loop, self._hold = transport, loop, hold
        self._pending: bytes | None = None

    def write(self, data: Any) -> None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            if isinstance(data, (bytes, bytearray, memoryview)) and len(data) < _JOIN_BELOW:
                self._transport.write(b"".join((pending, data)))
                return
            # a large body (two writes cost less than copying it), or something the transport will refuse
            # with its own error, after the headers, as with uvicorn's own protocol
            self._transport.write(pending)
            self._transport.write(data)
        elif (self._hold and type(data) is bytes and data.startswith(_STATUS_LINE)
              and not self._transport.is_closing()):
            self._pending = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Write the held header block now: at the end of the loop step, on close, on the peer's EOF."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            self._transport.write(pending)
        except RuntimeError:  # the connection is gone (uvloop refuses writes to a closed handle): nobody to tell
            if not self._transport.is_closing():
                raise

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._pending or b"")

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """An upgrade (websocket) hands the connection to a protocol that knows nothing of a held block, nor of
        `flush` on EOF: what is held goes out now, and nothing is held from then on."""
        self.flush()
        self._hold = False
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, get_protocol, ...
        return getattr(self._transport, name)


def wrap(transport: Any, loop: asyncio.AbstractEventLoop) -> CoalescingTransport:
    """The connection's `CoalescingTransport`. TLS holds nothing: an SSL transport can shut down on a bare TCP FIN
    without calling `eof_received`, where a held block would be flushed."""
    return CoalescingTransport(transport, loop, hold=transport.get_extra_info("sslcontext") is None)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` on a `CoalescingTransport` (module docstring)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(wrap(transport, self.loop))  # type: ignore[arg-type]

    def eof_received(self) -> None:
        # the transport closes when this returns and then discards what is written to it: send what is held first
        self.transport.flush()  # type: ignore[attr-defined]
        super().eof_received()

"""uvicorn's httptools protocol with one socket write per response instead of two (issue 15, items 4 and 5).

Why: uvicorn writes a response's status line and headers the moment `http.response.start` is sent, and the body
with `http.response.body`. With uvloop each `transport.write` on an idle socket is a `send()` at once, so every
response costs two system calls and, over loopback or a LAN, two segments that each wake the client. In the
webhook benchmark that first `send()` was 11 % of the API process's GIL-holding samples and the second 4 % (py-spy,
seventh machine). Here the writes a request's task makes within one step of the event loop are joined and written
once at the end of that step (`loop.call_soon`); a response whose body follows its headers at once (every
`Response` the API sends) goes out in one `send()`. Nothing waits on a timer, the bytes and their order are
unchanged, and `close()` writes what is pending first; a streamed body simply goes out as it comes.

`cashbook api` passes this class to uvicorn (`http=`), so it is the shipped configuration.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A step that writes this much goes out at once: a body streamed without yielding to the loop stays bounded in
# memory, and the real transport's flow control (pause_writing, which uvicorn's `send` waits on) sees it as before.
FLUSH_AT = 64 * 1024


class CoalescingTransport:
    """The connection's transport, with `write` deferred to the end of the current event-loop step."""

    __slots__ = ("_loop", "_pending", "_pending_bytes", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] | None = None
        self._pending_bytes = 0

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._pending_bytes = len(data)
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(data)
            self._pending_bytes += len(data)
        if self._pending_bytes >= FLUSH_AT:
            self._flush()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        pending, self._pending, self._pending_bytes = self._pending, None, 0
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._pending_bytes

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending, self._pending_bytes = None, 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, set_protocol, ...
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` on a `CoalescingTransport` (module docstring)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]


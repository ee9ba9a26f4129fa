"""The HTTP protocol serve.py runs uvicorn with: httptools, writing each response's head in the
same system call as the start of its body.

uvicorn writes the status line and headers, then the body, in two calls. An API process that
dies between them (SIGKILL, the OOM killer) leaves the balancer a response head with no body,
which it can neither complete nor retry; with nothing written, HAProxy retries the query on
another process (deploy/haproxy.cfg, `retry-on empty-response`). In one write, a response is all
or nothing to the balancer. A head is never held past the current turn of the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_LINE = b"HTTP/1.1 "
_INFORMATIONAL = b"HTTP/1.1 1"  # 100 Continue, 101 Switching Protocols: sent at once


class _HeadWithBody:
    """A transport that holds a response head until the next write, which carries both."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head + bytes(data))
        elif bytes(data[:9]) == _STATUS_LINE and bytes(data[:10]) != _INFORMATIONAL:
            self._head = bytes(data)
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class ResponseInOneWrite(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._raw_transport = transport
        self.transport = cast(asyncio.Transport, _HeadWithBody(transport))

    def handle_websocket_upgrade(self) -> None:
        self.transport = self._raw_transport  # frames are written as they come
        super().handle_websocket_upgrade()

"""The HTTP server serve.py runs (and the tests, through server_config): httptools, with limits
on what one connection may take, writing each response's head in the same system call as the
start of its body.

Limits, as HAProxy and nginx have by default, for when nothing stands in front (the embedded
default): a request's head must arrive within HTTP_HEADER_TIMEOUT_SECONDS (408) and be at most
HTTP_MAX_HEADER_BYTES in at most HTTP_MAX_HEADERS headers (431); a body must keep coming, with
no pause longer than HTTP_BODY_TIMEOUT_SECONDS (408). Past MAX_CONNECTIONS open connections, a
new one first closes an idle one (waiting for a request, or part way through its head), as nginx
does; with none idle, it is answered 503: file descriptors are never exhausted.

uvicorn writes the status line and headers, then the body, in two calls. An API process that
dies between them (SIGKILL, the OOM killer) leaves the balancer a response head with no body,
which it can neither complete nor retry; with nothing written, HAProxy retries the query on
another process (deploy/haproxy.cfg, `retry-on empty-response`). In one write, a response is all
or nothing to the balancer. A head is never held past the current turn of the event loop.
"""

from __future__ import annotations

import asyncio
import json
import resource
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from core.config import Settings

_STATUS_LINE = b"HTTP/1.1 "
_INFORMATIONAL = b"HTTP/1.1 1"  # 100 Continue, 101 Switching Protocols: sent at once


@dataclass(frozen=True)
class Limits:
    header_seconds: float
    body_seconds: float
    header_bytes: int
    headers: int
    connections: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            header_seconds=settings.http_header_timeout_seconds,
            body_seconds=settings.http_body_timeout_seconds,
            header_bytes=settings.http_max_header_bytes,
            headers=settings.http_max_headers,
            connections=settings.max_connections or _share_of_open_files(),
        )


def _share_of_open_files() -> int:
    """Three quarters of the open-file limit: the rest for pools, logs and files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(soft * 3 // 4, 1) if soft != resource.RLIM_INFINITY else 1_000_000


class ServerConfig(uvicorn.Config):
    def __init__(self, app: Any, *, limits: Limits, **options: Any) -> None:
        super().__init__(app, **options)
        self.limits = limits


def server_config(app: Any, settings: Settings, **options: Any) -> ServerConfig:
    """How the app is served, by serve.py and by the tests alike; `options` add to uvicorn's."""
    return ServerConfig(
        app,
        limits=Limits.of(settings),
        host=settings.host,
        port=settings.port,
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
        proxy_headers=True,
        http=ResponseInOneWrite,  # all or nothing to a balancer, within the limits
        log_config=None,  # uvicorn's lines go through our JSON handler
        access_log=False,  # web/middleware.py writes one, with the request id
        # longer than a balancer keeps a connection idle (deploy/haproxy.cfg: 10 s), so that the
        # balancer closes it first: a POST sent just as the server closes would not be retried
        timeout_keep_alive=30,
        # events are small JSON: compressing each costs CPU, and a compressor per socket
        # costs memory, for little gain
        ws_per_message_deflate=False,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        **options,
    )


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
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: Limits = cast(ServerConfig, config).limits
        self._timer: asyncio.TimerHandle | None = None  # the head's deadline, or the body's
        self._head_bytes: int | None = None  # while a head is read: its lines parsed so far
        self._head_chunks = 0  # ... and the size of the chunks read wholly inside it
        self._headers = 0
        self._in_body = False
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._raw_transport = transport
        self.transport = cast(asyncio.Transport, _HeadWithBody(transport))
        if len(self.connections) > self.limits.connections and not self._close_an_idle_one():
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "The service is unavailable; try again.")
            return
        self._set_timer(self.limits.header_seconds)  # until the first request's head is in

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_timer(None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        within_head = self._head_bytes is not None  # a head begun in an earlier chunk
        super().data_received(data)
        if self._refused or self.transport.is_closing():
            return
        if self._head_bytes is not None:
            if within_head:
                self._head_chunks += len(data)
                self._check_head()
            if self._timer is None:
                self._set_timer(self.limits.header_seconds)
        elif self._in_body:
            self._set_timer(self.limits.body_seconds)  # it keeps coming

    def on_message_begin(self) -> None:
        if not self._refused:
            super().on_message_begin()
            self._head_bytes, self._head_chunks, self._headers = 0, 0, 0

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            super().on_url(url)
            self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            super().on_header(name, value)
            self._headers += 1
            self._count(len(name) + len(value) + 4)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._head_bytes = None
        self._set_timer(None)
        super().on_headers_complete()
        self._in_body = not (self.parser.should_upgrade() and self._should_upgrade())

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        if self._in_body:
            self._in_body = False
            self._set_timer(None)
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:
            super().send_400_response(msg)

    def handle_websocket_upgrade(self) -> None:
        if self._refused:
            return
        self._set_timer(None)
        self.transport = self._raw_transport  # frames are written as they come
        super().handle_websocket_upgrade()

    def _count(self, size: int) -> None:
        assert self._head_bytes is not None
        self._head_bytes += size
        self._check_head()

    def _check_head(self) -> None:
        size = max(self._head_bytes or 0, self._head_chunks)
        if size > self.limits.header_bytes:
            message = f"The request's headers are larger than {self.limits.header_bytes} bytes."
        elif self._headers > self.limits.headers:
            message = f"The request has more than {self.limits.headers} headers."
        else:
            return
        self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, message)

    def _set_timer(self, seconds: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None if seconds is None else self.loop.call_later(seconds, self._expired)

    def _expired(self) -> None:
        self._timer = None
        if self._in_body:
            waiting = self.cycle is not None and self.cycle.waiting_for_100_continue
            if self.flow.read_paused or waiting:  # the app's turn (to read, to say Continue)
                self._set_timer(self.limits.body_seconds)
                return
            seconds, what = self.limits.body_seconds, "The request body stopped coming"
        elif self._head_bytes is not None:
            seconds, what = self.limits.header_seconds, "The request's headers did not arrive"
        else:  # not a byte since the connection opened: a probe, or an attack; nobody to tell
            self.transport.close()
            return
        self._refuse(HTTPStatus.REQUEST_TIMEOUT, f"{what} within {seconds:g} seconds.")

    def _idle(self) -> bool:
        """Waiting for a request, or reading its head: nothing of the app's is under way."""
        busy = self.cycle is not None and not self.cycle.response_complete
        return not busy and not self.pipeline and not self.transport.is_closing()

    def _close_an_idle_one(self) -> bool:
        for other in self.connections:
            if other is not self and isinstance(other, ResponseInOneWrite) and other._idle():
                other.transport.close()
                return True
        return False

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        """Answers with an error in the API's shape, unless a response is under way or given
        (the app answered before reading the body), and closes the connection."""
        cycle = self.cycle  # in a head: the previous request's, if any
        if self._in_body:
            answer = cycle is not None and not cycle.response_started
        else:
            answer = cycle is None or cycle.response_complete
        self._refused, self._in_body = True, False
        self._set_timer(None)
        if answer:
            code = "INTERNAL_SERVER_ERROR" if status >= 500 else "BAD_USER_INPUT"
            error = {"message": message, "extensions": {"code": code}}
            body = json.dumps({"errors": [error]}).encode()
            head = (
                f"HTTP/1.1 {status.value} {status.phrase}\r\n"
                "content-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
        self.transport.close()

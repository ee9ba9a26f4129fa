"""One Redis connection that many callers share, pipelined as ioredis's is.

The commands callers issue in one turn of the event loop are written to the socket as one
write; the replies are parsed (by hiredis) as they arrive and handed to each caller's future in
order. There is no task, `wait_for` or pool checkout per command, as redis-py has (a command
through redis-py costs ~70 us of CPU alone, ~20 us in a pipeline of its own, the
machinery of either around its few microseconds of packing and parsing).

The connection is opened by redis-py (its handshake: TLS, AUTH, SELECT, CLIENT SETNAME, from
the pool's settings), then its transport is taken over. A timeout is per connection: when
replies are awaited and none came for `timeout` seconds, every caller waiting fails with
redis-py's TimeoutError and the connection is closed. A dropped connection fails its callers
with ConnectionError, and the next command opens a new one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

_MORE = object()  # hiredis: not enough data for a whole reply yet


class Quiet(Protocol):
    """Whether the server may be asked now (`check` raises when not); `start`: after a timeout."""

    def check(self) -> None: ...

    def start(self) -> None: ...


class _Replies:
    """The replies of several commands written together (a pipeline), errors among them."""

    __slots__ = ("count", "replies", "future")

    def __init__(self, count: int, future: asyncio.Future[list[Any]]) -> None:
        self.count = count
        self.replies: list[Any] = []
        self.future = future


_Waiter = asyncio.Future[Any] | _Replies


class _Protocol(asyncio.Protocol):
    def __init__(self, reader: hiredis.Reader, timeout: float, quiet: Quiet) -> None:
        self.loop = asyncio.get_running_loop()
        self.reader = reader
        self.timeout = timeout
        self.quiet = quiet
        self.transport: asyncio.Transport | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.queued: list[tuple[bytes, _Waiter]] = []  # the next write
        self.waiting: deque[_Waiter] = deque()  # written, in order
        self.progress = 0.0  # when a reply came last, or the first of `waiting` was written
        self.timer: asyncio.TimerHandle | None = None
        self.error: RedisError | None = None  # why it is closed

    @property
    def open(self) -> bool:
        return self.error is None

    def send(self, packed: bytes, waiter: _Waiter) -> None:
        if self.error is not None:
            _fail(waiter, self.error)
            return
        if not self.queued:
            self.loop.call_soon(self._write)
        self.queued.append((packed, waiter))

    def _write(self) -> None:
        queued, self.queued = self.queued, []
        if self.error is not None or self.transport is None:
            for _, waiter in queued:
                _fail(waiter, self.error or RedisConnectionError("not connected"))
            return
        chunks = []
        for packed, waiter in queued:
            if _future(waiter).done():  # cancelled before it was sent: not sent
                continue
            chunks.append(packed)
            if not self.waiting:
                self.progress = time.monotonic()
            self.waiting.append(waiter)
        if chunks:
            self.transport.write(b"".join(chunks))
            if self.timer is None:
                self.timer = self.loop.call_later(self.timeout, self._check)

    def _check(self) -> None:
        self.timer = None
        if not self.waiting or self.error is not None:
            return
        idle = time.monotonic() - self.progress
        if idle < self.timeout:
            self.timer = self.loop.call_later(self.timeout - idle, self._check)
            return
        self.quiet.start()
        self.close(RedisTimeoutError(f"Redis did not answer within {self.timeout} s"))

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.waiting
        while waiting:
            try:
                reply = self.reader.gets()
            except InvalidResponse as error:
                self.close(RedisConnectionError(f"Redis sent what is not RESP: {error}"))
                return
            if reply is _MORE:
                break
            self.progress = time.monotonic()
            waiter = waiting[0]
            if type(waiter) is _Replies:
                waiter.replies.append(reply)
                if len(waiter.replies) < waiter.count:
                    continue
                if not waiter.future.done():
                    waiter.future.set_result(waiter.replies)
            elif not waiter.done():  # type: ignore[union-attr]
                waiter.set_result(reply)  # type: ignore[union-attr]
            waiting.popleft()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(RedisConnectionError(f"Connection to Redis lost: {exc or 'closed'}"))

    def close(self, error: RedisError) -> None:
        if self.error is None:
            self.error = error
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.close()
        for waiter in self.waiting:
            _fail(waiter, self.error)
        self.waiting.clear()
        for _, waiter in self.queued:
            _fail(waiter, self.error)
        self.queued.clear()


def _future(waiter: _Waiter) -> asyncio.Future[Any]:
    return waiter.future if type(waiter) is _Replies else waiter  # type: ignore[return-value]


def _fail(waiter: _Waiter, error: RedisError) -> None:
    future = _future(waiter)
    if not future.done():
        future.set_exception(type(error)(*error.args))


class Wire:
    """Commands of a pool's settings over one shared connection: `call` one, `call_many`
    several in a row (nothing of another caller's between them)."""

    def __init__(self, pool: ConnectionPool, timeout: float, quiet: Quiet) -> None:
        self._pool = pool
        self._timeout = timeout
        self._quiet = quiet
        self._encoder = pool.get_encoder()  # type: ignore[no-untyped-call]
        self._utf8 = (self._encoder.encoding, self._encoder.encoding_errors) == ("utf-8", "strict")
        self._protocol: _Protocol | None = None
        self._opening: asyncio.Future[_Protocol] | None = None  # the attempt under way

    def pack(self, args: Sequence[Any]) -> bytes:
        name = args[0]
        if isinstance(name, str) and " " in name:  # "SCRIPT LOAD": two words on the wire
            args = (*name.split(), *args[1:])
        if self._utf8:
            try:  # hiredis's, in C: the same bytes (tests/test_redis_batching.py)
                return hiredis.pack_command(tuple(args))  # type: ignore[no-any-return]
            except TypeError:  # what it does not take (a bool, None): as redis-py packs it
                pass
        encoder = self._encoder
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            kind = type(arg)  # the common kinds first, as redis-py's Encoder encodes them
            if kind is str:
                value = arg.encode(encoder.encoding, encoder.encoding_errors)
            elif kind is bytes:
                value = arg
            elif kind is int:
                value = b"%d" % arg
            else:
                value = encoder.encode(arg)
            parts += (b"$%d\r\n" % len(value), value, b"\r\n")
        return b"".join(parts)

    async def call(self, args: Sequence[Any]) -> Any:
        """The raw reply to a command, an error reply as its exception (not raised)."""
        return await self._send(self.pack(args), None)

    async def call_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """The raw replies to commands written together, error replies among them."""
        packed = b"".join(self.pack(args) for args in commands)
        return await self._send(packed, len(commands))  # type: ignore[no-any-return]

    async def _send(self, packed: bytes, count: int | None) -> Any:
        self._quiet.check()
        for attempt in range(2):  # a dropped connection is tried once more, on a new one
            protocol = self._protocol
            if protocol is None or not protocol.open:
                protocol = await self._open()
            loop = protocol.loop
            future: asyncio.Future[Any] = loop.create_future()
            protocol.send(packed, future if count is None else _Replies(count, future))
            try:
                return await future
            except RedisConnectionError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _open(self) -> _Protocol:
        """The callers that find no connection wait for one attempt to open it, and share
        its outcome: with Redis down, each round of callers fails at once, together (one at a
        time, each trying, they queued behind each other's attempts)."""
        opening = self._opening
        if opening is None:
            opening = self._opening = asyncio.ensure_future(self._connect())
            opening.add_done_callback(self._opened)
        return await asyncio.shield(opening)  # a caller that leaves cancels only its wait

    def _opened(self, opening: asyncio.Future[_Protocol]) -> None:
        self._opening = None
        if not opening.cancelled() and opening.exception() is None:  # (marks it retrieved)
            self._protocol = opening.result()

    async def _connect(self) -> _Protocol:
        connection: AbstractConnection = self._pool.make_connection()  # type: ignore[no-untyped-call]
        await connection.connect()  # type: ignore[no-untyped-call]
        writer = connection._writer
        assert writer is not None
        connection._reader = connection._writer = None  # it is the wire's now
        options: dict[str, Any] = {
            "protocolError": InvalidResponse,
            "replyError": BaseParser.parse_error,
            "notEnoughData": _MORE,
        }
        if self._encoder.decode_responses:
            options |= {"encoding": self._encoder.encoding, "errors": self._encoder.encoding_errors}
        protocol = _Protocol(hiredis.Reader(**options), self._timeout, self._quiet)
        protocol.transport = writer.transport  # type: ignore[assignment]
        protocol.writer = writer  # a StreamWriter collected closes its transport
        writer.transport.set_protocol(protocol)
        return protocol

    def close(self) -> None:
        if self._opening is not None:
            self._opening.cancel()
        if self._protocol is not None:
            self._protocol.close(RedisConnectionError("closed"))
            self._protocol = None

"""A WebSocket client light enough to hold thousands of connections in one process and note
when each message arrives without becoming what the benchmark measures.

It speaks just what `subscription_delivery` needs: the opening handshake with a subprotocol,
masked text frames out, unfragmented frames in (answering pings), and the arrival time of
every graphql-transport-ws `next` message. A full client (websockets) parses and decodes each
frame in Python and, with 5,000 connections in one process, would itself take hundreds of
milliseconds per broadcast.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from urllib.parse import urlsplit

_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._upgraded = False

    @classmethod
    async def open(cls, url: str, subprotocol: str) -> Connection:
        parts = urlsplit(url)
        _, protocol = await asyncio.get_running_loop().create_connection(
            cls, parts.hostname, parts.port
        )
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        )
        assert protocol._transport is not None
        protocol._transport.write(request.encode())
        await protocol._opened
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self._opened, self.acknowledged):
            if not future.done():
                future.set_exception(ConnectionError("closed"))
                future.exception()  # raised to whoever awaits it; no warning when nobody does

    def send_text(self, text: str) -> None:
        self._send(_TEXT, text.encode())

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buffer += data
        if not self._upgraded:
            head, found, rest = self._buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self._opened.set_exception(ConnectionError(head.decode(errors="replace")))
                return
            self._upgraded, self._buffer = True, rest
            self._opened.set_result(None)
        while (frame := self._frame()) is not None:
            opcode, payload = frame
            if opcode == _TEXT and b'"next"' in payload:
                self.arrivals.append(now)
            elif opcode == _TEXT and b"connection_ack" in payload:
                self.acknowledged.set_result(None)
            elif opcode == _PING:
                self._send(_PONG, payload)
            elif opcode == _CLOSE:
                self.close()

    def _frame(self) -> tuple[int, bytes] | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return None
            (length,), start = struct.unpack_from("!H", buffer, 2), 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            (length,), start = struct.unpack_from("!Q", buffer, 2), 10
        if len(buffer) < start + length:
            return None
        self._buffer = buffer[start + length :]
        return opcode, buffer[start : start + length]

    def _send(self, opcode: int, payload: bytes) -> None:
        """A masked frame, as a client must send."""
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self._transport is not None
        self._transport.write(header + mask + masked)

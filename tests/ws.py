"""A GraphQL WebSocket client for tests: graphql-transport-ws, or the legacy graphql-ws."""

from __future__ import annotations

import asyncio
import json
import uuid
from ssl import SSLContext
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

TRANSPORT_WS, LEGACY_WS = "graphql-transport-ws", "graphql-ws"


class Socket:
    def __init__(self, connection: ClientConnection, protocol: str) -> None:
        self.connection = connection
        self.protocol = protocol
        self._pending: dict[str, asyncio.Queue[dict[str, Any]]] = {}

    @classmethod
    async def open(
        cls,
        base_url: str,
        token: str | None = None,
        *,
        protocol: str = TRANSPORT_WS,
        ssl: SSLContext | None = None,
    ) -> Socket:
        """Connects (wss:// for an https:// base URL, verified with `ssl`) and signs in; raises
        ConnectionClosed when the server refuses."""
        url = base_url.replace("http", "ws", 1) + "/graphql"
        connection = await websockets.connect(url, subprotocols=[protocol], ssl=ssl)  # type: ignore[list-item]
        socket = cls(connection, protocol)
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await socket.send({"type": "connection_init", "payload": payload})
        while (await socket.receive())["type"] != "connection_ack":
            pass
        return socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, wait: float = 10) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(
                await asyncio.wait_for(self.connection.recv(), wait)
            )
            if message["type"] not in ("ka", "ping", "pong"):
                return message

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        operation = uuid.uuid4().hex[:8]
        start = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation, "type": start, "payload": payload})
        return operation

    async def next(self, wait: float = 10) -> dict[str, Any]:
        """The next result of any operation: its payload (data and/or errors)."""
        message = await self.receive(wait)
        assert message["type"] in ("next", "data", "error"), message
        payload: dict[str, Any] = message["payload"]
        return payload if isinstance(payload, dict) else {"errors": payload}

    async def silent(self, seconds: float) -> bool:
        """True when nothing but keep-alives arrives for `seconds`."""
        try:
            await self.receive(wait=seconds)
        except TimeoutError:
            return True
        return False

    async def closed_with(self, wait: float = 10) -> int | None:
        """Waits for the server to close the socket; its close code."""
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), wait)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    async def close(self) -> None:
        await self.connection.close()

"""GraphQL over WebSocket on /graphql: graphql-transport-ws, and the legacy graphql-ws.

Sign-in is the connection_init payload `{"authorization": "Bearer <token>"}`: a bad or revoked
token closes the socket with 4403, and so does the token's expiry or its revocation by a
password change (noticed within RECHECK_SECONDS), when the client reconnects with a fresh one
(and `since`). A connection without a token may subscribe to what needs no
sign-in. Limits: WS_CONNECTIONS_PER_USER across all API processes (4403 past it), and
WS_SUBSCRIPTIONS_PER_CONNECTION operations at once on one connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import OrderedDict
from contextlib import suppress
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from core.logs import REQUEST_ID
from core.metrics import WEBSOCKETS
from core.security import Identity
from core.tasks import stopping
from schema import schema
from schema.context import Context
from services import tokens
from services.rate_limits import CLIENT_BUDGET
from web.context import viewer_identity

log = logging.getLogger("chirp.websocket")
FORBIDDEN = 4403
TOO_SLOW = 4413  # a subscription fell BUFFER events behind: resubscribe with `since`
KEEP_ALIVE_SECONDS = 15
RECHECK_SECONDS = 30.0  # how often an open socket checks that its token was not revoked
_STATE = "chirp.websocket"
_ENCODED = 64


class _Connection:
    """What one WebSocket holds besides Strawberry's own state, and gives back at the end."""

    def __init__(self, websocket: WebSocket, context: Context) -> None:
        self.websocket = websocket
        self.context = context
        self.id = uuid.uuid4().hex
        self.identity: Identity | None = None  # signed in with this token
        self.checked_at = 0.0  # when the token was last found not revoked (monotonic)
        self.expiry: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with suppress(Exception):  # already gone
            await self.websocket.close(code=code, reason=reason)

    async def release(self) -> None:
        WEBSOCKETS.dec()
        if self.expiry is not None:
            self.expiry.cancel()
        with suppress(RedisError):  # the entry lapses by itself
            await self.websocket.app.state.presence.leave(self.id)
        await self.context.close()


class GraphQLWebSocket(GraphQL[Context, None]):
    def __init__(self, *, subscriptions_per_connection: int) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            keep_alive=True,
            keep_alive_interval=KEEP_ALIVE_SECONDS,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=subscriptions_per_connection,
        )
        self._connections: dict[int, _Connection] = {}  # by id() of their context
        self._watcher: asyncio.Task[None] | None = None  # rechecks the open sockets' tokens
        # a shared event's data, encoded once for all its subscribers: id() -> (data, JSON)
        self._encoded: OrderedDict[int, tuple[object, str]] = OrderedDict()

    def encode_json(self, data: object) -> str:
        """A `next` message whose data many subscribers share is encoded once."""
        if not isinstance(data, dict) or data.get("type") != "next" or len(data["payload"]) != 1:
            return super().encode_json(data)  # type: ignore[return-value]
        result = data["payload"]["data"]
        found = self._encoded.get(id(result))
        if found is None or found[0] is not result:
            found = (result, str(super().encode_json(result)))
            self._encoded[id(result)] = found
            if len(self._encoded) > _ENCODED:
                self._encoded.popitem(last=False)
        return f'{{"id":{json.dumps(data["id"])},"type":"next","payload":{{"data":{found[1]}}}}}'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            connection: _Connection | None = scope.get(_STATE)
            if connection is not None:
                self._connections.pop(id(connection.context), None)
                await connection.release()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        assert isinstance(request, WebSocket)
        state = request.app.state
        context = Context(
            db=state.db,
            redis=state.redis,
            tokens=state.tokens,
            settings=state.settings,
            viewer_id=None,
            request_id=uuid.uuid4().hex,
            search=state.search,
            limiter=state.limiter,
            hub=state.hub,
            client_budget=request.scope.get("state", {}).get(CLIENT_BUDGET),
        )
        connection = _Connection(request, context)
        REQUEST_ID.set(context.request_id)  # one id for the connection's log lines
        WEBSOCKETS.inc()
        context.close_socket = connection.close
        request.scope[_STATE] = connection
        self._connections[id(context)] = connection
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, Any]:
        params = context.connection_params or {}
        authorization = params.get("authorization", params.get("Authorization"))
        if authorization is None:
            return UNSET  # type: ignore[no-any-return]  # anonymous: sign-in fields answer UNAUTHENTICATED
        connection = self._connections[id(context)]
        identity = None
        if isinstance(authorization, str):
            identity = await viewer_identity(connection.websocket, authorization)
        if identity is None:
            raise ConnectionRejectionError({"message": "Invalid, expired or revoked token."})
        presence = connection.websocket.app.state.presence
        try:
            admitted = await presence.admit(identity.user_id, connection.id)
        except RedisError:  # the limit cannot be checked: let the user in
            log.warning("websocket: Redis failed; connection admitted without the per-user limit")
            admitted = True
        if not admitted:
            raise ConnectionRejectionError({"message": "Too many connections for this user."})
        context.viewer_id = identity.user_id
        context.after_write()  # loaders for this viewer
        connection.identity, connection.checked_at = identity, time.monotonic()
        connection.expiry = asyncio.get_running_loop().call_later(
            max(identity.expires_at - time.time(), 0),
            connection.close,
            FORBIDDEN,
            "Token expired: reconnect with a new one.",
        )
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._recheck(connection.websocket.app.state))
        return UNSET  # type: ignore[no-any-return]

    async def _recheck(self, state: Any) -> None:
        """While sockets are open: closes with 4403 those whose token was revoked (a password
        change), each checked every RECHECK_SECONDS, all those due in one batch."""
        try:
            while self._connections and not stopping():
                await asyncio.sleep(min(RECHECK_SECONDS, 1.0))
                now = time.monotonic()
                due = [
                    connection
                    for connection in self._connections.values()
                    if connection.identity is not None
                    and connection.checked_at + RECHECK_SECONDS <= now
                ]
                if due:
                    await _close_revoked(state, due, now)
        finally:
            self._watcher = None


async def _close_revoked(state: Any, connections: list[_Connection], now: float) -> None:
    identities = [connection.identity for connection in connections if connection.identity]
    try:
        current = await tokens.are_current(
            state.db, state.redis, identities, ttl=state.settings.cache_ttl_seconds
        )
    except Exception:  # the database is out of reach: check again next time
        log.warning("websocket: tokens could not be checked", exc_info=True)
        return
    for connection, still in zip(connections, current, strict=True):
        connection.checked_at = now
        if not still:
            connection.close(FORBIDDEN, "Token revoked: sign in again.")

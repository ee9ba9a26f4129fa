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
        self.watch: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with suppress(Exception):  # already gone
            await self.websocket.close(code=code, reason=reason)

    async def release(self) -> None:
        WEBSOCKETS.dec()
        if self.watch is not None:
            self.watch.cancel()
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
        connection.watch = asyncio.create_task(_watch(connection, identity))
        return UNSET  # type: ignore[no-any-return]


async def _watch(connection: _Connection, identity: Identity) -> None:
    """Closes the socket with 4403 when its token expires, or within RECHECK_SECONDS of its
    revocation (a password change)."""
    state = connection.websocket.app.state
    while not stopping():
        left = identity.expires_at - time.time()
        if left <= 0:
            connection.close(FORBIDDEN, "Token expired: reconnect with a new one.")
            return
        await asyncio.sleep(min(left, RECHECK_SECONDS))
        if time.time() >= identity.expires_at:
            continue
        try:
            current = await tokens.is_current(
                state.db, state.redis, identity, ttl=state.settings.cache_ttl_seconds
            )
        except Exception:  # the database is out of reach: check again next time
            log.warning("websocket: the token could not be checked", exc_info=True)
            continue
        if not current:
            connection.close(FORBIDDEN, "Token revoked: sign in again.")
            return

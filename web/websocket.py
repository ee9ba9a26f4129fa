"""GraphQL over WebSocket on /graphql: graphql-transport-ws, and the legacy graphql-ws.

Sign-in is the connection_init payload `{"authorization": "Bearer <token>"}`: a bad or revoked
token closes the socket with 4403, and so does the token's expiry or its revocation by a
password change (noticed within RECHECK_SECONDS), when the client reconnects with a fresh one
(and `since`). A connection without a token may subscribe to what needs no
sign-in. Limits: WS_CONNECTIONS_PER_USER across all API processes (past it the socket closes
with 4429, not 4403: the token is good, and a client that signs out on 4403 must not), and
WS_SUBSCRIPTIONS_PER_CONNECTION operations at once on one connection (past it the operation's
error is RATE_LIMITED).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, cast

from graphql import GraphQLFormattedError
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage as TransportError,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage as WSInit
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage as LegacyError
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage, StartMessage
from strawberry.types.unset import UNSET, UnsetType

from core import tasks
from core.errors import RateLimited, format_api_error
from core.logs import REQUEST_ID
from core.metrics import WEBSOCKETS
from core.security import Identity
from schema.build import schema
from schema.context import Context
from services import tokens
from services.rate_limits import CLIENT_BUDGET
from web.context import viewer_identity
from web.request_body import parse_json
from web.ws_messages import INVALID, malformed

log = logging.getLogger("chirp.websocket")
FORBIDDEN = 4403
TOO_SLOW = 4413  # a subscription fell BUFFER events behind: resubscribe with `since`
TOO_MANY = 4429  # the user holds WS_CONNECTIONS_PER_USER connections already
KEEP_ALIVE_SECONDS = 15
RECHECK_SECONDS = 30.0  # how often an open socket checks that its token was not revoked
_STATE = "chirp.websocket"
_ENCODED = 64
# the graphql-transport-ws operation whose task is running (each operation has a task of its own)
_OPERATION: ContextVar[Operation[Context, None] | None] = ContextVar("operation", default=None)


class _TooManyConnections(Exception):
    """on_ws_connect's refusal of a user over WS_CONNECTIONS_PER_USER."""


_TOO_MANY_REASON = "Too many connections for this user."


def _over_the_limit(operations: int, view: Any) -> list[GraphQLFormattedError] | None:
    """The error of an operation past the per-connection limit, as the client sees errors."""
    if operations < view.operations_per_connection:
        return None
    limit = view.operations_per_connection
    refused = RateLimited(
        f"At most {limit} operations run at once on one connection.", retry_after=1
    )
    return [cast(GraphQLFormattedError, format_api_error(refused))]


class _TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_message(self, message: Message) -> None:
        if (reason := malformed(message)) is not None:
            await self.handle_invalid_message(reason)  # 4400
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except _TooManyConnections:
            await self.websocket.close(code=TOO_MANY, reason=_TOO_MANY_REASON)
        # cancelled by now: holding it would keep its CancelledError, with the frames of its
        # traceback, for as long as the socket is open (~1 KB of each idle connection)
        self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            refused = _over_the_limit(len(self.operations), self.view)
            if refused is not None:
                await self.send_message(
                    TransportError(id=message["id"], type="error", payload=refused)
                )
                return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        _OPERATION.set(operation)  # its resolvers may send its results (send_shared)
        await super().run_operation(operation)


class _LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (subscriptions-transport-ws) as graphql-transport-ws is served: a malformed
    message closes the socket with 4400, a refused token with 4403 (Strawberry's: 1011), and
    queries and mutations run too, as Apollo's servers of the protocol ran them (Strawberry's
    handler runs subscriptions only)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = cast(BaseSchema, _EveryOperation(self.schema))

    async def handle_message(self, message: OperationMessage) -> None:
        if (reason := malformed(message)) is not None:
            await self.websocket.close(code=INVALID, reason=reason)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: WSInit) -> None:
        self.context.connection_params = message.get("payload")  # an object or none: malformed()
        try:
            await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as rejected:
            await self._refuse(rejected.payload, FORBIDDEN, "Forbidden")
            return
        except _TooManyConnections:
            await self._refuse({"message": _TOO_MANY_REASON}, TOO_MANY, _TOO_MANY_REASON)
            return
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

    async def _refuse(self, payload: Any, code: int, reason: str) -> None:
        await self.send_message({"type": "connection_error", "payload": payload})
        await self.websocket.close(code=code, reason=reason)

    async def handle_start(self, message: StartMessage) -> None:
        if self.connection_acknowledged and message["id"] not in self.tasks:
            refused = _over_the_limit(len(self.tasks), self.view)
            if refused is not None:
                await self.send_message(
                    LegacyError(id=message["id"], type="error", payload=refused[0])
                )
                return
        await super().handle_start(message)


class _EveryOperation:
    """The schema as the legacy handler sees it: its `subscribe` runs any operation, queries and
    mutations as one result, as graphql-transport-ws runs them (Schema.stream)."""

    def __init__(self, schema: BaseSchema) -> None:
        self._schema = schema

    async def subscribe(self, **kwargs: Any) -> Any:
        return await self._schema.stream(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)


class _Connection:
    """What one WebSocket holds besides Strawberry's own state, and gives back at the end."""

    __slots__ = (
        "view",
        "websocket",
        "context",
        "id",
        "identity",
        "checked_at",
        "expiry",
        "unwatch",
        "_closing",
    )

    def __init__(self, view: GraphQLWebSocket, websocket: WebSocket, context: Context) -> None:
        self.view = view
        self.websocket = websocket
        self.context = context
        self.id = uuid.uuid4().hex
        self.identity: Identity | None = None  # signed in with this token
        self.checked_at = 0.0  # when the token was last found not revoked (monotonic)
        self.expiry: asyncio.TimerHandle | None = None
        self.unwatch: Callable[[], None] | None = None  # the hub's revocation notice
        self._closing: asyncio.Task[None] | None = None

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with suppress(Exception):  # already gone
            await self.websocket.close(code=code, reason=reason)

    async def send_shared(self, data: object) -> bool:
        """Sends the data of a result shared by many subscribers (one without errors) as the
        running operation's `next` message, as Strawberry would, but without its per-message
        extension hooks and encoding (our extensions add nothing to subscription events). False
        on the legacy protocol or when the socket is gone: the event then takes the usual way."""
        operation = _OPERATION.get()
        if operation is None or operation.completed:
            return False
        try:
            await self.websocket.send_text(_next_message(operation.id, self.view.encoded(data)))
        except (WebSocketDisconnect, RuntimeError):
            return False
        return True

    def recheck_soon(self) -> None:
        """Its token may have been revoked: the watcher checks it on its next turn."""
        self.checked_at = 0.0

    async def release(self) -> None:
        WEBSOCKETS.dec()
        if self.expiry is not None:
            self.expiry.cancel()
        if self.unwatch is not None:
            self.unwatch()
        with suppress(RedisError):  # the entry lapses by itself
            await self.websocket.app.state.presence.leave(self.id)
        await self.context.close()


class GraphQLWebSocket(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = _TransportWSHandler
    graphql_ws_handler_class = _LegacyWSHandler

    def __init__(self, *, subscriptions_per_connection: int) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            keep_alive=True,
            keep_alive_interval=KEEP_ALIVE_SECONDS,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=None,  # ours, with a contract code: _over_the_limit
        )
        self.operations_per_connection = subscriptions_per_connection
        self._connections: dict[int, _Connection] = {}  # by id() of their context
        self._watcher: asyncio.Task[None] | None = None  # rechecks the open sockets' tokens
        # a shared event's data, encoded once for all its subscribers: id() -> (data, JSON)
        self._encoded: OrderedDict[int, tuple[object, str]] = OrderedDict()

    def decode_json(self, data: str | bytes) -> object:
        """As HTTP bodies are parsed (web/request_body.py); what it refuses, deep nesting
        included, is what Strawberry's handlers take for a message that is not JSON."""
        try:
            return parse_json(data)
        except ValueError as error:
            raise json.JSONDecodeError(str(error), "", 0) from None

    def encode_json(self, data: object) -> str:
        """A `next` message whose data many subscribers share is encoded once."""
        if not isinstance(data, dict) or data.get("type") != "next" or len(data["payload"]) != 1:
            return super().encode_json(data)  # type: ignore[return-value]
        return _next_message(data["id"], self.encoded(data["payload"]["data"]))

    def encoded(self, data: object) -> str:
        """The JSON of a result's data, encoded once while it is among the newest few."""
        found = self._encoded.get(id(data))
        if found is None or found[0] is not data:
            found = (data, str(super().encode_json(data)))
            self._encoded[id(data)] = found
            if len(self._encoded) > _ENCODED:
                self._encoded.popitem(last=False)
        return found[1]

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
            stores=state.stores,
            tokens=state.tokens,
            viewer_id=None,
            request_id=uuid.uuid4().hex,
            search=state.search,
            limiter=state.limiter,
            hub=state.hub,
            client_budget=request.scope.get("state", {}).get(CLIENT_BUDGET),
        )
        connection = _Connection(self, request, context)
        REQUEST_ID.set(context.request_id)  # one id for the connection's log lines
        WEBSOCKETS.inc()
        context.close_socket = connection.close
        context.send_shared = connection.send_shared
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
            raise _TooManyConnections
        context.viewer_id = identity.user_id
        context.after_write()  # loaders for this viewer
        connection.identity, connection.checked_at = identity, time.monotonic()
        hub = connection.websocket.app.state.hub  # a password change, a suspension: at once
        connection.unwatch = hub.on_revocation(identity.user_id, connection.recheck_soon)
        connection.expiry = asyncio.get_running_loop().call_later(
            max(identity.expires_at - time.time(), 0),
            connection.close,
            FORBIDDEN,
            "Token expired: reconnect with a new one.",
        )
        if self._watcher is None or self._watcher.done():  # it ends with the last socket
            state = connection.websocket.app.state
            self._watcher = tasks.keep_running(
                "token recheck", functools.partial(self._recheck, state)
            )
        return UNSET  # type: ignore[no-any-return]

    async def _recheck(self, state: Any) -> None:
        """While sockets are open: closes with 4403 those whose token was revoked (a password
        change, a suspension), each checked every RECHECK_SECONDS, and within a second of the
        live notice of a revocation (services/live.py REVOKED), all those due in one batch."""
        while self._connections and not tasks.stopping():
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


def _next_message(operation_id: str, data: str) -> str:
    return f"{_next_start(operation_id)}{data}}}}}"


@functools.lru_cache(maxsize=4096)
def _next_start(operation_id: str) -> str:
    return f'{{"id":{json.dumps(operation_id)},"type":"next","payload":{{"data":'

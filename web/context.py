"""Who is asking: the per-request GraphQL context."""

from __future__ import annotations

import os
import re

from starlette.requests import HTTPConnection

from core.security import Identity, bearer_token
from schema.context import Context
from services import tokens
from services.rate_limits import CLIENT_BUDGET

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_IDENTITY = "viewer_identity"  # request_identity's, in the ASGI scope's state


def request_id(connection: HTTPConnection) -> str:
    given = connection.headers.get("x-request-id", "")
    # made here: 128 random bits, as uuid4().hex, for a fifth of its cost
    return given if _REQUEST_ID.fullmatch(given) else os.urandom(16).hex()


async def viewer_identity(connection: HTTPConnection, authorization: str | None) -> Identity | None:
    """Who an Authorization value (`Bearer <token>`) signs in: None for a missing, malformed,
    expired or revoked token (revoked: issued before the user's last password change)."""
    token = bearer_token(authorization)
    state = connection.app.state
    identity: Identity | None = state.tokens.identity(token) if token else None
    if identity is None:
        return None
    ttl = state.settings.cache_ttl_seconds
    return identity if await tokens.is_current(state.db, state.redis, identity, ttl=ttl) else None


async def request_identity(connection: HTTPConnection) -> Identity | None:
    """viewer_identity of the request's Authorization header, looked up once a request: the
    rate-limit middleware (web/rate_limit.py) asks first, the context after it."""
    state = connection.scope.setdefault("state", {})
    if _IDENTITY not in state:
        authorization = connection.headers.get("authorization")
        state[_IDENTITY] = await viewer_identity(connection, authorization)
    identity: Identity | None = state[_IDENTITY]
    return identity


async def build_context(connection: HTTPConnection) -> Context:
    state = connection.app.state
    identity = await request_identity(connection)
    return Context(
        stores=state.stores,
        tokens=state.tokens,
        viewer_id=None if identity is None else identity.user_id,
        request_id=getattr(connection.state, "request_id", None) or request_id(connection),
        search=state.search,
        limiter=state.limiter,
        client_budget=getattr(connection.state, CLIENT_BUDGET, None),
    )

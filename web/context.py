"""Who is asking: the per-request GraphQL context."""

from __future__ import annotations

import re
import uuid

from starlette.requests import HTTPConnection

from core.security import bearer_token
from schema.context import Context
from services.rate_limits import CLIENT_BUDGET

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id(connection: HTTPConnection) -> str:
    given = connection.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def viewer_id(connection: HTTPConnection, authorization: str | None) -> int | None:
    token = bearer_token(authorization)
    return connection.app.state.tokens.user_id(token) if token else None


async def build_context(connection: HTTPConnection) -> Context:
    state = connection.app.state
    return Context(
        db=state.db,
        redis=state.redis,
        tokens=state.tokens,
        settings=state.settings,
        viewer_id=viewer_id(connection, connection.headers.get("authorization")),
        request_id=getattr(connection.state, "request_id", None) or request_id(connection),
        search=state.search,
        client_budget=getattr(connection.state, CLIENT_BUDGET, None),
    )

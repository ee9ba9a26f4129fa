"""The per-client request budget (RATE_LIMIT_PER_MINUTE) on /graphql and everything under /api/.

A client is its user when the request carries a valid bearer token (signed, not expired, not
revoked: a stolen token that was revoked must not spend its owner's budget), else its IP address
(the ASGI client address: uvicorn's --proxy-headers puts there the X-Forwarded-For address of a
trusted proxy). Each request takes one unit before anything else runs; over the budget it is
answered HTTP 429 with Retry-After, and a WebSocket handshake is denied with 429 where the server
can say so. The GraphQL extension (schema/rate_limit.py) charges costly operations more through
the ClientBudget this middleware leaves in the scope's state. Every response under the budget
carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (seconds), added by the
request middleware (web/middleware.py) from the budget's latest decision.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import format_api_error
from services.rate_limits import CLIENT, CLIENT_BUDGET, ClientBudget, Decision, client_key, refusal
from web.context import request_identity
from web.rest.errors import error_response

_DENIAL = "websocket.http.response"


def budgeted(path: str) -> bool:
    return path == "/graphql" or path.startswith("/api/")


def rate_headers(decision: Decision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset),
    }


def add_budget_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    """The X-RateLimit-* headers of the request's budget, if it has one (a refusal sets its
    own)."""
    budget = scope.get("state", {}).get(CLIENT_BUDGET)
    decision = None if budget is None else budget.decision
    if decision is not None:
        headers.extend(
            (name.lower().encode(), value.encode())
            for name, value in rate_headers(decision).items()
        )


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not budgeted(scope["path"]):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        limiter = scope["app"].state.limiter
        if limiter.requests.limit <= 0:
            await self.app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        identity = await request_identity(connection)  # the generation is cached in Redis
        user = None if identity is None else identity.user_id
        decision = await limiter.take(CLIENT, client_key(user, address), rate=limiter.requests)
        if not decision.allowed:
            await _refuse(scope, receive, send, decision)
            return
        # on a WebSocket the handshake paid; each operation pays in the GraphQL extension
        budget = ClientBudget(address, prepaid=1 if scope["type"] == "http" else 0)
        budget.decision = decision
        scope.setdefault("state", {})[CLIENT_BUDGET] = budget
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, decision: Decision) -> None:
    error = refusal(CLIENT, decision)
    if scope["path"].startswith("/api/"):
        response = error_response(error)  # the REST API's error body
    else:
        response = JSONResponse({"errors": [format_api_error(error)]}, status_code=429)
    response.headers.update({"Retry-After": str(decision.retry_after), **rate_headers(decision)})
    if scope["type"] == "http" or _DENIAL in scope.get("extensions", {}):
        await response(scope, receive, send)  # Starlette sends a WebSocket's as a denial
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": error.message})

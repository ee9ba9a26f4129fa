"""Outermost, for every HTTP request: a request id, Prometheus request metrics, an access log
line, and the response headers every answer carries (security headers, web/headers.py; the
client's budget, web/rate_limit.py), added in one pass over the response's head."""

from __future__ import annotations

import logging
import time

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logs import REQUEST_ID
from core.metrics import HTTP_LATENCY, HTTP_REQUESTS, series
from web.context import request_id
from web.headers import add_security_headers
from web.rate_limit import add_budget_headers

_KNOWN_PATHS = {"/graphql", "/healthz", "/readyz", "/livez", "/metrics", "/stats"}
_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
access = logging.getLogger("chirp.access")


class RequestMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(HTTPConnection(scope))
        scope.setdefault("state", {})["request_id"] = rid
        REQUEST_ID.set(rid)  # on every log line of this request
        path = scope["path"] if scope["path"] in _KNOWN_PATHS else "other"
        secure = scope.get("scheme") == "https"
        status = 500
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.setdefault("headers", [])
                if not isinstance(headers, list):
                    headers = message["headers"] = list(headers)
                add_budget_headers(scope, headers)
                add_security_headers(headers, secure=secure)
                headers.append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "other"
            series(HTTP_REQUESTS, method, path, str(status)).inc()
            series(HTTP_LATENCY, method, path).observe(seconds)
            fields = {"status": status, "duration_ms": round(seconds * 1000, 1)}
            access.info("%s %s", scope["method"], scope["path"], extra={"fields": fields})

"""Response headers for browsers: security headers on every response (HSTS only over HTTPS,
where a browser heeds it), and CORS from an allow-list.

Pages that set a Content-Security-Policy of their own (GraphiQL, /stats) keep it; every other
response, JSON mostly, gets one that allows nothing, framing included. The request middleware
(web/middleware.py), outermost, adds them, so that CORS preflight answers carry them too.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from core.config import Settings

HSTS = "max-age=63072000; includeSubDomains"
NOTHING_ALLOWED = "default-src 'none'; frame-ancestors 'none'"
_ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": NOTHING_ALLOWED,
}
_Raw = list[tuple[bytes, bytes]]
_PLAIN: _Raw = [(name.lower().encode(), value.encode()) for name, value in _ALWAYS.items()]
_SECURE: _Raw = [*_PLAIN, (b"strict-transport-security", HSTS.encode())]
# what a browser on an allowed origin may send and read (bearer tokens, no cookies)
CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type", "X-Request-Id")
CORS_EXPOSED = ("X-Request-Id", "Retry-After")


def add_missing(headers: _Raw, added: _Raw) -> None:
    """Appends each of `added` (lower-case names) whose name `headers` does not have yet."""
    present = {name.lower() for name, _ in headers}
    headers.extend(header for header in added if header[0] not in present)


def add_security_headers(headers: _Raw, *, secure: bool) -> None:
    add_missing(headers, _SECURE if secure else _PLAIN)


def cors_middleware(settings: Settings) -> list[Middleware]:
    """No CORS headers at all unless CORS_ORIGINS lists origins."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSED,
            max_age=600,
        )
    ]

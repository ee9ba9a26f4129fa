"""The origin the service's absolute URLs start with (REST `Link` headers, GraphiQL's policy).

Never the Host header as such, which a client sets to anything: the request's origin only when
PUBLIC_URL lists it, else PUBLIC_URL's first; without PUBLIC_URL, HOST:PORT with the scheme the
request was served with.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from core.config import Settings

_DEFAULT_PORTS = {"http": 80, "https": 443}


def public_origin(connection: HTTPConnection) -> str:
    settings: Settings = connection.app.state.settings
    scheme = "https" if connection.scope["scheme"] in ("https", "wss") else "http"
    if settings.public_url:
        origins = [url.rstrip("/").lower() for url in settings.public_url]
        asked = f"{scheme}://{connection.headers.get('host', '')}".lower()
        return asked if asked in origins else origins[0]
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    port = "" if _DEFAULT_PORTS[scheme] == settings.port else f":{settings.port}"
    return f"{scheme}://{host}{port}"


def websocket_origin(origin: str) -> str:
    """ws://... for http://..., wss://... for https://..."""
    return "ws" + origin.removeprefix("http")

"""GraphiQL at GET /graphql, with every asset served by this service (no CDN).

React, GraphiQL and its plugins come from the `graphene-django-graphiql-static` wheel on PyPI,
installed with the other dependencies; nothing third-party is committed here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from web.origins import public_origin, websocket_origin

TEMPLATES = Path(__file__).resolve().parent / "templates"
# no 'unsafe-eval': the bundle's one `new Function` is webpack's fallback for browsers without
# globalThis. The WebSocket URL is named as well as 'self', which older browsers do not extend
# to ws: and wss:.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self' {websocket}; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _asset_dir() -> Path | None:
    spec = importlib.util.find_spec("graphene_django_graphiql_static")
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = (
        Path(spec.submodule_search_locations[0]) / "static" / "graphene_django_graphiql_static"
    )
    return directory if (directory / "graphiql.min.js").exists() else None


def wants_graphiql(request: Request) -> bool:
    """A browser asking for the page: GET, HTML preferred, no query of its own."""
    own = ("query", "raw", "extensions")  # extensions: a persisted query
    if request.method != "GET" or any(key in request.query_params for key in own):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept.split(",")[0] or (
        "text/html" in accept and "application/json" not in accept
    )


def graphiql_page(request: Request) -> Response:
    if _asset_dir() is None:
        return HTMLResponse(
            "<h1>GraphiQL is not installed</h1><p>Install the requirements (make run does).</p>",
            status_code=503,
        )
    policy = _CSP.format(websocket=websocket_origin(public_origin(request)))
    return HTMLResponse(
        (TEMPLATES / "graphiql.html").read_text(), headers={"Content-Security-Policy": policy}
    )


async def _our_script(request: Request) -> Response:
    return FileResponse(TEMPLATES / "chirp-graphiql.js", media_type="text/javascript")


def graphiql_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route("/graphiql/static/chirp-graphiql.js", _our_script)]
    directory = _asset_dir()
    if directory is not None:
        routes.append(Mount("/graphiql/static", StaticFiles(directory=directory)))
    return routes

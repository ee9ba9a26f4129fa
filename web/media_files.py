"""GET /media/{key}: the image files, when no MEDIA_PUBLIC_URL (a CDN) serves them.

A key names the bytes (their hash), so a file never changes: browsers and caches keep it for a
year without asking again. nosniff keeps a browser from reading a file as anything but the
image type it is served as; cross-origin, so that web clients on other origins may show it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from media.images import EXTENSIONS
from media.storage import is_key

CACHED = "public, max-age=31536000, immutable"


async def media_file(request: Request) -> Response:
    key = request.path_params["key"]
    if not is_key(key):
        return Response("No such file.", status_code=404, media_type="text/plain")
    data = await request.app.state.stores.media.get(key)
    if data is None:
        return Response("No such file.", status_code=404, media_type="text/plain")
    headers = {
        "Cache-Control": CACHED,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "ETag": f'"{key.partition(".")[0]}"',
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    content_type = EXTENSIONS[key.rpartition(".")[2]]
    return Response(data, media_type=content_type, headers=headers)  # HEAD: the server drops it


def media_routes() -> list[BaseRoute]:
    return [Route("/media/{key:path}", media_file, methods=["GET"])]  # and HEAD

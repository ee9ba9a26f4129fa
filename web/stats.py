"""A live /stats page for operators: charts drawn in the browser from this process's /metrics.

The page and its script are served here and use no library or CDN, so it works on a machine
with no internet; the script polls /metrics on the same origin and keeps the last five minutes.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static" / "stats"
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Stats · chirp</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/stats/static/stats.css">
  <script src="/stats/static/stats.js" defer></script>
</head>
<body>
  <header>
    <h1>chirp · live stats</h1>
    <p id="status">Waiting for the first read of /metrics…</p>
  </header>
  <main id="charts"></main>
</body>
</html>
"""


async def stats_page(request: Request) -> Response:
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": _CSP})


def stats_routes() -> list[BaseRoute]:
    return [
        Route("/stats", stats_page),
        Mount("/stats/static", StaticFiles(directory=STATIC)),
    ]

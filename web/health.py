"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from services import cluster_metrics

CHECK_TIMEOUT_SECONDS = 2.0


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    state = request.app.state
    checks = {
        "database": _database(state.db),
        "redis": state.redis.ping(),
        "search": state.search.ping(),
    }
    failing: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS)
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            failing[name] = type(error).__name__
    if failing:
        return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    state = request.app.state
    await cluster_metrics.refresh(state.db, state.redis, state.settings)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _database(db: object) -> None:
    async with db.read() as connection:  # type: ignore[attr-defined]
        await connection.execute(text("SELECT 1"))

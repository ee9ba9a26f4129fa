"""Liveness, readiness, the balancer's check and Prometheus metrics.

The checks take the database connection of their own (app.state.health_db), so that a burst
holding every pooled connection does not make a busy process look dead, and run at once, each
within a bound: none waits longer than its bound, whatever a backend does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from core.db import Database
from services import cluster_metrics

CHECK_TIMEOUT_SECONDS = 2.0  # /readyz, for operators
SERVING_TIMEOUT_SECONDS = 1.0  # /livez, for the balancer (deploy/haproxy.cfg waits 3 s)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """200 when every backend answers; 503 naming the failing ones otherwise."""
    failing = await _failing(request.app.state, CHECK_TIMEOUT_SECONDS)
    if failing:
        return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
    return JSONResponse({"status": "ready"})


async def livez(request: Request) -> Response:
    """The balancer's check: 200 while this process can serve, which takes PostgreSQL alone
    (without Redis, pages come from the database); a failing Redis or search, or read replicas
    all left out, is named under `degraded`. 503 naming the database when it does not answer."""
    failing = await _failing(request.app.state, SERVING_TIMEOUT_SECONDS)
    replicas = request.app.state.db.replicas
    if replicas is not None and not any(member.usable for member in replicas.members):
        failing["replicas"] = "LeftOut"  # every read on the primary meanwhile
    if "database" in failing:
        body = {"status": "unavailable", "failing": {"database": failing.pop("database")}}
        return JSONResponse(body | {"degraded": failing}, status_code=503)
    return JSONResponse({"status": "serving", "degraded": failing})


async def metrics(request: Request) -> Response:
    state = request.app.state
    await cluster_metrics.refresh(state.db, state.redis, state.settings)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _failing(state: Any, bound: float) -> dict[str, str]:
    """The backends that fail or do not answer within `bound` seconds, with the error's name."""
    checks = {
        "database": _database(state.health_db),
        "redis": state.redis.ping(),
        "search": state.search.ping(),
    }
    results = await asyncio.gather(
        *(asyncio.wait_for(check, bound) for check in checks.values()), return_exceptions=True
    )
    return {
        name: type(result).__name__
        for name, result in zip(checks, results, strict=True)
        if isinstance(result, BaseException)  # any failure means "not ready"
    }


async def _database(db: Database) -> None:
    async with db.read() as connection:
        await connection.execute(text("SELECT 1"))

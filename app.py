"""The ASGI application: create_app() wires settings, stores and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from core import cursors, ids
from core.config import Settings
from core.db import Database
from core.security import TokenCodec
from schema import schema
from web.graphiql import graphiql_routes
from web.graphql_http import graphql_endpoint
from web.health import healthz, metrics, readyz
from web.middleware import RequestMiddleware

logger = logging.getLogger("chirp")


async def _worker_id(settings: Settings, redis: aioredis.Redis) -> int:
    """WORKER_ID when configured, else a lease from Redis unique among 1,024 live processes."""
    if settings.worker_id is not None:
        return settings.worker_id
    return int(await redis.incr("snowflake:worker-seq")) % (ids.MAX_WORKER_ID + 1)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set (serve.py sets them for you).")
    secret = settings.resolved_jwt_secret()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database.connect(settings.database_url or "", pool_size=settings.db_pool_size)
        redis = aioredis.from_url(settings.redis_url or "", decode_responses=True)
        ids.configure(await _worker_id(settings, redis))
        cursors.configure(secret)
        app.state.settings = settings
        app.state.db = db
        app.state.redis = redis
        app.state.schema = schema
        app.state.tokens = TokenCodec(
            secret=secret, issuer=settings.jwt_issuer, ttl_seconds=settings.jwt_ttl_seconds
        )
        try:
            yield
        finally:
            await redis.aclose()
            await db.dispose()

    routes = [
        Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *graphiql_routes(),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(RequestMiddleware)])

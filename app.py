"""The ASGI application: create_app() wires settings, stores and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from core import cursors, redis_clients, runtime, tasks, worker_ids
from core.config import Settings
from core.db import Database, RequestReads
from core.security import TokenCodec
from dataloaders import SharedRows, shared_rows
from media.images import ImagePool
from schema.build import schema
from services import live, persisted_queries, search_backends
from services.presence import Presence
from services.rate_limits import Limiter
from services.stores import Stores
from web.graphiql import graphiql_routes
from web.graphql_http import GraphQLApp
from web.headers import cors_middleware
from web.health import healthz, livez, metrics, readyz
from web.media_files import media_routes
from web.middleware import RequestMiddleware
from web.rate_limit import RateLimitMiddleware
from web.rest.routes import rest_routes
from web.stats import stats_routes
from web.websocket import GraphQLWebSocket

logger = logging.getLogger("chirp")


async def _shared_rows(
    db: Database, redis: aioredis.Redis, settings: Settings, tweet_ids: list[int], viewers: set[int]
) -> SharedRows:
    reads = RequestReads(db)
    try:
        return await shared_rows(reads, redis, tweet_ids, viewers, ttl=settings.cache_ttl_seconds)
    finally:
        await reads.close()


class _App(Starlette):
    """Starlette, except that /graphql goes straight to its handler. A WebSocket there passes
    only the per-client budget: the other layers (error pages, headers, request metrics,
    routing) do nothing for it, yet each would keep a coroutine frame alive for as long as the
    socket is open (~2 KB of each of thousands of idle connections). A GET or POST passes the
    same layers as any request but the router's and its exception handlers' (the app has
    none): a quarter of `{ __typename }`'s CPU was Starlette's layers."""

    def __init__(
        self, graphql_websocket: GraphQLWebSocket, graphql_http: ASGIApp, **options: Any
    ) -> None:
        super().__init__(**options)
        self._graphql_websocket = RateLimitMiddleware(graphql_websocket)
        self._graphql_endpoint = graphql_http
        self._graphql_http: ASGIApp | None = None  # built on first use, as Starlette's stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") == "/graphql":
            if scope["type"] == "websocket":
                scope["app"] = self
                await self._graphql_websocket(scope, receive, send)
                return
            if scope["type"] == "http" and scope["method"] in ("GET", "POST"):
                scope["app"] = self
                if self._graphql_http is None:
                    self._graphql_http = self._stack(self._graphql_endpoint)
                await self._graphql_http(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _stack(self, app: ASGIApp) -> ASGIApp:
        """`app` inside the user middleware and Starlette's 500 page, as the router is."""
        layers = [Middleware(ServerErrorMiddleware, debug=self.debug), *self.user_middleware]
        for layer in reversed(layers):
            cls, args, kwargs = layer
            app = cls(app, *args, **kwargs)
        return app


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set (serve.py sets them for you).")
    secret = settings.resolved_jwt_secret()
    if settings.persisted_queries_only:  # a broken allow-list stops the start, not a request
        persisted_queries.allow_list(settings.persisted_queries_only)
    tokens = TokenCodec.from_settings(settings)  # a malformed JWT_KEYS fails here

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.tune_collector()
        db = Database.connect(
            settings.database_url or "",
            pool_size=settings.db_pool_size,
            replica_urls=settings.database_replica_urls,
            replica_max_lag=settings.database_replica_max_lag_seconds,
        )
        url, timeout = settings.redis_url or "", settings.redis_timeout_seconds
        redis = redis_clients.connect(
            url,
            timeout=timeout,
            max_connections=settings.redis_pool_size,
            decode_responses=True,
            batched=True,
        )
        # the live stream's blocking reads have a connection, and a longer timeout, of their own
        blocking = redis_clients.connect(url, timeout=live.BLOCK_SECONDS + timeout)
        cursors.configure(secret)
        app.state.settings = settings
        app.state.db = db
        app.state.health_db = Database.connect(settings.database_url or "", pool_size=1)
        app.state.redis = redis
        app.state.stores = Stores(db, redis, settings)
        app.state.schema = schema
        app.state.tokens = tokens
        app.state.hub = live.Hub(blocking, db, partial(_shared_rows, db, redis, settings))
        app.state.presence = Presence(redis, settings.ws_connections_per_user)
        app.state.limiter = Limiter(redis, settings)
        app.state.images = ImagePool(settings.media_threads)
        lease = worker_ids.leased(
            db, seconds=settings.worker_lease_seconds, configured=settings.worker_id
        )
        try:
            async with lease:
                app.state.search = await search_backends.open_backend(settings)
                running = [
                    tasks.keep_running("live", app.state.hub.run),
                    tasks.keep_running("presence", app.state.presence.run),
                ]
                if db.replicas is not None:
                    await db.replicas.poll()  # the first reads already find the replicas
                    running.append(tasks.keep_running("replicas", db.replicas.run))
                try:
                    yield
                finally:
                    await tasks.stop(running)
                    await app.state.search.close()
        finally:
            app.state.images.close()
            await app.state.stores.media.close()
            await blocking.aclose()
            await redis.aclose()
            await app.state.health_db.dispose()
            await db.dispose()

    graphql = GraphQLApp()
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),  # (HEAD; GET and POST: _App)
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/livez", livez),
        Route("/metrics", metrics),
        *(graphiql_routes() if settings.graphiql else []),
        *stats_routes(),
        *rest_routes(),
        *media_routes(),
    ]
    middleware = [
        Middleware(RequestMiddleware),
        *cors_middleware(settings),
        Middleware(RateLimitMiddleware),
    ]
    websocket = GraphQLWebSocket(
        subscriptions_per_connection=settings.ws_subscriptions_per_connection
    )
    return _App(websocket, graphql, routes=routes, lifespan=lifespan, middleware=middleware)

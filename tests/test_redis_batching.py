"""The API's Redis client sends the commands of one turn of the event loop as one pipeline
(core/redis_clients.py, `batched`), each caller getting its own answer, error or cancellation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from core import redis_clients
from tests.conftest import SERVICES_REDIS, Backend


def plain_redis(backend: Backend) -> str:
    """The backend's Redis, or beside a cluster the machine's (batching is a single Redis's)."""
    return (
        SERVICES_REDIS
        if backend.redis_url.startswith(redis_clients.CLUSTER_SCHEME)
        else (backend.redis_url)
    )


@pytest.fixture
async def batched(backend: Backend) -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis, str]]:
    """A batched client whose connections carry a name of their own, a plain one, the name."""
    url, name = plain_redis(backend), f"batching-{uuid.uuid4().hex[:8]}"
    client = redis_clients.connect(url, timeout=5, max_connections=50, batched=True)
    client.connection_pool.connection_kwargs["client_name"] = name
    other = redis_clients.connect(url, timeout=5)
    try:
        yield client, other, name
    finally:
        await client.aclose()
        await other.aclose()


async def connections(other: aioredis.Redis, name: str) -> int:
    return sum(1 for entry in await other.client_list() if entry.get("name") == name)


async def test_commands_of_one_turn_go_on_one_connection_each_with_its_answer(
    batched: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, other, name = batched
    key = f"batching:{uuid.uuid4().hex}"
    answers = await asyncio.gather(*(client.incr(key) for _ in range(30)))
    assert sorted(answers) == list(range(1, 31))  # each INCR once, none lost or doubled
    assert await connections(other, name) == 1  # unbatched, 30 callers would take 30
    for _ in range(3):  # one at a time: sent by the caller itself, on the same connection
        assert await client.get(key) == b"30"
    assert await connections(other, name) == 1


async def test_an_error_is_its_commands_own(
    batched: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, _, _ = batched
    key, text = f"batching:{uuid.uuid4().hex}", f"batching:{uuid.uuid4().hex}"
    await client.set(text, "not a number")
    answers = await asyncio.gather(
        client.incr(key),
        client.incr(text),
        client.evalsha("0" * 40, 0),
        client.get(key),
        return_exceptions=True,
    )
    assert answers[0] == 1 and answers[3] == b"1"
    assert isinstance(answers[1], ResponseError) and "not an integer" in str(answers[1])
    assert isinstance(answers[2], NoScriptError)


async def test_a_cancelled_caller_leaves_the_others_their_answers(
    batched: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, _, _ = batched
    key = f"batching:{uuid.uuid4().hex}"
    cancelled = asyncio.ensure_future(client.incr(key))
    kept = [asyncio.ensure_future(client.incr(key)) for _ in range(5)]
    await asyncio.sleep(0)  # all six are queued for the same batch
    cancelled.cancel()
    assert sorted(await asyncio.gather(*kept)) == [1, 2, 3, 4, 5]
    assert cancelled.cancelled()
    assert int(await client.get(key) or 0) == 5  # the cancelled one was never sent


async def test_blocking_commands_are_not_batched_with_others(
    batched: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, _, _ = batched
    empty, key = f"batching:{uuid.uuid4().hex}", f"batching:{uuid.uuid4().hex}"
    blocked = asyncio.ensure_future(client.blpop([empty], timeout=2))
    quick = asyncio.ensure_future(client.incr(key))
    assert await asyncio.wait_for(quick, 1) == 1  # would wait out the BLPOP in its pipeline
    assert await blocked is None

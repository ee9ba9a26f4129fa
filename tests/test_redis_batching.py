"""The API's Redis client sends its commands over one connection of its own, those of one turn
of the event loop as one write (core/redis_clients.py, `batched`; core/redis_wire.py), each
caller getting its own answer, error or cancellation; a dropped connection is opened again, a
Redis that does not answer times out."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
    for _ in range(3):  # one at a time: on the same connection too
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


# holds Redis a while (a loop of ARGV[1] turns; not TIME, which Valkey's scripts see frozen):
# a command in flight while its caller is cancelled
_BUSY = "for i = 1, tonumber(ARGV[1]) do end return 1"


async def test_a_caller_cancelled_in_flight_does_not_shift_the_replies(
    batched: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, _, _ = batched
    key = f"batching:{uuid.uuid4().hex}"
    busy = asyncio.ensure_future(client.eval(_BUSY, 0, 20_000_000))
    await asyncio.sleep(0.01)  # written: Redis is running it
    busy.cancel()
    await client.set(key, "mine")
    assert await client.get(key) == b"mine"  # not the cancelled script's 1
    assert busy.cancelled()


async def test_replies_are_parsed_as_redis_py_parses_them(
    batched: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, other, _ = batched
    key = f"batching:{uuid.uuid4().hex}"
    await client.zadd(key, {"a": 1.5, "b": 2})
    await client.hset(f"{key}:h", mapping={"f": "v"})
    for redis in (client, other):  # the same answers through the wire and without it
        assert await redis.zrange(key, 0, -1, withscores=True) == [(b"a", 1.5), (b"b", 2.0)]
        assert await redis.hgetall(f"{key}:h") == {b"f": b"v"}
        assert await redis.exists(key, f"{key}:h", f"{key}:none") == 2
        assert await redis.set(key + ":s", 1, nx=True) in (True, None)
        assert await redis.script_exists("0" * 40) == [False]


async def test_pipelines_go_over_the_wire_and_transactions_stay_transactions(
    batched: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, _, _ = batched
    key, text = f"batching:{uuid.uuid4().hex}", f"batching:{uuid.uuid4().hex}"
    await client.set(text, "not a number")
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(key).incr(text).incr(key)
        answers = await pipe.execute(raise_on_error=False)
    assert answers[0] == 1 and answers[2] == 2 and isinstance(answers[1], ResponseError)
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(key).incr(text)
        with pytest.raises(ResponseError, match="Command # 2"):
            await pipe.execute()
    assert await client.get(key) == b"3"  # the failing pipeline's INCR ran, as Redis does
    async with client.pipeline(transaction=True) as pipe:
        pipe.incr(key).get(key)
        assert await pipe.execute() == [4, b"4"]


async def test_a_dropped_connection_is_opened_again(
    batched: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, other, name = batched
    key = f"batching:{uuid.uuid4().hex}"
    assert await client.incr(key) == 1
    (wire,) = [entry["id"] for entry in await other.client_list() if entry.get("name") == name]
    await other.execute_command("CLIENT", "KILL", "ID", wire)
    assert await client.incr(key) == 2  # tried again, once, on a new connection
    assert await connections(other, name) == 1


async def test_a_redis_that_does_not_answer_times_out_and_is_left_alone_a_while(
    backend: Backend,
) -> None:
    client = redis_clients.connect(plain_redis(backend), timeout=0.2, batched=True)
    other = redis_clients.connect(plain_redis(backend), timeout=5)
    try:
        await client.ping()
        await other.execute_command("CLIENT", "PAUSE", 1000, "ALL")
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await client.get("batching:paused")
        assert time.monotonic() - started < 0.9  # its timeout, not the pause
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError, match="not asked again"):
            await client.get("batching:paused")  # quiet: failed at once
        assert time.monotonic() - started < 0.05
    finally:
        await other.execute_command("CLIENT", "UNPAUSE")
        await client.aclose()
        await other.aclose()


def test_commands_are_packed_as_redis_py_packs_them() -> None:
    client = redis_clients.connect("redis://127.0.0.1:1/0", timeout=1, batched=True)
    assert isinstance(client, redis_clients._Batched)
    reference = client.connection_pool.make_connection()
    for args in (
        ("SET", "clé", "välue ✓", "EX", 30),
        ("ZADD", b"raw", 1.5, "m", -7, memoryview(b"view")),
        ("SCRIPT LOAD", "return 1"),
        ("EVALSHA", "0" * 40, 0, 10**20, 0.1, 1e20, -0.0, float("inf"), 1 / 3),
    ):
        assert client.wire.pack(args) == b"".join(reference.pack_command(*args))
    for wrong in (True, None, object()):  # refused alike
        with pytest.raises(DataError):
            client.wire.pack(("SET", "key", wrong))
        with pytest.raises(DataError):
            reference.pack_command("SET", "key", wrong)


async def test_callers_that_find_redis_down_share_one_attempt_to_connect() -> None:
    client = redis_clients.connect("redis://127.0.0.1:1/0", timeout=1, batched=True)
    assert isinstance(client, redis_clients._Batched)
    pool, attempts = client.connection_pool, []
    make = pool.make_connection

    def counted() -> object:
        attempts.append(1)
        return make()

    pool.make_connection = counted  # type: ignore[method-assign]
    try:
        answers = await asyncio.gather(
            *(client.get(f"down:{n}") for n in range(50)), return_exceptions=True
        )
        assert all(isinstance(answer, RedisConnectionError) for answer in answers), answers
        assert len(attempts) == 1  # one at a time, each trying, they queued behind each other
        with pytest.raises(RedisConnectionError):
            await client.get("down:again")  # the next round tries again
        assert len(attempts) == 2
    finally:
        await client.aclose()

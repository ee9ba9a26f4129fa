"""The Redis cache of tweets, users and viewer flags: one loader under a stampede, no stale
fill after a write, counts and flags exact through the API."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from core.ids import expect_global_id
from services import cache
from tests.graphql import ok, post, register

TWEET = "query($id: ID!) { tweet(id: $id) { likeCount viewerHasLiked text } }"
LIKE = "mutation($id: ID!) { likeTweet(id: $id) { likeCount } }"
UNLIKE = "mutation($id: ID!) { unlikeTweet(id: $id) { likeCount } }"
EDIT = "mutation($id: ID!, $text: String!) { editTweet(input: {id: $id, text: $text}) { id } }"


@pytest.fixture
def redis(app: Starlette) -> aioredis.Redis:
    client: aioredis.Redis = app.state.redis
    return client


def kind() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


async def test_a_stampede_on_a_missing_key_loads_it_once(redis: aioredis.Redis) -> None:
    loads: list[list[int]] = []

    async def load(items: list[int]) -> list[object]:
        loads.append(items)
        await asyncio.sleep(0.02)  # a slow query: every reader arrives while it runs
        return [{"n": item} for item in items]

    name = kind()
    readers = [cache.read_through(redis, name, [7], load, ttl=60) for _ in range(50)]
    results = await asyncio.gather(*readers)
    assert results == [[{"n": 7}]] * 50
    assert loads == [[7]]


async def test_a_miss_filled_before_the_lease_reads_the_fill(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reader: MGET misses. Another reader fills. Reader: takes the lease... and must read the
    fill there, not load the key a second time (a stampede's late readers)."""
    name = kind()
    await redis.set(cache.key(name, 7), '{"n": 7}', ex=60)
    loads: list[list[int]] = []

    async def load(items: list[int]) -> list[object]:
        loads.append(items)
        return [{"n": 0}]

    async def before_the_fill(keys: list[str]) -> list[None]:
        return [None] * len(keys)

    monkeypatch.setattr(redis, "mget", before_the_fill)
    assert await cache.read_through(redis, name, [7], load, ttl=60) == [{"n": 7}]
    assert loads == []


async def test_reads_of_one_turn_go_as_one_mget(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [kind(), kind(), kind()]
    for n, name in enumerate(names):
        await redis.set(cache.key(name, 1), str(n), ex=60)
    sent: list[list[str]] = []
    get_each = cache.get_each

    async def counted(client: aioredis.Redis, keys: list[str]) -> list[object]:
        sent.append(keys)
        return await get_each(client, keys)

    async def unused(items: list[int]) -> list[object]:
        raise AssertionError("every key is cached")

    monkeypatch.setattr(cache, "get_each", counted)
    reads = [cache.read_through(redis, name, [1], unused, ttl=60) for name in names]
    assert await asyncio.gather(*reads) == [[0], [1], [2]]
    assert sent == [[cache.key(name, 1) for name in names]]


async def test_a_fill_loaded_before_a_write_is_refused(redis: aioredis.Redis) -> None:
    """Reader: miss, lease, load the old value. Writer: commit, forget. Reader: fill. The
    next reader must see the new value, not the old one the first reader tried to store."""
    name, value = kind(), {"count": 1}
    loaded = asyncio.Event()
    written = asyncio.Event()

    async def slow_load(items: list[int]) -> list[object]:
        old = dict(value)
        loaded.set()
        await written.wait()
        return [old]

    reader = asyncio.create_task(cache.read_through(redis, name, [1], slow_load, ttl=60))
    await loaded.wait()
    value["count"] = 2  # the write commits...
    await cache.forget(redis, [cache.key(name, 1)])  # ...then drops the cached value
    written.set()
    assert await reader == [{"count": 1}]  # that reader saw the state it read

    async def load(items: list[int]) -> list[object]:
        return [dict(value)]

    assert await cache.read_through(redis, name, [1], load, ttl=60) == [{"count": 2}]


async def test_missing_rows_are_cached_as_absent(redis: aioredis.Redis) -> None:
    loads = 0

    async def load(items: list[int]) -> list[object]:
        nonlocal loads
        loads += 1
        return [None for _ in items]

    name = kind()
    for _ in range(3):
        assert await cache.read_through(redis, name, [1, 2], load, ttl=60) == [None, None]
    assert loads == 1


async def test_counts_flags_and_text_stay_exact_through_the_cache(
    client: httpx.AsyncClient,
) -> None:
    author, fans = await register(client), [await register(client) for _ in range(3)]
    tweet = await post(client, author, "count me")
    seen = await ok(client, TWEET, {"id": tweet}, token=fans[0].token)  # now cached
    assert seen["tweet"] == {"likeCount": 0, "viewerHasLiked": False, "text": "count me"}
    await asyncio.gather(*(ok(client, LIKE, {"id": tweet}, token=fan.token) for fan in fans))
    for fan in fans:
        seen = await ok(client, TWEET, {"id": tweet}, token=fan.token)
        assert seen["tweet"]["likeCount"] == 3
        assert seen["tweet"]["viewerHasLiked"] is True
    await ok(client, UNLIKE, {"id": tweet}, token=fans[0].token)
    seen = await ok(client, TWEET, {"id": tweet}, token=fans[0].token)
    assert seen["tweet"] == {"likeCount": 2, "viewerHasLiked": False, "text": "count me"}
    await ok(client, EDIT, {"id": tweet, "text": "edited"}, token=author.token)
    seen = await ok(client, TWEET, {"id": tweet}, token=fans[1].token)
    assert seen["tweet"] == {"likeCount": 2, "viewerHasLiked": True, "text": "edited"}


async def test_racing_likes_and_reads_end_with_the_exact_count(
    client: httpx.AsyncClient,
) -> None:
    """Reads fill the cache while likes commit: after the last like, the count is exact."""
    author = await register(client)
    fans = [await register(client) for _ in range(12)]
    tweet = await post(client, author, "hot")

    stop = asyncio.Event()

    async def read_until_stopped() -> None:
        # stopped by a flag, not cancelled: on Python 3.11, asyncio.wait_for (which redis-py
        # sends every command through) can lose a cancellation, and the reader runs on
        while not stop.is_set():
            await ok(client, TWEET, {"id": tweet}, token=author.token)

    readers = [asyncio.create_task(read_until_stopped()) for _ in range(4)]
    try:
        await asyncio.gather(*(ok(client, LIKE, {"id": tweet}, token=fan.token) for fan in fans))
    finally:
        stop.set()
        await asyncio.gather(*readers, return_exceptions=True)
    seen = await ok(client, TWEET, {"id": tweet}, token=author.token)
    assert seen["tweet"]["likeCount"] == len(fans)


async def test_values_read_are_decoded_once_a_process_and_changes_are_seen(
    redis: aioredis.Redis,
) -> None:
    decodes: list[object] = []

    def decode(value: object) -> tuple[object, ...]:
        decodes.append(value)
        return tuple(value) if isinstance(value, list) else (value,)

    decoded = cache.Decoded(decode, size=3)
    name = kind()

    async def load(items: list[int]) -> list[object]:
        return [[item, "loaded"] for item in items]

    first = await cache.read_through(redis, name, [1, 2], load, ttl=60, decoded=decoded)
    assert first == [(1, "loaded"), (2, "loaded")]  # a miss: decoded as a reader of it is
    again = await cache.read_through(redis, name, [1, 2], load, ttl=60, decoded=decoded)
    assert again == first and again[0] is first[0]  # the same object: not decoded again
    await redis.set(cache.key(name, 1), '[1,"changed"]', ex=60)  # (a writer's new row)
    changed = await cache.read_through(redis, name, [1], load, ttl=60, decoded=decoded)
    assert changed == [(1, "changed")]
    count = len(decodes)
    await cache.read_through(redis, name, [3, 4], load, ttl=60, decoded=decoded)  # past size
    assert len(decoded._kept) <= 3 and len(decodes) == count + 2


USER = "query($handle: String!) { user(handle: $handle) { id handle } }"


async def test_users_by_handle_come_from_the_cache_and_a_wrong_id_there_is_not_believed(
    client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    alice, bob = await register(client), await register(client)
    held = cache.key(cache.HANDLE, alice.handle.lower())
    await redis.delete(held)
    assert (await ok(client, USER, {"handle": alice.handle.upper()}))["user"]["id"] == alice.id
    assert await redis.get(held) == str(expect_global_id(alice.id, "User"))  # for the next
    assert (await ok(client, USER, {"handle": alice.handle}))["user"]["id"] == alice.id
    # a cache older than the data: another's id, or one of nobody
    for wrong in (expect_global_id(bob.id, "User"), 1):
        await redis.set(held, wrong, ex=60)
        user = (await ok(client, USER, {"handle": alice.handle}))["user"]
        assert user == {"id": alice.id, "handle": alice.handle}
    assert (await ok(client, USER, {"handle": "nobody_here_1"}))["user"] is None

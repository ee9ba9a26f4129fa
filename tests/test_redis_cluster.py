"""Redis Cluster (REDIS_CLUSTER_NODES): the scripts over many keys run a call per node, and the
service rides out a master killed (its replica promoted). On a cluster of three masters with a
replica each (tests/redis_cluster.py), whatever the backend of the rest of the suite."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import httpx
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException

from app import create_app
from core import redis_clients
from core.config import Settings
from services import cache, feed
from services.stores import Stores
from tests.conftest import run_pending_jobs
from tests.graphql import ok, post, register
from tests.redis_cluster import RedisCluster, running
from tests.test_timelines import follow, home

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture
async def cluster(redis_cluster: RedisCluster) -> AsyncIterator[aioredis.Redis]:
    client = redis_clients.connect(
        redis_clients.cluster_url(redis_cluster.nodes.split(",")), timeout=10
    )
    yield client
    await client.aclose()


async def _nodes_holding(client: aioredis.Redis, keys: list[str]) -> int:
    return len(await redis_clients.groups(client, keys))


async def test_a_fan_out_reaches_timelines_on_every_master(cluster: aioredis.Redis) -> None:
    users = list(range(10_000_000, 10_003_000))
    keys = [feed.key(user) for user in users]
    assert await _nodes_holding(cluster, keys) == 3
    with pytest.raises(RedisClusterException):  # what one script over all of them meets
        await cluster.execute_command("EVAL", "return 0", len(keys), *keys)
    await feed.make_live(cluster, users, ttl=60)
    tweet = 1 << 40
    assert await feed.insert(cluster, users, [tweet]) == len(users)
    assert await feed.holding(cluster, users, tweet) == len(users)
    await feed.remove(cluster, users[::2], [tweet])
    assert await feed.holding(cluster, users, tweet) == len(users) // 2


async def test_lists_on_several_masters_merge_into_one_page(cluster: aioredis.Redis) -> None:
    authors = list(range(10_100_000, 10_100_040))
    assert await _nodes_holding(cluster, [feed.key(a, feed.AUTHORED) for a in authors]) == 3
    live, cold = authors[:30], authors[30:]
    await feed.make_live(cluster, live, ttl=60, kind=feed.AUTHORED)
    for n, author in enumerate(live):
        await feed.insert(cluster, [author], [(n + 1) << 30], kind=feed.AUTHORED)
    merged = await feed.merged(cluster, authors, before=None, count=10, ttl=60, kind=feed.AUTHORED)
    assert merged.ids == [(n + 1) << 30 for n in range(29, 19, -1)]  # the newest ten of all
    assert merged.cold == cold and merged.incomplete == []


async def test_cached_rows_on_several_masters_are_read_through_once(
    cluster: aioredis.Redis,
) -> None:
    items = list(range(500))
    kind = f"test{time.monotonic_ns()}"
    assert await _nodes_holding(cluster, [cache.key(kind, item) for item in items]) == 3
    loads: list[list[int]] = []

    async def load(asked: list[int]) -> list[int]:
        loads.append(asked)
        return [item * 2 for item in asked]

    assert await cache.read_through(cluster, kind, items, load, ttl=60) == [i * 2 for i in items]
    assert await cache.read_through(cluster, kind, items, load, ttl=60) == [i * 2 for i in items]
    assert sorted(item for asked in loads for item in asked) == items  # each loaded once
    await cache.forget(cluster, [cache.key(kind, item) for item in items[:100]], recent_ms=500)
    assert await cache.read_through(cluster, kind, items, load, ttl=60) == [i * 2 for i in items]
    assert len([item for asked in loads for item in asked]) == len(items) + 100


def test_a_cluster_needs_rabbitmq_for_the_jobs() -> None:
    with pytest.raises(ValueError, match="BROKER_URL=amqp"):
        Settings(redis_cluster_nodes=("127.0.0.1:7000",))
    chosen = Settings(redis_cluster_nodes=("127.0.0.1:7000", "h:7001"), broker_url=RABBITMQ)
    assert chosen.redis_url == "redis+cluster://127.0.0.1:7000,h:7001"


@pytest.fixture
def drilled() -> Iterator[RedisCluster]:
    """A cluster of its own: the drills stop its nodes."""
    with running() as cluster:
        yield cluster


async def test_with_a_replica_stopped_the_fan_out_goes_on(
    drilled: RedisCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """A master whose replica is gone cannot acknowledge a WAIT: its writes wait out
    REPLICATED_WAIT_MS and are done all the same (logged), nothing refused."""
    client = redis_clients.connect(redis_clients.cluster_url(drilled.nodes.split(",")), timeout=10)
    try:
        users = list(range(20_000_000, 20_003_000))
        await feed.make_live(client, users, ttl=60)
        replica = drilled.ports[drilled.masters]  # the first master's
        drilled.kill(replica)
        started = time.monotonic()
        assert await feed.insert(client, users, [1 << 41]) == len(users)
        assert time.monotonic() - started < 5
        assert await feed.holding(client, users, 1 << 41) == len(users)
        assert "on no replica yet" in caplog.text  # the WAIT of that master's writes said so
    finally:
        await client.aclose()


async def test_a_master_killed_is_ridden_out_and_loses_no_committed_tweet(
    settings: Settings, drilled: RedisCluster
) -> None:
    """Kill the master holding a reader's timeline: within a few seconds its replica is
    promoted, the service answers throughout (never a 500), and every tweet committed before
    and after the kill is on the timeline."""
    on_cluster = replace(settings, redis_url=redis_clients.cluster_url(drilled.nodes.split(",")))
    app = create_app(on_cluster)
    stores = Stores.connect(on_cluster, pool_size=2)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://chirp.test"
        ) as client,
    ):
        reader, writer = await register(client), await register(client)
        await follow(client, reader, writer)
        assert await home(client, reader) == []
        before = [await post(client, writer, f"before the kill {n}") for n in range(5)]
        await run_pending_jobs(stores, retry_seconds=30)
        assert await home(client, reader) == before[::-1]
        victim = app.state.redis.get_node_from_key(feed.key(int(_user_id(reader.id))))
        drilled.kill(victim.port)
        killed_at = time.monotonic()
        after: list[str] = []
        while time.monotonic() - killed_at < 30:
            after.append(await post(client, writer, f"after the kill {len(after)}"))
            await run_pending_jobs(stores, retry_seconds=30)
            shown = await home(client, reader)
            assert shown == (before + after)[::-1]  # from the database while Redis cannot
            if victim.port not in drilled.master_ports() and len(drilled.master_ports()) == 3:
                break
            await asyncio.sleep(0.2)
        promoted = time.monotonic() - killed_at
        assert promoted < 15, f"no replica promoted after {promoted:.1f} s"
        final = await post(client, writer, "once promoted")
        await run_pending_jobs(stores, retry_seconds=30)
        assert await home(client, reader) == [final, *(before + after)[::-1]]
        held = await ok(client, "{ viewer { handle } }", token=reader.token)
        assert held["viewer"]["handle"] == reader.handle
    await stores.close()


def _user_id(global_id: str) -> int:
    from core.ids import expect_global_id

    return expect_global_id(global_id, "User")

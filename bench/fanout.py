"""The `fanout` scenario: one account with FOLLOWERS followers, all with live timelines.

- ours: `services.fanout.fan_out_tweet`, the worker's job, timed in this process: timeline
  inserts per second, follower lookups in PostgreSQL included.
- ceiling: the same inserts by a bare Lua script (one ZADD per key, nothing else) on the same
  Redis, with the same 1,000 keys per call, pipelined (on a cluster: a call per node at once,
  each with keys of that node, as the fan-out sends them).
- delivery: a real API and worker process (`python -m workers`); the time from `createTweet`
  answering to the last follower's timeline holding the tweet.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import asyncpg
import httpx
from sqlalchemy import make_url

from bench.harness import server
from bench.seed import asyncpg_dsn
from core import ids, redis_clients, worker_ids
from core.db import Database
from core.ids import expect_global_id, snowflake_time
from core.scripts import SpreadScript
from core.security import TokenCodec
from serve import migrate
from services import fanout, feed

FOLLOWERS = 100_000
_BARE = SpreadScript("""
for i, key in ipairs(KEYS) do redis.call('ZADD', key, 0, ARGV[1]) end
return #KEYS
""")
_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/%2F"  # the broker beside a cluster
_POST = 'mutation { createTweet(input: {text: "fan me out"}) { id } }'


@dataclass
class FanoutResult:
    followers: int
    inserts_per_second: float
    ceiling_inserts_per_second: float
    delivery_ms: list[float]

    @property
    def ratio(self) -> float:
        return self.inserts_per_second / self.ceiling_inserts_per_second


async def _database(server_url: str, followers: int) -> tuple[str, int, list[int]]:
    """A database of its own: an author and `followers` followers (kept between runs)."""
    name = f"chirp_bench_fanout_{followers}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    admin_url = make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await asyncio.to_thread(migrate, url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if not await connection.fetchval("SELECT count(*) FROM users"):
            await connection.execute(
                "INSERT INTO users (id, handle, display_name, password_hash, created_at) "
                "SELECT n, 'u' || n, 'user ' || n, '-', now() "
                "FROM generate_series(1, $1::int + 1) AS n",
                followers,
            )
            await connection.execute(
                "INSERT INTO follows (id, follower_id, followee_id, created_at) "
                "SELECT n, n, 1, now() FROM generate_series(2, $1::int + 1) AS n",
                followers,
            )
            await connection.execute("UPDATE users SET follower_count = $1 WHERE id = 1", followers)
        await connection.execute("DELETE FROM tweets")
    finally:
        await connection.close()
    return url, 1, list(range(2, followers + 2))


async def _insert_tweets(url: str, author_id: int, count: int) -> list[int]:
    async with worker_ids.leased_at(url):
        tweet_ids = [ids.new_id() for _ in range(count)]
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.executemany(
            "INSERT INTO tweets (id, author_id, text, created_at) VALUES ($1, $2, 'bench', $3)",
            [(t, author_id, snowflake_time(t)) for t in tweet_ids],
        )
    finally:
        await connection.close()
    return tweet_ids


async def _ours_and_ceiling(
    database_url: str, redis_url: str, author_id: int, followers: list[int], repeats: int
) -> tuple[float, float]:
    redis = redis_clients.connect(redis_url, timeout=redis_clients.BACKGROUND_TIMEOUT_SECONDS)
    db = Database.connect(database_url, pool_size=2)
    ours, ceiling = [], []
    try:
        for tweet_id in await _insert_tweets(database_url, author_id, repeats):
            await redis.flushdb()
            await feed.make_live(redis, followers, ttl=3600)
            started = time.perf_counter()
            async with db.read() as connection:
                done = await fanout.fan_out_tweet(
                    connection, redis, tweet_id=tweet_id, threshold=len(followers) + 1
                )
            assert done is not None
            ours.append(done.written / (time.perf_counter() - started))
            await redis.flushdb()
            await feed.make_live(redis, followers, ttl=3600)
            keys = [feed.key(f) for f in followers]
            await _BARE.over(redis, keys[:1], [0], batch=feed.BATCH)  # loaded: not timed
            started = time.perf_counter()
            await _BARE.over(redis, keys, [tweet_id], batch=feed.BATCH)
            ceiling.append(len(keys) / (time.perf_counter() - started))
    finally:
        await redis.flushdb()
        await redis.aclose()
        await db.dispose()
    return statistics.median(ours), statistics.median(ceiling)


def _delivery(
    database_url: str, redis_url: str, author_id: int, followers: list[int], repeats: int
) -> list[float]:
    """createTweet through a real API process; a real worker process fans it out."""
    secret = "bench-secret-bench-secret-bench-secret-42"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": secret,
        "WORKER_ID": "2",
        "HYBRID_THRESHOLD": str(len(followers) + 1),
        "JOB_QUEUE": "bench-fanout",
    }
    if redis_url.startswith(redis_clients.CLUSTER_SCHEME):
        env["BROKER_URL"] = _RABBITMQ
    token = TokenCodec.for_secret(secret, ttl_seconds=3600).issue(author_id)
    worker = subprocess.Popen(
        [sys.executable, "-m", "workers"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)  # the worker boots
        with server("app:create_app", env) as url:
            return asyncio.run(_post_and_wait(url, token, redis_url, followers, repeats))
    finally:
        worker.terminate()
        worker.wait(timeout=30)


async def _post_and_wait(
    url: str, token: str, redis_url: str, followers: list[int], repeats: int
) -> list[float]:
    redis = redis_clients.connect(redis_url, timeout=redis_clients.BACKGROUND_TIMEOUT_SECONDS)
    times = []
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for _ in range(repeats):
                await feed.make_live(redis, followers, ttl=3600)
                answer = await http.post(
                    "/graphql", json={"query": _POST}, headers={"Authorization": f"Bearer {token}"}
                )
                answered = time.perf_counter()
                tweet_id = expect_global_id(answer.json()["data"]["createTweet"]["id"], "Tweet")
                last = followers[:1]  # fan-out walks followers newest first
                while not await feed.holding(redis, last, tweet_id):  # noqa: ASYNC110 - another process writes
                    await asyncio.sleep(0.002)
                times.append((time.perf_counter() - answered) * 1000)
                assert await feed.holding(redis, followers, tweet_id) == len(followers)
    finally:
        await redis.flushdb()
        await redis.aclose()
    return times


def run(
    server_url: str, redis_url: str, *, followers: int = FOLLOWERS, repeats: int = 3
) -> FanoutResult:
    database_url, author_id, ids = asyncio.run(_database(server_url, followers))
    ours, ceiling = asyncio.run(_ours_and_ceiling(database_url, redis_url, author_id, ids, repeats))
    delivery = _delivery(database_url, redis_url, author_id, ids, repeats)
    return FanoutResult(followers, ours, ceiling, delivery)

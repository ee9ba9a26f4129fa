"""The benchmark scenarios: what is asked, of ours and of its ceiling."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from bench.harness import LoadResult, wrk
from bench.seed import asyncpg_dsn
from core import ids, jsons, redis_clients, worker_ids
from core.ids import snowflake_time
from core.security import TokenCodec

TIMELINE_QUERY = (
    "query Timeline { homeTimeline(first: 20) { edges { cursor node { id text createdAt "
    "likeCount retweetCount replyCount viewerHasLiked viewerHasRetweeted "
    "author { id handle displayName } } } pageInfo { hasNextPage endCursor } } }"
)
PROFILE_QUERY = (
    "query Profile($handle: String!) { user(handle: $handle) { id handle displayName bio "
    "followerCount followingCount tweetCount "
    "tweets(first: 20) { edges { node { id text createdAt likeCount } } } } }"
)
CREATE_QUERY = "mutation Post($text: String!) { createTweet(input: {text: $text}) { id } }"
BASELINE_QUERY = "{ __typename }"


@dataclass(frozen=True)
class Users:
    """A sample of seeded users: raw ids and handles."""

    ids: list[int]
    handles: list[str]

    def bearer(self, tokens: TokenCodec) -> list[str]:
        return [f"Bearer {tokens.issue(user_id)}" for user_id in self.ids]


async def sample_users(database_url: str, count: int, seed: int = 3) -> Users:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch("SELECT id, handle FROM users ORDER BY id")
    finally:
        await connection.close()
    picked = random.Random(seed).sample(list(rows), min(count, len(rows)))
    return Users(ids=[row["id"] for row in picked], handles=[row["handle"] for row in picked])


def _graphql(query: str, variables: dict[str, str] | None = None) -> str:
    return json.dumps({"query": query, "variables": variables or {}})


@dataclass(frozen=True)
class Scenario:
    name: str
    ours: Callable[[str, float], LoadResult]
    ceiling: Callable[[str, float], LoadResult]
    prime: Callable[[str], None] = lambda url: None  # before the warm-up, against ours
    # the physical limit, against the ceiling's app too: the same answer from Redis alone
    physical: Callable[[str, float], LoadResult] | None = None


def _prime_timelines(url: str, bearers: list[str], redis_url: str | None) -> None:
    """Reads every sampled viewer's timeline once, so that no measured request rebuilds one;
    with `redis_url`, keeps each page there pre-encoded for the physical ceiling
    (bench/ceiling.py, `timeline_redis`): its ids, then each edge's JSON and the page info."""

    async def read_all() -> None:
        gate = asyncio.Semaphore(8)
        redis = redis_clients.connect(redis_url, timeout=10) if redis_url else None
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:

            async def read(viewer: int, bearer: str) -> None:
                async with gate:
                    body = {"query": TIMELINE_QUERY}
                    answer = await http.post(
                        "/graphql", json=body, headers={"Authorization": bearer}
                    )
                if redis is not None:
                    await _keep_page(redis, viewer, answer.json()["data"]["homeTimeline"])

            await asyncio.gather(*(read(viewer, bearer) for viewer, bearer in bearers))
        if redis is not None:
            await redis.aclose()

    asyncio.run(read_all())


async def _keep_page(redis: aioredis.Redis, viewer: int, page: dict[str, Any]) -> None:
    ids = [edge["node"]["id"] for edge in page["edges"]]  # the viewer's flags are in the edge
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(f"bench:{{{viewer}}}:page")
        if ids:
            pipe.rpush(f"bench:{{{viewer}}}:page", *ids)
        for tweet, edge in zip(ids, page["edges"], strict=True):
            pipe.set(f"bench:{{{viewer}}}:edge:{tweet}", jsons.dumps(edge))
        pipe.set(f"bench:{{{viewer}}}:pageinfo", jsons.dumps(page["pageInfo"]))
        await pipe.execute()


def timeline_read(
    users: Users, tokens: TokenCodec, connections: int, redis_url: str | None = None
) -> Scenario:
    """The home timeline page; with `redis_url`, beside the physical ceiling too."""
    bearers = users.bearer(tokens)

    def bare(path: str) -> Callable[[str, float], LoadResult]:
        return lambda url, s: wrk(
            f"{url}{path}",
            method="GET",
            bodies=[""],
            authorizations=bearers,
            seconds=s,
            connections=connections,
        )

    return Scenario(
        "timeline_read",
        lambda url, s: wrk(
            f"{url}/graphql",
            method="POST",
            bodies=[_graphql(TIMELINE_QUERY)],
            authorizations=bearers,
            seconds=s,
            connections=connections,
        ),
        bare("/timeline"),
        lambda url: _prime_timelines(url, list(zip(users.ids, bearers, strict=True)), redis_url),
        bare("/timeline/redis") if redis_url else None,
    )


def baseline(connections: int) -> Scenario:
    """`{ __typename }`: what any operation costs before its fields, beside a bare endpoint
    that answers the same bytes."""
    return Scenario(
        "baseline",
        lambda url, s: wrk(
            f"{url}/graphql",
            method="POST",
            bodies=[_graphql(BASELINE_QUERY)],
            authorizations=[""],
            seconds=s,
            connections=connections,
        ),
        lambda url, s: wrk(
            f"{url}/typename",
            method="GET",
            bodies=[""],
            authorizations=[""],
            seconds=s,
            connections=connections,
        ),
    )


def user_profile(users: Users, connections: int) -> Scenario:
    bodies = [_graphql(PROFILE_QUERY, {"handle": handle}) for handle in users.handles]
    queries = [f"?handle={handle}" for handle in users.handles]
    return Scenario(
        "user_profile",
        lambda url, s: wrk(
            f"{url}/graphql",
            method="POST",
            bodies=bodies,
            authorizations=[""],
            seconds=s,
            connections=connections,
        ),
        lambda url, s: wrk(
            f"{url}/profile",
            method="GET",
            bodies=queries,
            authorizations=[""],
            seconds=s,
            connections=connections,
        ),
    )


def tweet_write(users: Users, tokens: TokenCodec, connections: int, database_url: str) -> Scenario:
    bodies = [_graphql(CREATE_QUERY, {"text": f"bench tweet {n} #bench"}) for n in range(50)]
    bearers = users.bearer(tokens)
    return Scenario(
        "tweet_write",
        lambda url, s: wrk(
            f"{url}/graphql",
            method="POST",
            bodies=bodies,
            authorizations=bearers,
            seconds=s,
            connections=connections,
        ),
        lambda url, s: asyncio.run(_insert_loop(database_url, users.ids, s, connections)),
    )


async def _insert_loop(
    database_url: str, authors: list[int], seconds: float, workers: int
) -> LoadResult:
    """The ceiling of tweet_write: the same rows a createTweet writes (tweet, count, outbox
    event), by a bare asyncpg loop."""
    pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=workers, max_size=workers)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        k = n
        while time.perf_counter() < deadline:
            author = authors[k % len(authors)]
            k += workers
            started = time.perf_counter()
            tweet_id = ids.new_id()
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    "INSERT INTO tweets (id, author_id, text, created_at, hashtags, mentions) "
                    "VALUES ($1, $2, $3, $4, $5, $6)",
                    tweet_id,
                    author,
                    f"bench tweet {k} #bench",
                    snowflake_time(tweet_id),
                    ["bench"],
                    [],
                )
                await connection.execute(
                    "UPDATE users SET tweet_count = tweet_count + 1 WHERE id = $1", author
                )
                await connection.execute(
                    "INSERT INTO outbox (topic, payload) VALUES ('tweet.posted', $1::jsonb)",
                    json.dumps({"tweet_id": tweet_id}),
                )
                await connection.execute("NOTIFY outbox")
            latencies.append(time.perf_counter() - started)

    async with worker_ids.leased_at(database_url):
        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(workers)))
        elapsed = time.perf_counter() - started
    await pool.close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return LoadResult(len(latencies) / elapsed, pct(50), pct(95), pct(99), len(latencies), 0)

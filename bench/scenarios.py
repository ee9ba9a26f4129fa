"""The benchmark scenarios: what is asked, of ours and of its ceiling."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import httpx

from bench.harness import LoadResult, wrk
from bench.seed import asyncpg_dsn
from core import ids, worker_ids
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


def _prime_timelines(url: str, bearers: list[str]) -> None:
    """Reads every sampled viewer's timeline once, so that no measured request rebuilds one."""

    async def read_all() -> None:
        gate = asyncio.Semaphore(8)
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:

            async def read(bearer: str) -> None:
                async with gate:
                    body = {"query": TIMELINE_QUERY}
                    await http.post("/graphql", json=body, headers={"Authorization": bearer})

            await asyncio.gather(*(read(bearer) for bearer in bearers))

    asyncio.run(read_all())


def timeline_read(users: Users, tokens: TokenCodec, connections: int) -> Scenario:
    bearers = users.bearer(tokens)
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
        lambda url, s: wrk(
            f"{url}/timeline",
            method="GET",
            bodies=[""],
            authorizations=bearers,
            seconds=s,
            connections=connections,
        ),
        lambda url: _prime_timelines(url, bearers),
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

"""The ceilings of the read benchmarks: a bare Starlette app, no GraphQL, hand-written SQL.

It answers with byte-for-byte the JSON that /graphql gives for the benchmark's queries (the
harness's smoke test checks that), from the same stores: the timeline is one Redis read of the
viewer's live timeline plus one SQL statement that merges the viewer's own and the big accounts'
tweets and hydrates the page (with Redis down, one statement over every followed account). It
assumes warm timelines (ours, measured first, warms them). Beside it, the timeline's physical
limit: the same page from Redis alone, pre-encoded (`timeline_redis`); and `{ __typename }`'s
answer from a bare endpoint. A search is the very statement
services/search.py builds (taken from it, not retyped), then one statement for the page's tweets
and authors. Part of the benchmark, not the product.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
from redis.exceptions import RedisError
from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.seed import asyncpg_dsn
from core import cursors, redis_clients
from core.ids import to_global_id
from core.security import TokenCodec, bearer_token
from schema.scalars import serialize_datetime as iso
from services import search
from services.timelines import TWEETS

# $1 viewer, $2 the page's ids from the Redis timeline and $3 the accounts merged at read
# time (both NULL when Redis cannot answer: then every followed account counts), $4 the id
# that merged tweets must be newer than: the same merge as services/home.py.
TIMELINE_SQL = """
WITH authors AS (
  SELECT $1::bigint AS author_id
  UNION ALL
  SELECT f.followee_id FROM follows f
  WHERE f.follower_id = $1 AND ($3::bigint[] IS NULL OR f.followee_id = ANY($3::bigint[]))
), ids AS (
  SELECT unnest($2::bigint[]) AS id
  UNION
  SELECT t.id FROM authors a CROSS JOIN LATERAL (
    SELECT id FROM tweets WHERE author_id = a.author_id AND id > $4
    ORDER BY id DESC LIMIT 21
  ) t
), page AS (
  SELECT p.* FROM (SELECT id FROM ids ORDER BY id DESC LIMIT 21) i JOIN tweets p ON p.id = i.id
)
SELECT p.id, p.text, p.created_at, p.like_count, p.retweet_count, p.reply_count,
       u.id AS author_id, u.handle, u.display_name,
       EXISTS (SELECT 1 FROM likes l WHERE l.user_id = $1 AND l.tweet_id = p.id) AS liked,
       EXISTS (SELECT 1 FROM tweets r WHERE r.author_id = $1 AND r.retweet_of_id = p.id)
         AS retweeted
FROM page p JOIN users u ON u.id = p.author_id
ORDER BY p.id DESC
"""
PROFILE_SQL = """
SELECT id, handle, display_name, bio, follower_count, following_count, tweet_count
FROM users WHERE lower(handle) = lower($1)
"""
PROFILE_TWEETS_SQL = """
SELECT id, text, created_at, like_count FROM tweets WHERE author_id = $1 ORDER BY id DESC LIMIT 21
"""
SEARCH_ROWS_SQL = """
SELECT t.id, t.text, t.like_count, u.handle
FROM tweets t JOIN users u ON u.id = t.author_id WHERE t.id = ANY($1::bigint[])
"""
_ASYNCPG = asyncpg_dialect()  # type: ignore[no-untyped-call]


class _Capture:
    """Stands for the connection services/search.py is given: keeps the statements it runs
    (finding nothing, so it runs each try)."""

    def __init__(self) -> None:
        self.statements: list[Select[Any]] = []

    async def execute(self, statement: Select[Any]) -> _Capture:
        self.statements.append(statement)
        return self

    def scalars(self) -> list[Any]:
        return []


async def search_statements(query: str, *, first: int = 20) -> list[Select[Any]]:
    """What `searchTweets(query, first)` may run for its first page, in order: each next one
    only when the one before found `first` or fewer. Empty when it runs nothing."""
    capture = _Capture()
    await search.tweets(cast(AsyncConnection, capture), query=query, first=first, after=None)
    return capture.statements


def asyncpg_sql(statement: Select[Any]) -> tuple[str, list[Any]]:
    """A statement as asyncpg takes it: SQL with $n placeholders, and their values in order."""
    compiled = statement.compile(dialect=_ASYNCPG)
    return str(compiled), [compiled.params[name] for name in compiled.positiontup or []]


def count_sql(statement: Select[Any]) -> tuple[str, list[Any]]:
    """How many rows the statement finds without its page limit."""
    every = statement.order_by(None).limit(None).subquery()
    return asyncpg_sql(select(func.count()).select_from(every))


def _tweet(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "cursor": cursors.encode("tweet", row["id"]),
        "node": {
            "id": to_global_id("Tweet", row["id"]),
            "text": row["text"],
            "createdAt": iso(row["created_at"]),
            "likeCount": row["like_count"],
            "retweetCount": row["retweet_count"],
            "replyCount": row["reply_count"],
            "viewerHasLiked": row["liked"],
            "viewerHasRetweeted": row["retweeted"],
            "author": {
                "id": to_global_id("User", row["author_id"]),
                "handle": row["handle"],
                "displayName": row["display_name"],
            },
        },
    }


def _page_info(edges: list[dict[str, Any]], has_next: bool) -> dict[str, Any]:
    return {"hasNextPage": has_next, "endCursor": edges[-1]["cursor"] if edges else None}


async def timeline(request: Request) -> Response:
    viewer = request.app.state.tokens.user_id(
        bearer_token(request.headers.get("authorization")) or ""
    )
    state = request.app.state
    cached: list[int] | None = None
    merged: list[int] | None = None
    try:  # the newest 21 entries of the viewer's live timeline (feed.CAP holds far more)
        async with state.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrangebylex(f"tl:{viewer}", "+", "[0", start=0, num=21)
            pipe.smembers("hybrid:accounts")
            members, accounts = await pipe.execute()
        cached = [int(member) for member in members]
        merged = [int(account) for account in accounts if account != b"-"]
    except RedisError:
        pass
    newer_than = cached[-1] if cached and len(cached) == 21 else 0
    async with state.pool.acquire() as connection:
        rows = await connection.fetch(TIMELINE_SQL, viewer, cached, merged, newer_than)
    edges = [_tweet(row) for row in rows[:20]]
    body = {
        "data": {"homeTimeline": {"edges": edges, "pageInfo": _page_info(edges, len(rows) > 20)}}
    }
    return JSONResponse(body)


async def timeline_redis(request: Request) -> Response:
    """The physical limit of the timeline page: the page's ids, then one MGET of its edges
    and page info, pre-encoded (bench/scenarios.py keeps them when it primes the timelines)."""
    viewer = request.app.state.tokens.user_id(
        bearer_token(request.headers.get("authorization")) or ""
    )
    redis = request.app.state.redis
    ids = await redis.lrange(f"bench:{{{viewer}}}:page", 0, -1)  # a viewer's keys: one slot
    keys = [b"bench:{%d}:edge:%s" % (viewer, tweet) for tweet in ids]
    *edges, page_info = await redis.mget([*keys, f"bench:{{{viewer}}}:pageinfo"])
    body = b'{"data":{"homeTimeline":{"edges":[%s],"pageInfo":%s}}}' % (
        b",".join(edges),
        page_info,
    )
    return Response(body, media_type="application/json")


async def typename(request: Request) -> Response:
    """The ceiling of `{ __typename }`: its answer, from a bare endpoint."""
    return Response(b'{"data":{"__typename":"Query"}}', media_type="application/json")


async def profile(request: Request) -> Response:
    handle = request.query_params["handle"]
    async with request.app.state.pool.acquire() as connection:
        user = await connection.fetchrow(PROFILE_SQL, handle)
        rows = await connection.fetch(PROFILE_TWEETS_SQL, user["id"]) if user else []
    if user is None:
        return JSONResponse({"data": {"user": None}})
    edges = [
        {
            "node": {
                "id": to_global_id("Tweet", row["id"]),
                "text": row["text"],
                "createdAt": iso(row["created_at"]),
                "likeCount": row["like_count"],
            }
        }
        for row in rows[:20]
    ]
    body = {
        "data": {
            "user": {
                "id": to_global_id("User", user["id"]),
                "handle": user["handle"],
                "displayName": user["display_name"],
                "bio": user["bio"],
                "followerCount": user["follower_count"],
                "followingCount": user["following_count"],
                "tweetCount": user["tweet_count"],
                "tweets": {"edges": edges},
            }
        }
    }
    return JSONResponse(body)


async def search_tweets(request: Request) -> Response:
    query = request.query_params["q"]
    state = request.app.state
    if query not in state.searches:  # SQLAlchemy builds them once per query text, as ours does
        state.searches[query] = [asyncpg_sql(s) for s in await search_statements(query)]
    ids: list[int] = []
    rows: dict[int, asyncpg.Record] = {}
    if state.searches[query]:
        async with state.pool.acquire() as connection:
            for sql, params in state.searches[query]:
                ids = [row[0] for row in await connection.fetch(sql, *params)]
                if len(ids) > 20:
                    break
            ids = ids[:20]
            if ids:
                hydrated = await connection.fetch(SEARCH_ROWS_SQL, ids)
                rows = {row["id"]: row for row in hydrated}
    edges = [
        {
            "cursor": cursors.encode(TWEETS, tweet_id),
            "node": {
                "id": to_global_id("Tweet", tweet_id),
                "text": rows[tweet_id]["text"],
                "author": {"handle": rows[tweet_id]["handle"]},
                "likeCount": rows[tweet_id]["like_count"],
            },
        }
        for tweet_id in ids
        if tweet_id in rows
    ]
    return JSONResponse({"data": {"searchTweets": {"edges": edges}}})


def create_app() -> Starlette:
    secret = os.environ["JWT_SECRET"]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        cursors.configure(secret)
        app.state.tokens = TokenCodec.for_secret(secret, ttl_seconds=3600)
        app.state.pool = await asyncpg.create_pool(
            asyncpg_dsn(os.environ["DATABASE_URL"]), min_size=4, max_size=20
        )
        app.state.redis = redis_clients.connect(os.environ["REDIS_URL"], timeout=5)
        app.state.searches = {}
        yield
        await app.state.redis.aclose()
        await app.state.pool.close()

    routes = [
        Route("/timeline", timeline),
        Route("/timeline/redis", timeline_redis),
        Route("/typename", typename),
        Route("/profile", profile),
        Route("/search", search_tweets),
    ]
    return Starlette(routes=routes, lifespan=lifespan)

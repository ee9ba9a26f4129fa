"""Fan-out on write: decides who gets a tweet in their home timeline (services/feed.py stores it).

Accounts in the hybrid set (services/hybrid.py: past the follower threshold) are not fanned
out: their tweets are merged into their followers' timelines when read (services/home.py).
Only live timelines get entries; cold ones are rebuilt from the database on their next read.

An unfollow can land between the read of a batch of followers and the insert into their
timelines: the follower's timeline loses the followee's tweets (services/home.py
`follow_changed`), then the fan-out adds the new one back. So an unfollow is remembered here
for a while (`note_unfollow`, before that removal), and a fan-out, once it has written, takes
its tweet back from those who left since it began and no longer follow: a few reads for the
few who left, nothing per follower. Either the fan-out sees the unfollow, or the removal comes
after the fan-out's insert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import NamedTuple, cast

import redis.asyncio as aioredis
from sqlalchemy import BigInteger, Row, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import snowflake_time
from models import Follow, Tweet, User
from services import cluster_metrics, feed, hybrid

FOLLOWER_BATCH = 50_000
UNFOLLOWS_KEPT = 3600  # seconds an unfollow is remembered: longer than any fan-out runs
_CLOCKS = 60  # seconds the clocks of the processes that unfollow and fan out may differ by


class FanOut(NamedTuple):
    author_id: int
    written: int  # timeline entries


# one row a batch: the follower ids as an array, and the lowest follows.id to continue below
_FOLLOWERS = """
SELECT array_agg(follower_id), min(id) FROM (
  SELECT id, follower_id FROM follows
  WHERE followee_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3
) AS batch
"""


async def fan_out_tweet(
    connection: AsyncConnection, redis: aioredis.Redis, *, tweet_id: int, threshold: int
) -> FanOut | None:
    """Puts the tweet in its author's and followers' live timelines; None when the tweet was
    deleted."""
    author = await _author(connection, tweet_id)
    if author is None:
        return None
    written = await feed.insert(redis, [author.id], [tweet_id])
    merged = await hybrid.is_merged(
        redis, author.id, follower_count=author.follower_count, threshold=threshold
    )
    if merged:  # read at read time from the author's list of newest tweets
        written += await feed.insert(redis, [author.id], [tweet_id], kind=feed.AUTHORED)
    else:
        began = time.time()
        written += await _insert_all(redis, _followers(connection, author.id), [tweet_id])
        await _take_back_from_leavers(connection, redis, author.id, tweet_id, since=began)
    if await _author(connection, tweet_id) is None:  # deleted while we wrote: take it back
        await remove_tweet(connection, redis, tweet_id=tweet_id, author_id=author.id)
        return None
    lag = time.time() - snowflake_time(tweet_id).timestamp()
    await cluster_metrics.observe_lag(redis, max(lag, 0))
    return FanOut(author.id, written)


async def remove_tweet(
    connection: AsyncConnection, redis: aioredis.Redis, *, tweet_id: int, author_id: int
) -> None:
    """Takes a deleted tweet (or undone retweet) out of every timeline it may be in."""
    await feed.remove(redis, [author_id], [tweet_id])
    await feed.remove(redis, [author_id], [tweet_id], kind=feed.AUTHORED)
    async for followers in _followers(connection, author_id):
        await feed.remove(redis, followers, [tweet_id])


async def newest_of(connection: AsyncConnection, author_id: int) -> list[int]:
    """The author's newest tweets and retweets, as many as a timeline holds."""
    query = select(Tweet.id).where(Tweet.author_id == author_id)
    return list(
        (await connection.execute(query.order_by(Tweet.id.desc()).limit(feed.CAP))).scalars()
    )


async def note_unfollow(redis: aioredis.Redis, *, follower_id: int, followee_id: int) -> None:
    """Remembers that the follower left, for the fan-outs of the followee running meanwhile."""
    key, now = _leavers_key(followee_id), time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {str(follower_id): now})
        pipe.zremrangebyscore(key, "-inf", now - UNFOLLOWS_KEPT)
        pipe.expire(key, UNFOLLOWS_KEPT)
        await pipe.execute()


async def _take_back_from_leavers(
    connection: AsyncConnection,
    redis: aioredis.Redis,
    author_id: int,
    tweet_id: int,
    *,
    since: float,
) -> None:
    """Takes the tweet out of the timelines of those who unfollowed the author since `since`
    and have not followed again: their batch may have been read before they left."""
    left = await redis.zrangebyscore(_leavers_key(author_id), since - _CLOCKS, "+inf")
    if not left:
        return
    candidates = [int(member) for member in cast(list[bytes], left)]  # without scores
    still = select(Follow.follower_id).where(
        Follow.followee_id == author_id,
        Follow.follower_id == any_(bindparam("left", candidates, type_=ARRAY(BigInteger))),
    )
    following = set((await connection.execute(still)).scalars())
    await feed.remove(redis, [f for f in candidates if f not in following], [tweet_id])


def _leavers_key(author_id: int) -> str:
    return f"unfollowed:{author_id}"


async def _insert_all(
    redis: aioredis.Redis, batches: AsyncIterator[list[int]], tweet_ids: list[int]
) -> int:
    """Inserts each batch of timelines while the next batch of followers is read."""
    written = 0
    pending: asyncio.Task[int] | None = None
    try:
        async for followers in batches:
            if pending is not None:
                written += await pending
            pending = asyncio.create_task(feed.insert(redis, followers, tweet_ids))
    finally:
        if pending is not None:
            written += await pending
    return written


async def _author(connection: AsyncConnection, tweet_id: int) -> Row[int, int] | None:
    """The tweet's author, None when it is gone: deleted, or its author suspended."""
    query = select(User.id, User.follower_count).join(Tweet, Tweet.author_id == User.id)
    query = query.where(Tweet.id == tweet_id, User.suspended_at.is_(None))
    return (await connection.execute(query)).first()


async def _followers(connection: AsyncConnection, user_id: int) -> AsyncIterator[list[int]]:
    """The user's followers in batches, walking the (followee_id, id) index. Plain asyncpg,
    each batch as one array: at 10^5 followers a tweet, SQLAlchemy's row handling would cost
    more than the query."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    below = 2**63 - 1
    while True:
        followers, below = await driver.fetchrow(_FOLLOWERS, user_id, below, FOLLOWER_BATCH)
        if not followers:
            return
        yield followers

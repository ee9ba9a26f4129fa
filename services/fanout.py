"""Fan-out on write: decides who gets a tweet in their home timeline (services/feed.py stores it).

Accounts in the hybrid set (services/hybrid.py: past the follower threshold) are not fanned
out: their tweets are merged into their followers' timelines when read (services/home.py).
Only live timelines get entries; cold ones are rebuilt from the database on their next read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from models import Follow, Tweet, User
from services import feed, hybrid

FOLLOWER_BATCH = 10_000


async def fan_out_tweet(
    connection: AsyncConnection, redis: aioredis.Redis, *, tweet_id: int, threshold: int
) -> int:
    """Puts the tweet in its author's and followers' live timelines; returns timelines written."""
    author = await _author(connection, tweet_id)
    if author is None:
        return 0  # deleted meanwhile
    written = await feed.insert(redis, [author.id], [tweet_id])
    merged = await hybrid.is_merged(
        redis, author.id, follower_count=author.follower_count, threshold=threshold
    )
    if not merged:
        async for followers in _followers(connection, author.id):
            written += await feed.insert(redis, followers, [tweet_id])
    if await _author(connection, tweet_id) is None:  # deleted while we wrote: take it back
        await remove_tweet(connection, redis, tweet_id=tweet_id, author_id=author.id)
    return written


async def remove_tweet(
    connection: AsyncConnection, redis: aioredis.Redis, *, tweet_id: int, author_id: int
) -> None:
    """Takes a deleted tweet (or undone retweet) out of every timeline it may be in."""
    await feed.remove(redis, [author_id], [tweet_id])
    async for followers in _followers(connection, author_id):
        await feed.remove(redis, followers, [tweet_id])


async def _author(connection: AsyncConnection, tweet_id: int) -> Row[int, int] | None:
    query = select(User.id, User.follower_count).join(Tweet, Tweet.author_id == User.id)
    return (await connection.execute(query.where(Tweet.id == tweet_id))).first()


async def _followers(connection: AsyncConnection, user_id: int) -> AsyncIterator[list[int]]:
    """The user's followers in batches, walking the (followee_id, id) index."""
    query = select(Follow.id, Follow.follower_id).where(Follow.followee_id == user_id)
    last: int | None = None
    while True:
        batch = query if last is None else query.where(Follow.id < last)
        rows = (
            await connection.execute(batch.order_by(Follow.id.desc()).limit(FOLLOWER_BATCH))
        ).all()
        if not rows:
            return
        yield [row.follower_id for row in rows]
        last = rows[-1].id

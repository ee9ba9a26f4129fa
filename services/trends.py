"""Trending hashtags: tweets per hashtag in time buckets in Redis, summed over a sliding window.

Each bucket (BUCKET_SECONDS of tweet creation time, read off the Snowflake id) is a sorted set
of tag -> tweets, with a hash of the tweets it counted (id -> their tags), so counting is
idempotent (a job run twice counts once), a deleted tweet is taken out with the tags it was
counted under, and an edited one is counted again under its new tags. Buckets expire after
the window. When the marker BUILT is missing (Redis flushed or new), the window is counted
again from the database, once, under a lock, in the background: a read never waits for it, and
answers what the buckets hold meanwhile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import tasks
from core.db import Database
from core.errors import BadUserInput
from core.ids import snowflake_floor, snowflake_time
from core.scripts import Script
from models import Tweet

BUCKET_SECONDS = 300
LIMIT_MAX = 50
# every key of trends shares one hash tag: the window's sum (ZUNIONSTORE) reads all buckets,
# so on a cluster trends live on one node (a few hundred small keys)
_TAG = "{trend}"
BUILT = f"{_TAG}:built"
_LOCK = f"{_TAG}:building"
_LOCK_SECONDS = 300
_TOP_SECONDS = 10  # the summed window is reused this long
_REBUILD_BATCH = 5_000

# KEYS: bucket counts, bucket tweets; ARGV: tweet id, when the bucket leaves the window, tags...
_COUNT = Script(
    """
if redis.call('HSETNX', KEYS[2], ARGV[1], table.concat(ARGV, ' ', 3)) == 1 then
  for i = 3, #ARGV do redis.call('ZINCRBY', KEYS[1], 1, ARGV[i]) end
  redis.call('EXPIREAT', KEYS[1], ARGV[2])
  redis.call('EXPIREAT', KEYS[2], ARGV[2])
end
"""
)
# KEYS: bucket counts, bucket tweets; ARGV: tweet id, when the bucket leaves the window, tags...
# (none: the tweet no longer counts)
_REPLACE = Script(
    """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  redis.call('HDEL', KEYS[2], ARGV[1])
  for tag in string.gmatch(old, '%S+') do redis.call('ZINCRBY', KEYS[1], -1, tag) end
end
if #ARGV >= 3 then
  redis.call('HSET', KEYS[2], ARGV[1], table.concat(ARGV, ' ', 3))
  for i = 3, #ARGV do redis.call('ZINCRBY', KEYS[1], 1, ARGV[i]) end
  redis.call('EXPIREAT', KEYS[1], ARGV[2])
  redis.call('EXPIREAT', KEYS[2], ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', 0)
"""
)


@dataclass(frozen=True)
class Trend:
    tag: str
    tweet_count: int


def _bucket(tweet_id: int) -> int:
    return int(snowflake_time(tweet_id).timestamp()) // BUCKET_SECONDS


def _keys(tweet_id: int) -> list[str]:
    bucket = _bucket(tweet_id)
    return [f"{_TAG}:{bucket}", f"{_TAG}:{bucket}:tweets"]


async def count(
    redis: aioredis.Redis, tweets: list[tuple[int, list[str]]], *, window_hours: int
) -> None:
    """Counts each (tweet id, hashtags) once in its bucket."""
    calls = [
        (_keys(tweet_id), [tweet_id, _expiry(tweet_id, window_hours), *tags])
        for tweet_id, tags in tweets
        if tags
    ]
    if calls:
        await _COUNT.many(redis, calls)


def _expiry(tweet_id: int, window_hours: int) -> int:
    return (_bucket(tweet_id) + 1) * BUCKET_SECONDS + window_hours * 3600


async def uncount(redis: aioredis.Redis, tweet_ids: list[int]) -> None:
    """Takes deleted tweets out of the counts they were in."""
    if tweet_ids:
        await _REPLACE.many(redis, [(_keys(tweet_id), [tweet_id, 0]) for tweet_id in tweet_ids])


async def recount_tweet(
    connection: AsyncConnection, redis: aioredis.Redis, tweet_id: int, *, window_hours: int
) -> None:
    """Counts an edited tweet under its hashtags now, and no longer under those it had."""
    tags = await connection.scalar(select(Tweet.hashtags).where(Tweet.id == tweet_id)) or []
    await _REPLACE(redis, _keys(tweet_id), [tweet_id, _expiry(tweet_id, window_hours), *tags])


async def count_tweet(
    connection: AsyncConnection, redis: aioredis.Redis, tweet_id: int, *, window_hours: int
) -> None:
    tags = await connection.scalar(select(Tweet.hashtags).where(Tweet.id == tweet_id))
    if tags:
        await count(redis, [(tweet_id, tags)], window_hours=window_hours)


async def trending(
    db: Database, redis: aioredis.Redis, *, limit: int, window_hours: int
) -> list[Trend]:
    if not 1 <= limit <= LIMIT_MAX:
        raise BadUserInput(f"limit must be between 1 and {LIMIT_MAX}.")
    if not await redis.exists(BUILT):
        tasks.spawn(rebuild(db, redis, window_hours))
    now = int(time.time()) // BUCKET_SECONDS
    top = f"{_TAG}:top:{window_hours}:{now}"
    if not await redis.exists(top):
        buckets = [
            f"{_TAG}:{b}" for b in range(now - window_hours * 3600 // BUCKET_SECONDS, now + 1)
        ]
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zunionstore(top, buckets)
            pipe.expire(top, _TOP_SECONDS)
            await pipe.execute()
    found: list[Any] = await redis.zrevrange(top, 0, limit - 1, withscores=True)
    return [Trend(_text(tag), int(score)) for tag, score in found if score > 0]


async def rebuild(db: Database, redis: aioredis.Redis, window_hours: int) -> bool:
    """Counts the window's tweets again from the database, unless another process is at it
    (False; counting twice would be harmless, only slower)."""
    if not await redis.set(_LOCK, "1", nx=True, ex=_LOCK_SECONDS):
        return False
    try:
        since = snowflake_floor(datetime.now(UTC) - timedelta(hours=window_hours))
        last = since - 1
        while True:
            async with db.read() as connection:
                rows = (
                    await connection.execute(
                        select(Tweet.id, Tweet.hashtags)
                        .where(Tweet.id > last, func.cardinality(Tweet.hashtags) > 0)
                        .order_by(Tweet.id)
                        .limit(_REBUILD_BATCH)
                    )
                ).all()
            if not rows:
                break
            await count(redis, [(row.id, row.hashtags) for row in rows], window_hours=window_hours)
            last = rows[-1].id
        await redis.set(BUILT, "1")
    finally:
        await redis.delete(_LOCK)
    return True


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""The home timeline: Redis first, the database for what Redis does not hold.

The reader cannot tell which path served a page: ordering, cursors and pagination are the same.
- Live timeline in Redis (fanned out on write) + the recent tweets of followed accounts above
  the hybrid threshold (merged here, at read time).
- Cold or missing timeline: rebuilt from the database by one reader; the others read the
  database meanwhile.
- Past the newest `feed.CAP` entries, or with Redis down: the database.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import BigInteger, Select, and_, any_, bindparam, literal, select, true, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from core import cursors
from core.config import Settings
from core.pagination import Page, check_first
from models import Follow, Tweet, User
from services import feed, hybrid
from services.timelines import TWEETS


async def home_timeline(
    connection: AsyncConnection,
    redis: aioredis.Redis,
    *,
    viewer_id: int,
    first: int | None,
    after: str | None,
    settings: Settings,
) -> Page:
    count = check_first(first) + 1
    before = cursors.decode(after, TWEETS)[0] if after is not None else None
    try:
        cached = await _cached(connection, redis, viewer_id, before, count, settings)
        merged = await hybrid.accounts(connection, redis, settings.hybrid_threshold)
    except RedisError:
        cached = None
    if cached is None:
        ids = await database_page(connection, viewer_id=viewer_id, before=before, count=count)
    else:
        # with a full page from Redis, only newer tweets can join it
        newer_than = cached[-1] if len(cached) == count else None
        ids = cached + await _merged_at_read(
            connection, viewer_id, merged, before=before, newer_than=newer_than, count=count
        )
        if len(cached) < count:  # Redis holds nothing older: the database has the rest
            oldest = cached[-1] if cached else before
            ids += await database_page(connection, viewer_id=viewer_id, before=oldest, count=count)
        ids = sorted(set(ids), reverse=True)[:count]
    page = ids[: count - 1]
    return Page(
        node_ids=page,
        cursors=[cursors.encode(TWEETS, tweet_id) for tweet_id in page],
        has_next=len(ids) == count,
        has_previous=after is not None,
    )


async def database_page(
    connection: AsyncConnection, *, viewer_id: int, before: int | None, count: int
) -> list[int]:
    """The viewer's own tweets and retweets and those of everyone the viewer follows."""
    followed = select(Follow.followee_id).where(Follow.follower_id == viewer_id)
    return await _newest_of(connection, viewer_id, followed, before, count)


async def _newest_of(
    connection: AsyncConnection,
    viewer_id: int,
    followed: Select[int] | None,
    before: int | None,
    count: int,
    newer_than: int | None = None,
) -> list[int]:
    """The newest `count` tweets between `newer_than` and `before` by the viewer or the
    `followed` authors: one index probe per author (LATERAL), so the cost follows the number of
    authors, never the size of the tweets table."""
    viewer = select(literal(viewer_id, BigInteger))
    authors = (union_all(viewer, followed) if followed is not None else viewer).subquery("authors")
    recent = select(Tweet.id).where(Tweet.author_id == authors.c[0])
    if before is not None:
        recent = recent.where(Tweet.id < before)
    if newer_than is not None:
        recent = recent.where(Tweet.id > newer_than)
    newest = recent.order_by(Tweet.id.desc()).limit(count).lateral("newest")
    query = (
        select(newest.c.id)
        .select_from(authors.join(newest, true()))
        .order_by(newest.c.id.desc())
        .limit(count)
    )
    return list((await connection.execute(query)).scalars())


async def _cached(
    connection: AsyncConnection,
    redis: aioredis.Redis,
    viewer_id: int,
    before: int | None,
    count: int,
    settings: Settings,
) -> list[int] | None:
    ttl = settings.timeline_ttl_seconds
    ids = await feed.page(redis, viewer_id, before=before, count=count, ttl=ttl)
    if ids is not None or not await feed.rebuild_lock(redis, viewer_id):
        return ids
    try:
        newest = await database_page(connection, viewer_id=viewer_id, before=None, count=feed.CAP)
        await feed.rebuild(redis, viewer_id, newest, ttl=ttl)
        # a tweet fanned out while we rebuilt found no timeline to join: add it now
        again = await database_page(connection, viewer_id=viewer_id, before=None, count=feed.CAP)
        missed = [tweet_id for tweet_id in again if not newest or tweet_id > newest[0]]
        if missed:
            await feed.insert(redis, [viewer_id], missed)
    finally:
        await feed.release_rebuild_lock(redis, viewer_id)
    return await feed.page(redis, viewer_id, before=before, count=count, ttl=ttl)


async def follow_changed(
    connection: AsyncConnection,
    redis: aioredis.Redis,
    *,
    follower_id: int,
    followee_id: int,
    settings: Settings,
) -> None:
    """Brings the follower's live timeline in line with whether it now follows `followee_id`:
    merges the followee's recent tweets in, or takes them out. Reads the state, so running it
    twice, or late, or for a follow that was undone meanwhile, does the right thing."""
    followee = await connection.execute(
        select(User.follower_count, Follow.id)
        .outerjoin(Follow, and_(Follow.followee_id == User.id, Follow.follower_id == follower_id))
        .where(User.id == followee_id)
    )
    row = followee.first()
    if row is None:
        return
    recent = select(Tweet.id).where(Tweet.author_id == followee_id)
    tweet_ids = list(
        (await connection.execute(recent.order_by(Tweet.id.desc()).limit(feed.CAP))).scalars()
    )
    merged = await hybrid.is_merged(
        redis, followee_id, follower_count=row.follower_count, threshold=settings.hybrid_threshold
    )
    if row.id is None:
        await feed.remove(redis, [follower_id], tweet_ids)
    elif not merged:  # merged accounts are read, not stored
        await feed.insert(redis, [follower_id], tweet_ids)


async def _merged_at_read(
    connection: AsyncConnection,
    viewer_id: int,
    merged: list[int],
    *,
    before: int | None,
    newer_than: int | None,
    count: int,
) -> list[int]:
    """The viewer's own newest tweets (there at once, before any fan-out) and those of the
    followed accounts that fan-out skips (services/hybrid.py)."""
    followed = (
        select(Follow.followee_id).where(
            Follow.follower_id == viewer_id,
            Follow.followee_id == any_(bindparam("merged", merged, type_=ARRAY(BigInteger))),
        )
        if merged
        else None
    )
    return await _newest_of(connection, viewer_id, followed, before, count, newer_than)

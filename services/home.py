"""The home timeline: Redis first, the database for what Redis does not hold.

The reader cannot tell which path served a page: ordering, cursors and pagination are the same.
- Live timeline in Redis (fanned out on write) + the recent tweets of followed accounts above
  the hybrid threshold (merged here, at read time).
- Cold or missing timeline: rebuilt from the database by one reader; the others read the
  database meanwhile.
- Past the newest `feed.CAP` entries, or with Redis down: the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Select,
    and_,
    any_,
    bindparam,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from core import cursors
from core.config import Settings
from core.pagination import Page, check_first
from models import Follow, Tweet, User
from services import cache, fanout, feed, hybrid
from services.timelines import TWEETS

T = TypeVar("T")


class OnDatabase(Protocol):
    """Runs a read on the request's connection, taken when first needed: a page served from
    Redis takes none (core/db.RequestReads.run)."""

    def __call__(self, read: Callable[[AsyncConnection], Awaitable[T]]) -> Awaitable[T]: ...


async def home_timeline(
    sql: OnDatabase,
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
        ids = await _from_redis(sql, redis, viewer_id, before, count, settings)
    except RedisError:
        ids = None
    if ids is None:
        ids = await sql(partial(database_page, viewer_id=viewer_id, before=before, count=count))
    page = ids[: count - 1]
    return Page(
        node_ids=page,
        cursors=[cursors.encode(TWEETS, tweet_id) for tweet_id in page],
        has_next=len(ids) == count,
        has_previous=after is not None,
    )


async def _from_redis(
    sql: OnDatabase,
    redis: aioredis.Redis,
    viewer_id: int,
    before: int | None,
    count: int,
    settings: Settings,
) -> list[int] | None:
    """The page from the viewer's timeline in Redis, the merged accounts' tweets, and the
    database past what Redis holds; None when the timeline is cold and another reader is
    rebuilding it."""
    held = await _timeline(sql, redis, viewer_id, before, count, settings)
    if held is None:
        return None
    # with a full page from Redis, only newer tweets can join it
    newer_than = held.ids[-1] if len(held.ids) == count else None
    merged = await _followed_merged(sql, redis, viewer_id, settings)
    ids = held.ids + await _authored(
        sql,
        redis,
        merged,
        before=before,
        newer_than=newer_than,
        count=count,
        settings=settings,
    )
    if not held.complete(count, None):  # Redis holds nothing older: the database has the rest
        oldest = held.ids[-1] if held.ids else before
        ids += await sql(partial(database_page, viewer_id=viewer_id, before=oldest, count=count))
    return sorted(set(ids), reverse=True)[:count]


async def database_page(
    connection: AsyncConnection, *, viewer_id: int, before: int | None, count: int
) -> list[int]:
    """The viewer's own tweets and retweets and those of everyone the viewer follows."""
    return await _newest_of(connection, _authors_of(viewer_id), before, count)


async def newer_than(
    connection: AsyncConnection, *, viewer_id: int, after: int, limit: int
) -> list[tuple[int, int]]:
    """The first `limit` entries of the viewer's timeline past the live position `after`
    (services/live.py), in position order: (position, tweet id). One index probe per author,
    as for pages."""
    author = _authors_of(viewer_id).subquery("authors")
    position = Tweet.position
    entries = (
        select(position, Tweet.id)
        .where(Tweet.author_id == author.c[0], position > after)
        .order_by(position)
        .limit(limit)
        .lateral("entries")
    )
    query = (
        select(entries.c.position, entries.c.id)
        .select_from(author.join(entries, true()))
        .order_by(entries.c.position)
        .limit(limit)
    )
    return [(row.position, row.id) for row in await connection.execute(query)]


async def _newest_of(
    connection: AsyncConnection,
    authors: Select[tuple[int]] | CompoundSelect[tuple[int]],
    before: int | None,
    count: int,
    newer_than: int | None = None,
) -> list[int]:
    """The newest `count` tweets between `newer_than` and `before` by these authors: one index
    probe per author (LATERAL), so the cost follows the number of authors, never the size of
    the tweets table."""
    author = authors.subquery("authors")
    recent = select(Tweet.id).where(Tweet.author_id == author.c[0])
    if before is not None:
        recent = recent.where(Tweet.id < before)
    if newer_than is not None:
        recent = recent.where(Tweet.id > newer_than)
    newest = recent.order_by(Tweet.id.desc()).limit(count).lateral("newest")
    query = (
        select(newest.c.id)
        .select_from(author.join(newest, true()))
        .order_by(newest.c.id.desc())
        .limit(count)
    )
    return list((await connection.execute(query)).scalars())


async def _timeline(
    sql: OnDatabase,
    redis: aioredis.Redis,
    viewer_id: int,
    before: int | None,
    count: int,
    settings: Settings,
) -> feed.Held | None:
    """A page of the viewer's timeline; a cold one is rebuilt first, by one reader."""
    ttl = settings.timeline_ttl_seconds
    page = partial(feed.holdings, redis, [viewer_id], before=before, count=count, ttl=ttl)
    held = (await page())[viewer_id]
    if held is None and await _rebuilt(
        sql, redis, viewer_id, _authors_of(viewer_id), kind=feed.TIMELINE, ttl=ttl
    ):
        held = (await page())[viewer_id]
    return held


async def _rebuilt(
    sql: OnDatabase,
    redis: aioredis.Redis,
    owner: int,
    authors: Select[tuple[int]] | CompoundSelect[tuple[int]],
    *,
    kind: str,
    ttl: int,
) -> bool:
    """Rebuilds a cold list from the newest tweets of `authors`, unless another reader is at
    it (False). The list takes fan-out from before the read on (services/feed.py), so a tweet
    that commits while we read is in the list either way, whatever its id."""
    lock = await feed.rebuild_lock(redis, owner, kind=kind)
    if lock is None:
        return False
    try:
        newest = await sql(lambda connection: _newest_of(connection, authors, None, feed.CAP))
    except Exception:
        await feed.release_rebuild_lock(redis, owner, lock, kind=kind)  # cold again, at once
        raise
    return await feed.rebuild(redis, owner, newest, lock=lock, ttl=ttl, kind=kind)


async def _followed_merged(
    sql: OnDatabase, redis: aioredis.Redis, viewer_id: int, settings: Settings
) -> list[int]:
    """The accounts in the hybrid set that the viewer follows, cached per viewer under the
    set's size: the set only grows, so a new member makes every cached answer unreachable."""

    async def followed(connection: AsyncConnection, viewer_ids: list[int]) -> list[list[int]]:
        merged = await hybrid.accounts(connection, redis, settings.hybrid_threshold)
        if not merged:
            return [[]]
        query = select(Follow.followee_id).where(
            Follow.follower_id == viewer_ids[0],
            Follow.followee_id == any_(bindparam("merged", merged, type_=ARRAY(BigInteger))),
        )
        return [list((await connection.execute(query)).scalars())]

    async def load(viewer_ids: list[int]) -> list[list[int]]:
        return await sql(partial(followed, viewer_ids=viewer_ids))

    [found] = await cache.read_through(
        redis, await _merged_kind(redis), [viewer_id], load, ttl=settings.cache_ttl_seconds
    )
    return list(found)


async def _merged_kind(redis: aioredis.Redis) -> str:
    return cache.scoped(cache.FOLLOWED_MERGED, await redis.scard(hybrid.KEY))


async def _authored(
    sql: OnDatabase,
    redis: aioredis.Redis,
    authors: list[int],
    *,
    before: int | None,
    newer_than: int | None,
    count: int,
    settings: Settings,
) -> list[int]:
    """The newest tweets in the range by accounts merged at read time: from each one's list of
    newest tweets in Redis (rebuilt by one reader when cold), else from the database."""
    if not authors:
        return []
    ttl = settings.timeline_ttl_seconds
    window = partial(
        feed.merged,
        redis,
        before=before,
        count=count,
        ttl=ttl,
        newer_than=newer_than,
        kind=feed.AUTHORED,
    )
    found = await window(authors)
    ids, missing = found.ids, found.incomplete
    rebuilt = []
    for author in found.cold:
        if await _rebuilt(sql, redis, author, _listed([author]), kind=feed.AUTHORED, ttl=ttl):
            rebuilt.append(author)
        else:
            missing.append(author)  # another reader is rebuilding it
    if rebuilt:
        again = await window(rebuilt)
        ids += again.ids
        missing += again.cold + again.incomplete
    if missing:
        listed = _listed(missing)
        ids += await sql(lambda c: _newest_of(c, listed, before, count, newer_than))
    return ids


def _listed(authors: list[int]) -> Select[tuple[int]]:
    return select(func.unnest(bindparam("authors", authors, type_=ARRAY(BigInteger))))


def _authors_of(viewer_id: int) -> CompoundSelect[tuple[int]]:
    """The viewer and everyone the viewer follows."""
    followed = select(Follow.followee_id).where(Follow.follower_id == viewer_id)
    return union_all(select(literal(viewer_id, BigInteger)), followed)


async def entries_by(connection: AsyncConnection, *, author_id: int, limit: int) -> list[int]:
    """The newest entries a home timeline may hold because of the author: its tweets and
    retweets, and retweets and quotes of its tweets by others."""
    own = (
        select(Tweet.id).where(Tweet.author_id == author_id).order_by(Tweet.id.desc()).limit(limit)
    )
    originals = own.subquery()
    retweets, quotes = (
        select(Tweet.id)
        .where(column.in_(select(originals.c.id)))
        .order_by(Tweet.id.desc())
        .limit(limit)
        for column in (Tweet.retweet_of_id, Tweet.quote_of_id)
    )
    found = union_all(own, retweets, quotes).subquery()
    query = select(found.c.id).order_by(found.c.id.desc()).limit(limit)
    return list((await connection.execute(query)).scalars())


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
    if row.id is None:  # before the removal below: a fan-out running meanwhile takes its tweet back
        await fanout.note_unfollow(redis, follower_id=follower_id, followee_id=followee_id)
    recent = select(Tweet.id).where(Tweet.author_id == followee_id)
    tweet_ids = list(
        (await connection.execute(recent.order_by(Tweet.id.desc()).limit(feed.CAP))).scalars()
    )
    merged = await hybrid.is_merged(
        redis, followee_id, follower_count=row.follower_count, threshold=settings.hybrid_threshold
    )
    if merged:  # read, not stored: the follower's list of merged accounts changed
        await cache.forget(redis, [cache.key(await _merged_kind(redis), follower_id)])
        return
    if len(tweet_ids) >= feed.CAP:  # the followee has older tweets too: leave them below
        await feed.raise_floor(redis, [follower_id], tweet_ids[-1])
    if row.id is None:
        await feed.remove(redis, [follower_id], tweet_ids)
    else:
        await feed.insert(redis, [follower_id], tweet_ids)


async def show_own_changes(
    connection: AsyncConnection,
    redis: aioredis.Redis,
    events: list[tuple[str, dict[str, Any]]],
    *,
    actor_id: int,
    settings: Settings,
) -> None:
    """Right after a commit, the actor's timeline shows what the actor just did; the outbox
    jobs do it for everyone else, and again, for certain, for the actor."""
    for topic, payload in events:
        if topic == "tweet.posted":
            await feed.insert(redis, [actor_id], [payload["tweet_id"]])
        elif topic == "tweet.removed":
            for tweet_id, author_id in payload["tweets"]:
                await feed.remove(redis, [author_id], [tweet_id])
                await feed.remove(redis, [author_id], [tweet_id], kind=feed.AUTHORED)
        elif topic == "follow.changed":
            await follow_changed(connection, redis, **payload, settings=settings)

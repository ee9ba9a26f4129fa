"""Likes and retweets: idempotent, with counts kept exact under concurrency."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import ids
from core.errors import NotFound
from models import Like, Tweet
from services import cache, outbox
from services.tweets import adjust_counts, original_id


async def like_tweet(session: AsyncSession, *, actor_id: int, tweet_id: int) -> int:
    tweet_id = await original_id(session, tweet_id)
    like_id = ids.new_id()
    values = {"user_id": actor_id, "tweet_id": tweet_id, "id": like_id}
    try:
        inserted = await session.scalar(
            insert(Like)
            .values(**values, created_at=ids.snowflake_time(like_id))
            .on_conflict_do_nothing(index_elements=["user_id", "tweet_id"])
            .returning(Like.id)
        )
    except IntegrityError:
        raise NotFound("No such tweet.") from None
    if inserted is not None:
        await adjust_counts(session, tweet_id, like_count=+1)
        await outbox.record(session, "tweet.liked", tweet_id=tweet_id, actor_id=actor_id)
        cache.stale(session, cache.key(cache.scoped(cache.LIKED, actor_id), tweet_id))
    return tweet_id


async def unlike_tweet(session: AsyncSession, *, actor_id: int, tweet_id: int) -> int:
    tweet_id = await original_id(session, tweet_id)
    removed = await session.scalar(
        delete(Like).where(Like.user_id == actor_id, Like.tweet_id == tweet_id).returning(Like.id)
    )
    if removed is not None:
        await adjust_counts(session, tweet_id, like_count=-1)
        cache.stale(session, cache.key(cache.scoped(cache.LIKED, actor_id), tweet_id))
    return tweet_id


async def retweet(session: AsyncSession, *, actor_id: int, tweet_id: int) -> int:
    """Retweets the original (a retweet of a retweet retweets the original); returns its id."""
    tweet_id = await original_id(session, tweet_id)
    retweet_id = ids.new_id()
    try:
        inserted = await session.scalar(
            insert(Tweet)
            .values(
                id=retweet_id,
                author_id=actor_id,
                text="",
                created_at=ids.snowflake_time(retweet_id),
                retweet_of_id=tweet_id,
            )
            .on_conflict_do_nothing(
                index_elements=["retweet_of_id", "author_id"],
                index_where=Tweet.retweet_of_id.is_not(None),
            )
            .returning(Tweet.id)
        )
    except IntegrityError:
        raise NotFound("No such tweet.") from None
    if inserted is not None:
        await adjust_counts(session, tweet_id, retweet_count=+1)
        await outbox.record(session, "tweet.posted", tweet_id=inserted)
        cache.stale(session, cache.key(cache.scoped(cache.RETWEETED, actor_id), tweet_id))
    return tweet_id


async def undo_retweet(session: AsyncSession, *, actor_id: int, tweet_id: int) -> int:
    tweet_id = await original_id(session, tweet_id)
    removed = await session.scalar(
        delete(Tweet)
        .where(Tweet.retweet_of_id == tweet_id, Tweet.author_id == actor_id)
        .returning(Tweet.id)
    )
    if removed is not None:
        await adjust_counts(session, tweet_id, retweet_count=-1)
        await outbox.record(session, "tweet.removed", tweets=[[removed, actor_id]])
        cache.stale(session, cache.key(cache.TWEET, removed))
        cache.stale(session, cache.key(cache.scoped(cache.RETWEETED, actor_id), tweet_id))
    return tweet_id

"""Likes and retweets: idempotent, with counts kept exact under concurrency."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert

from core import ids
from models import Like, Tweet
from services import reach
from services.events import TweetLiked, TweetPosted, TweetRemoved, TweetUnliked
from services.tweets import adjust_counts, original
from services.work import Work


async def like_tweet(work: Work, *, actor_id: int, tweet_id: int) -> int:
    tweet_id = await _reachable(work, actor_id, tweet_id)
    like_id = ids.new_id()
    values = {"user_id": actor_id, "tweet_id": tweet_id, "id": like_id}
    inserted = await work.session.scalar(
        insert(Like)
        .values(**values, created_at=ids.snowflake_time(like_id))
        .on_conflict_do_nothing(index_elements=["user_id", "tweet_id"])
        .returning(Like.id)
    )
    if inserted is not None:
        await adjust_counts(work.session, tweet_id, like_count=+1)
        work.record(TweetLiked(tweet_id, actor_id))
    return tweet_id


async def unlike_tweet(work: Work, *, actor_id: int, tweet_id: int) -> int:
    tweet_id, _ = await original(work.session, tweet_id)
    removed = await work.session.scalar(
        delete(Like).where(Like.user_id == actor_id, Like.tweet_id == tweet_id).returning(Like.id)
    )
    if removed is not None:
        await adjust_counts(work.session, tweet_id, like_count=-1)
        work.record(TweetUnliked(tweet_id, actor_id))
    return tweet_id


async def retweet(work: Work, *, actor_id: int, tweet_id: int) -> int:
    """Retweets the original (a retweet of a retweet retweets the original); returns its id."""
    tweet_id = await _reachable(work, actor_id, tweet_id)
    retweet_id = ids.new_id()
    inserted = await work.session.scalar(
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
    if inserted is not None:
        await adjust_counts(work.session, tweet_id, retweet_count=+1)
        work.record(TweetPosted(inserted, author_id=actor_id, retweet_of_id=tweet_id))
    return tweet_id


async def undo_retweet(work: Work, *, actor_id: int, tweet_id: int) -> int:
    tweet_id, _ = await original(work.session, tweet_id)
    removed = await work.session.scalar(
        delete(Tweet)
        .where(Tweet.retweet_of_id == tweet_id, Tweet.author_id == actor_id)
        .returning(Tweet.id)
    )
    if removed is not None:
        await adjust_counts(work.session, tweet_id, retweet_count=-1)
        work.record(TweetRemoved(((removed, actor_id),), counted=(tweet_id,)))
    return tweet_id


async def _reachable(work: Work, actor_id: int, tweet_id: int) -> int:
    """The original's id, once no block stands between the actor and its author."""
    original_id, author_id = await original(work.session, tweet_id)
    await reach.ensure_can_reach(work.session, actor_id, author_id)
    return original_id

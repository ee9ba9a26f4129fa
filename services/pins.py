"""A pinned tweet: at most one per user, one of the user's own tweets and not a retweet."""

from __future__ import annotations

from sqlalchemy import select, update

from core.errors import Forbidden, NotFound
from models import Tweet, User
from services.events import TweetPinned
from services.work import Work


async def pin_tweet(work: Work, *, actor_id: int, tweet_id: int | None) -> None:
    """Pins the tweet, replacing any earlier pin; None unpins. Idempotent. The tweet's row is
    held (FOR KEY SHARE) until the commit, so a delete racing the pin waits, then unpins it."""
    session = work.session
    if tweet_id is not None:
        found = (
            await session.execute(
                select(Tweet.author_id, Tweet.retweet_of_id)
                .where(Tweet.id == tweet_id)
                .with_for_update(key_share=True)
            )
        ).first()
        if found is None:
            raise NotFound("No such tweet.")
        if found.author_id != actor_id:
            raise Forbidden("Only the author can pin a tweet.")
        if found.retweet_of_id is not None:
            raise Forbidden("A retweet cannot be pinned.")
    changed = await session.scalar(
        update(User)
        .where(User.id == actor_id, User.pinned_tweet_id.is_distinct_from(tweet_id))
        .values(pinned_tweet_id=tweet_id)
        .returning(User.id)
    )
    if changed is not None:
        work.record(TweetPinned(actor_id, tweet_id))

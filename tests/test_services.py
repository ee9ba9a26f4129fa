"""Service functions against PostgreSQL, each test rolled back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.errors import Conflict, NotFound
from models import Tweet, User
from services import accounts, engagement, graph, tweets
from services.work import Work
from tests.graphql import unique_handle


async def _user(work: Work) -> User:
    return await accounts.register(
        work, handle=unique_handle(), password="password1", display_name=None
    )


async def test_edit_window_closes(work: Work) -> None:
    author = await _user(work)
    tweet_id = (await tweets.post_tweet(work, author_id=author.id, text="hello", limiter=None)).id
    with pytest.raises(Conflict):
        await tweets.edit_tweet(
            work, actor_id=author.id, tweet_id=tweet_id, text="late", window=timedelta(0)
        )


async def test_retweet_of_a_retweet_retweets_the_original(work: Work) -> None:
    ann = await _user(work)
    bob = await _user(work)
    cat = await _user(work)
    original = (await tweets.post_tweet(work, author_id=ann.id, text="original", limiter=None)).id
    assert await engagement.retweet(work, actor_id=bob.id, tweet_id=original) == original
    bobs_retweet = await work.session.scalar(
        select(Tweet.id).where(Tweet.retweet_of_id == original)
    )
    assert bobs_retweet is not None
    assert await engagement.retweet(work, actor_id=cat.id, tweet_id=bobs_retweet) == original
    count = await work.session.scalar(select(Tweet.retweet_count).where(Tweet.id == original))
    assert count == 2


async def test_liking_a_deleted_tweet_is_not_found(work: Work) -> None:
    ann = await _user(work)
    tweet_id = (await tweets.post_tweet(work, author_id=ann.id, text="gone", limiter=None)).id
    await tweets.delete_tweet(work, actor_id=ann.id, tweet_id=tweet_id)
    with pytest.raises(NotFound):
        await engagement.like_tweet(work, actor_id=ann.id, tweet_id=tweet_id)


async def test_follow_counts(work: Work) -> None:
    ann, bob = await _user(work), await _user(work)
    await graph.follow(work, actor_id=ann.id, user_id=bob.id)
    await graph.follow(work, actor_id=ann.id, user_id=bob.id)
    rows = (
        await work.session.execute(
            select(User.id, User.follower_count, User.following_count).where(
                User.id.in_([ann.id, bob.id])
            )
        )
    ).all()
    counts = {row.id: (row.follower_count, row.following_count) for row in rows}
    assert counts == {ann.id: (0, 1), bob.id: (1, 0)}

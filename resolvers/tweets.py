"""Posting, editing, deleting, liking and retweeting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

import strawberry

from core.ids import expect_global_id, to_global_id
from schema.context import Info
from schema.inputs import CreateTweetInput, EditTweetInput
from schema.relay import TweetIdArg
from schema.tweets import Tweet, optional
from services import engagement, tweets
from services.work import Work
from views import tweets as views

_TweetAction = Callable[..., Awaitable[int]]


async def tweet(info: Info, id: TweetIdArg) -> Tweet | None:
    return optional(await views.tweet(info.context.loaders, expect_global_id(id, "Tweet")))


async def create_tweet(
    info: Info,
    input: Annotated[CreateTweetInput, strawberry.argument(description="The tweet.")],
) -> Tweet:
    reply_to = expect_global_id(input.reply_to_id, "Tweet") if input.reply_to_id else None
    media_ids = [expect_global_id(media_id, "Media") for media_id in input.media_ids or ()]
    async with info.context.work() as work:
        posted = await tweets.post_tweet(
            work,
            author_id=info.context.viewer(),
            text=input.text,
            reply_to_id=reply_to,
            limiter=info.context.limiter,
            idempotency_key=input.idempotency_key,
            media_ids=media_ids,
        )
    return Tweet.of(await views.posted(info.context.loaders, posted))


async def edit_tweet(
    info: Info,
    input: Annotated[EditTweetInput, strawberry.argument(description="The edit.")],
) -> Tweet:
    settings = info.context.settings
    tweet_id = expect_global_id(input.id, "Tweet")
    async with info.context.work() as work:
        await tweets.edit_tweet(
            work,
            actor_id=info.context.viewer(),
            tweet_id=tweet_id,
            text=input.text,
            window=timedelta(seconds=settings.edit_window_seconds),
            limit=settings.edit_limit,
        )
    return Tweet.of(await views.existing(info.context.loaders, tweet_id))


async def delete_tweet(info: Info, id: TweetIdArg) -> strawberry.ID:
    tweet_id = expect_global_id(id, "Tweet")
    async with info.context.work() as work:
        await tweets.delete_tweet(work, actor_id=info.context.viewer(), tweet_id=tweet_id)
    return strawberry.ID(to_global_id("Tweet", tweet_id))


async def like_tweet(info: Info, id: TweetIdArg) -> Tweet:
    return await _engage(info, id, engagement.like_tweet)


async def unlike_tweet(info: Info, id: TweetIdArg) -> Tweet:
    return await _engage(info, id, engagement.unlike_tweet)


async def retweet(info: Info, id: TweetIdArg) -> Tweet:
    return await _engage(info, id, engagement.retweet)


async def undo_retweet(info: Info, id: TweetIdArg) -> Tweet:
    return await _engage(info, id, engagement.undo_retweet)


async def _engage(info: Info, id: strawberry.ID, action: _TweetAction) -> Tweet:
    tweet_id = expect_global_id(id, "Tweet")
    work: Work
    async with info.context.work() as work:
        original = await action(work, actor_id=info.context.viewer(), tweet_id=tweet_id)
    return Tweet.of(await views.existing(info.context.loaders, original))

"""Posting, editing, deleting, liking and retweeting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.ids import expect_global_id, to_global_id
from schema.context import HasContext, Info
from schema.inputs import CreateTweetInput, EditTweetInput
from schema.relay import TweetIdArg
from schema.tweets import Tweet, load_tweet
from services import engagement, tweets

_TweetAction = Callable[..., Awaitable[int]]


async def tweet(info: Info, id: TweetIdArg) -> Tweet | None:
    return await load_tweet(info, expect_global_id(id, "Tweet"))


async def create_tweet(
    info: Info,
    input: Annotated[CreateTweetInput, strawberry.argument(description="The tweet.")],
) -> Tweet:
    reply_to = expect_global_id(input.reply_to_id, "Tweet") if input.reply_to_id else None
    async with info.context.transaction() as session:
        tweet_id = await tweets.post_tweet(
            session,
            author_id=info.context.viewer(),
            text=input.text,
            reply_to_id=reply_to,
            limiter=info.context.limiter,
        )
    return await reloaded_tweet(info, tweet_id)


async def edit_tweet(
    info: Info,
    input: Annotated[EditTweetInput, strawberry.argument(description="The edit.")],
) -> Tweet:
    settings = info.context.settings
    tweet_id = expect_global_id(input.id, "Tweet")
    async with info.context.transaction() as session:
        await tweets.edit_tweet(
            session,
            actor_id=info.context.viewer(),
            tweet_id=tweet_id,
            text=input.text,
            window=timedelta(seconds=settings.edit_window_seconds),
            limit=settings.edit_limit,
        )
    return await reloaded_tweet(info, tweet_id)


async def delete_tweet(info: Info, id: TweetIdArg) -> strawberry.ID:
    tweet_id = expect_global_id(id, "Tweet")
    async with info.context.transaction() as session:
        await tweets.delete_tweet(session, actor_id=info.context.viewer(), tweet_id=tweet_id)
    info.context.after_write()
    return strawberry.ID(to_global_id("Tweet", tweet_id))


async def like_tweet(info: Info, id: TweetIdArg) -> Tweet:
    return await _engage(info, id, engagement.like_tweet)


async def unlike_tweet(info: Info, id: TweetIdArg) -> Tweet:
    return await _engage(info, id, engagement.unlike_tweet)


async def retweet(info: Info, id: TweetIdArg) -> Tweet:
    return await _engage(info, id, engagement.retweet)


async def undo_retweet(info: Info, id: TweetIdArg) -> Tweet:
    return await _engage(info, id, engagement.undo_retweet)


async def reloaded_tweet(info: HasContext, tweet_id: int) -> Tweet:
    info.context.after_write()
    found = await load_tweet(info, tweet_id)
    if found is None:
        raise NotFound("No such tweet.")
    return found


async def _engage(info: Info, id: strawberry.ID, action: _TweetAction) -> Tweet:
    tweet_id = expect_global_id(id, "Tweet")
    session: AsyncSession
    async with info.context.transaction() as session:
        original = await action(session, actor_id=info.context.viewer(), tweet_id=tweet_id)
    return await reloaded_tweet(info, original)

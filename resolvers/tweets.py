"""Posting, editing, deleting, liking, retweeting, bookmarking and pinning."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

import strawberry

from core.ids import expect_global_id, to_global_id
from schema.context import Info
from schema.inputs import CreateTweetInput, EditTweetInput
from schema.relay import AFTER, FIRST, TweetIdArg
from schema.tweets import Tweet, TweetConnection, optional
from schema.users import User
from services import bookmarks, engagement, pins, tweets
from services.work import Work
from views import pages
from views import tweets as views
from views import users as user_views

_TweetAction = Callable[..., Awaitable[int]]


async def tweet(info: Info, id: TweetIdArg) -> Tweet | None:
    return optional(await views.tweet(info.context.loaders, expect_global_id(id, "Tweet")))


async def create_tweet(
    info: Info,
    input: Annotated[CreateTweetInput, strawberry.argument(description="The tweet.")],
) -> Tweet:
    reply_to = expect_global_id(input.reply_to_id, "Tweet") if input.reply_to_id else None
    media_ids = [expect_global_id(media_id, "Media") for media_id in input.media_ids or ()]
    quote_of = expect_global_id(input.quote_of_id, "Tweet") if input.quote_of_id else None
    async with info.context.work() as work:
        posted = await tweets.post_tweet(
            work,
            author_id=info.context.viewer(),
            text=input.text,
            reply_to_id=reply_to,
            quote_of_id=quote_of,
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


async def bookmark_tweet(info: Info, id: TweetIdArg) -> Tweet:
    return await _engage(info, id, bookmarks.bookmark_tweet)


async def unbookmark_tweet(info: Info, id: TweetIdArg) -> Tweet:
    return await _engage(info, id, bookmarks.unbookmark_tweet)


async def bookmarked(
    info: Info,
    first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
    after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
) -> TweetConnection:
    return TweetConnection.of(await pages.bookmarked(info.context, first=first, after=after))


async def pin_tweet(
    info: Info,
    id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="One of the viewer's own tweets; null unpins."),
    ] = None,
) -> User:
    tweet_id = expect_global_id(id, "Tweet") if id is not None else None
    viewer = info.context.viewer()
    async with info.context.work() as work:
        await pins.pin_tweet(work, actor_id=viewer, tweet_id=tweet_id)
    return User.from_row(await user_views.existing(info.context.loaders, viewer))


async def _engage(info: Info, id: strawberry.ID, action: _TweetAction) -> Tweet:
    tweet_id = expect_global_id(id, "Tweet")
    work: Work
    async with info.context.work() as work:
        original = await action(work, actor_id=info.context.viewer(), tweet_id=tweet_id)
    return Tweet.of(await views.existing(info.context.loaders, original))

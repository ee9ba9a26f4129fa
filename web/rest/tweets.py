"""Tweets: post, read, edit, delete, like, retweet; services/tweets.py and engagement.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from core.errors import NotFound
from core.ids import expect_global_id
from services import engagement, tweets
from views import tweets as views
from web.rest import shapes
from web.rest.bodies import NewTweet, NewTweetHeaders, TweetEdit, TweetId
from web.rest.endpoint import Call

_TweetAction = Callable[..., Awaitable[int]]


async def create_tweet(call: Call, *, body: NewTweet, headers: NewTweetHeaders) -> shapes.Tweet:
    reply_to_id = body.get("replyToId")
    reply_to = expect_global_id(reply_to_id, "Tweet") if reply_to_id else None
    media_ids = [expect_global_id(media_id, "Media") for media_id in body.get("mediaIds") or ()]
    async with call.context.work() as work:
        posted = await tweets.post_tweet(
            work,
            author_id=call.viewer(),
            text=body["text"],
            reply_to_id=reply_to,
            limiter=call.context.limiter,
            idempotency_key=headers.get("idempotency-key"),
            media_ids=media_ids,
        )
    return await shapes.tweet(call.context, await views.posted(call.context.loaders, posted))


async def get_tweet(call: Call, *, tweet_id: TweetId) -> shapes.Tweet:
    found = await views.tweet(call.context.loaders, expect_global_id(tweet_id, "Tweet"))
    if found is None:
        raise NotFound("No such tweet.")
    return await shapes.tweet(call.context, found)


async def edit_tweet(call: Call, *, tweet_id: TweetId, body: TweetEdit) -> shapes.Tweet:
    raw_id = expect_global_id(tweet_id, "Tweet")
    settings = call.context.settings
    async with call.context.work() as work:
        await tweets.edit_tweet(
            work,
            actor_id=call.viewer(),
            tweet_id=raw_id,
            text=body["text"],
            window=timedelta(seconds=settings.edit_window_seconds),
            limit=settings.edit_limit,
        )
    return await _answer(call, raw_id)


async def delete_tweet(call: Call, *, tweet_id: TweetId) -> None:
    raw_id = expect_global_id(tweet_id, "Tweet")
    async with call.context.work() as work:
        await tweets.delete_tweet(work, actor_id=call.viewer(), tweet_id=raw_id)


async def like(call: Call, *, tweet_id: TweetId) -> shapes.Tweet:
    return await _engage(call, tweet_id, engagement.like_tweet)


async def unlike(call: Call, *, tweet_id: TweetId) -> shapes.Tweet:
    return await _engage(call, tweet_id, engagement.unlike_tweet)


async def retweet(call: Call, *, tweet_id: TweetId) -> shapes.Tweet:
    return await _engage(call, tweet_id, engagement.retweet)


async def undo_retweet(call: Call, *, tweet_id: TweetId) -> shapes.Tweet:
    return await _engage(call, tweet_id, engagement.undo_retweet)


async def _engage(call: Call, tweet_id: TweetId, action: _TweetAction) -> shapes.Tweet:
    raw_id = expect_global_id(tweet_id, "Tweet")
    async with call.context.work() as work:
        original = await action(work, actor_id=call.viewer(), tweet_id=raw_id)
    return await _answer(call, original)


async def _answer(call: Call, tweet_id: int) -> shapes.Tweet:
    return await shapes.tweet(call.context, await views.existing(call.context.loaders, tweet_id))

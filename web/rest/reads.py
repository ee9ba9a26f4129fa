"""A user's tweets, tweet search and the viewer's notifications."""

from __future__ import annotations

from core.errors import NotFound
from schema.notifications import NotificationConnection
from schema.tweets import TweetConnection
from services import notifications, timelines
from web.rest import shapes
from web.rest.bodies import Handle, PageQuery, SearchQuery
from web.rest.endpoint import Call


async def user_tweets(call: Call, *, handle: Handle, query: PageQuery) -> shapes.TweetPage:
    row = await call.context.loaders.users_by_handle.load(handle)
    if row is None:
        raise NotFound("No such user.")
    async with call.context.reads.connection() as connection:
        page = await timelines.user_tweets(
            connection, user_id=row.id, first=query.get("limit"), after=query.get("cursor")
        )
    return await shapes.tweet_page(call, await TweetConnection.of(call, page))


async def search_tweets(call: Call, *, query: SearchQuery) -> shapes.TweetPage:
    context = call.context
    page = await context.search.tweets(
        context.reads, query=query["q"], first=query.get("limit"), after=query.get("cursor")
    )
    return await shapes.tweet_page(call, await TweetConnection.of(call, page))


async def notifications_page(call: Call, *, query: PageQuery) -> shapes.NotificationPage:
    viewer_id = call.viewer()
    async with call.context.reads.connection() as connection:
        page = await notifications.page(
            connection, viewer_id=viewer_id, first=query.get("limit"), after=query.get("cursor")
        )
    return await shapes.notification_page(call, await NotificationConnection.of(call, page))

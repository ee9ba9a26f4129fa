"""A user's tweets, tweet search, the viewer's notifications and bookmarks."""

from __future__ import annotations

from core.errors import NotFound
from views import pages
from views import users as views
from web.rest import shapes
from web.rest.bodies import Handle, PageQuery, SearchQuery
from web.rest.endpoint import Call


async def user_tweets(call: Call, *, handle: Handle, query: PageQuery) -> shapes.TweetList:
    row = await views.by_handle(call.context.loaders, handle)
    if row is None:
        raise NotFound("No such user.")
    listed = await pages.user_tweets(
        call.context, user_id=row.id, first=query.get("limit"), after=query.get("cursor")
    )
    return await shapes.tweet_list(call.context, listed)


async def search_tweets(call: Call, *, query: SearchQuery) -> shapes.TweetList:
    listed = await pages.search_tweets(
        call.context, query=query["q"], first=query.get("limit"), after=query.get("cursor")
    )
    return await shapes.tweet_list(call.context, listed)


async def notifications_page(call: Call, *, query: PageQuery) -> shapes.NotificationList:
    listed = await pages.notification_page(
        call.context, first=query.get("limit"), after=query.get("cursor")
    )
    return await shapes.notification_list(call.context, listed)


async def bookmarks_page(call: Call, *, query: PageQuery) -> shapes.TweetList:
    listed = await pages.bookmarked(
        call.context, first=query.get("limit"), after=query.get("cursor")
    )
    return await shapes.tweet_list(call.context, listed)

"""Follow, unfollow and the home timeline: services/graph.py and services/home.py."""

from __future__ import annotations

from core.ids import expect_global_id
from services import graph
from views import pages
from views import users as views
from web.rest import shapes
from web.rest.bodies import PageQuery, UserId
from web.rest.endpoint import Call


async def follow(call: Call, *, user_id: UserId) -> shapes.User:
    target = expect_global_id(user_id, "User")
    async with call.context.work() as work:
        await graph.follow(work, actor_id=call.viewer(), user_id=target)
    return await shapes.user(call.context, await views.existing(call.context.loaders, target))


async def unfollow(call: Call, *, user_id: UserId) -> shapes.User:
    target = expect_global_id(user_id, "User")
    async with call.context.work() as work:
        await graph.unfollow(work, actor_id=call.viewer(), user_id=target)
    return await shapes.user(call.context, await views.existing(call.context.loaders, target))


async def timeline(call: Call, *, query: PageQuery) -> shapes.TweetList:
    listed = await pages.home_timeline(
        call.context, first=query.get("limit"), after=query.get("cursor")
    )
    return await shapes.tweet_list(call.context, listed)

"""Follow, unfollow and the home timeline: services/graph.py and services/home.py."""

from __future__ import annotations

from core.ids import expect_global_id
from resolvers.accounts import reloaded_user
from schema.tweets import TweetConnection
from services import graph, home
from web.rest import shapes
from web.rest.bodies import PageQuery, UserId
from web.rest.endpoint import Call


async def follow(call: Call, *, user_id: UserId) -> shapes.User:
    target = expect_global_id(user_id, "User")
    async with call.context.transaction() as session:
        await graph.follow(session, actor_id=call.viewer(), user_id=target)
    return await shapes.user(call, await reloaded_user(call, target))


async def unfollow(call: Call, *, user_id: UserId) -> shapes.User:
    target = expect_global_id(user_id, "User")
    async with call.context.transaction() as session:
        await graph.unfollow(session, actor_id=call.viewer(), user_id=target)
    return await shapes.user(call, await reloaded_user(call, target))


async def timeline(call: Call, *, query: PageQuery) -> shapes.TweetPage:
    viewer_id = call.viewer()
    async with call.context.reads.connection() as connection:
        page = await home.home_timeline(
            connection,
            call.context.redis,
            viewer_id=viewer_id,
            first=query.get("limit"),
            after=query.get("cursor"),
            settings=call.context.settings,
        )
    return await shapes.tweet_page(call, await TweetConnection.of(call, page))

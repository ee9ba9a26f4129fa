"""Follow, unfollow and the home timeline."""

from __future__ import annotations

from typing import Annotated

import strawberry

from core.ids import expect_global_id
from resolvers.accounts import reloaded_user
from schema.context import Info
from schema.relay import AFTER, FIRST, UserIdArg
from schema.tweets import TweetConnection
from schema.users import User
from services import graph, home


async def follow(info: Info, user_id: UserIdArg) -> User:
    target = expect_global_id(user_id, "User")
    async with info.context.transaction() as session:
        await graph.follow(session, actor_id=info.context.viewer(), user_id=target)
    return await reloaded_user(info, target)


async def unfollow(info: Info, user_id: UserIdArg) -> User:
    target = expect_global_id(user_id, "User")
    async with info.context.transaction() as session:
        await graph.unfollow(session, actor_id=info.context.viewer(), user_id=target)
    return await reloaded_user(info, target)


async def home_timeline(
    info: Info,
    first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
    after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
) -> TweetConnection:
    viewer_id = info.context.viewer()
    async with info.context.reads.connection() as connection:
        page = await home.home_timeline(
            connection,
            info.context.redis,
            viewer_id=viewer_id,
            first=first,
            after=after,
            settings=info.context.settings,
        )
    return await TweetConnection.of(info, page)

"""Follow, unfollow and the home timeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from core.ids import expect_global_id
from schema.context import Info
from schema.relay import AFTER, FIRST, UserIdArg
from schema.tweets import TweetConnection
from schema.users import User
from services import graph
from views import pages
from views import users as views


async def follow(info: Info, user_id: UserIdArg) -> User:
    return await act_on_user(info, user_id, graph.follow)


async def unfollow(info: Info, user_id: UserIdArg) -> User:
    return await act_on_user(info, user_id, graph.unfollow)


async def act_on_user(
    info: Info, user_id: strawberry.ID, action: Callable[..., Awaitable[int]], **options: Any
) -> User:
    """The viewer's action on another account, in one unit of work; answers that account."""
    target = expect_global_id(user_id, "User")
    async with info.context.work() as work:
        await action(work, actor_id=info.context.viewer(), user_id=target, **options)
    return User.from_row(await views.existing(info.context.loaders, target))


async def home_timeline(
    info: Info,
    first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
    after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
) -> TweetConnection:
    return TweetConnection.of(await pages.home_timeline(info.context, first=first, after=after))

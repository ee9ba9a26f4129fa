"""Relay's node(id): any object by its global id."""

from __future__ import annotations

from typing import Annotated

import strawberry

from core.ids import parse_global_id
from schema import tweets, users
from schema.context import Info
from schema.notifications import Notification
from schema.relay import Node
from views import notifications as notification_views
from views import tweets as tweet_views
from views import users as user_views


async def node(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
) -> Node | None:
    type_name, raw_id = parse_global_id(id)
    loaders = info.context.loaders
    if type_name == "User":
        return users.optional(await user_views.user(loaders, raw_id))
    if type_name == "Tweet":
        return tweets.optional(await tweet_views.tweet(loaders, raw_id))
    if type_name == "Notification" and info.context.viewer_id is not None:
        viewer = info.context.viewer_id
        (found,) = await notification_views.notifications(loaders, viewer, [raw_id])
        return Notification.of(found) if found is not None else None
    return None

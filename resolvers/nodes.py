"""Relay's node(id): any object by its global id."""

from __future__ import annotations

from typing import Annotated

import strawberry

from core.ids import parse_global_id
from schema.context import Info
from schema.notifications import load_notifications
from schema.relay import Node
from schema.tweets import load_tweet
from schema.users import load_user


async def node(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
) -> Node | None:
    type_name, raw_id = parse_global_id(id)
    if type_name == "User":
        return await load_user(info, raw_id)
    if type_name == "Tweet":
        return await load_tweet(info, raw_id)
    if type_name == "Notification" and info.context.viewer_id is not None:
        (notification,) = await load_notifications(info, [raw_id])
        return notification
    return None

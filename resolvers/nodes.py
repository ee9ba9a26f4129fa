"""Relay's node(id): any object by its global id."""

from __future__ import annotations

from typing import Annotated

import strawberry

from core.ids import parse_global_id
from schema import tweets, users
from schema.context import Info
from schema.media import Media
from schema.notifications import Notification
from schema.relay import Node
from schema.safety import MutedWord, Report
from services import moderation, mutes
from views import media as media_views
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
    if type_name == "Media":
        row = await media_views.visible(loaders, raw_id)
        return Media.of(row) if row is not None else None
    viewer = info.context.viewer_id
    if viewer is None:
        return None
    if type_name == "Notification":
        (found,) = await notification_views.notifications(loaders, viewer, [raw_id])
        return Notification.of(found) if found is not None else None
    # on the primary: who moderates is decided here, and a revoked role must not linger
    async with info.context.reads.connection(primary=True) as connection:
        if type_name == "MutedWord":
            word = await mutes.muted_word(connection, user_id=viewer, word_id=raw_id)
            return MutedWord.of(word) if word is not None else None
        if type_name == "Report":
            report = await moderation.report_row(connection, raw_id)
            mine = report is not None and report.reporter_id == viewer
            if report is not None and (mine or await moderation.is_moderator(connection, viewer)):
                return Report.of(report)
    return None

"""The viewer's notifications: each with who did it and the tweet it is about."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from dataloaders import Loaders
from views.tweets import TweetView, tweets


@dataclass(frozen=True, slots=True)
class NotificationView:
    row: Any  # the notification's row
    actor: Any  # the actor's user row
    tweet: TweetView | None  # None for FOLLOW


async def notifications(
    loaders: Loaders, viewer_id: int | None, notification_ids: list[int]
) -> list[NotificationView | None]:
    """The viewer's notifications by id (None for others', and for missing ones: deleted, or
    about a tweet deleted since)."""
    rows = [
        row
        for row in await loaders.notifications.load_many(notification_ids)
        if row is not None and row.recipient_id == viewer_id
    ]
    actors, about = await asyncio.gather(
        loaders.users.load_many([row.actor_id for row in rows]),
        tweets(loaders, [row.tweet_id for row in rows if row.tweet_id is not None]),
    )
    by_id = {view.row.id: view for view in about if view is not None}
    built = {
        row.id: NotificationView(row, actor, by_id.get(row.tweet_id))
        for row, actor in zip(rows, actors, strict=True)
        if actor is not None
        and actor.suspended_at is None
        and (row.tweet_id is None or row.tweet_id in by_id)
    }
    return [built.get(notification_id) for notification_id in notification_ids]

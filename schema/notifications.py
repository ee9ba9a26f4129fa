"""The Notification type and its connection."""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum

import strawberry

from core.ids import to_global_id
from core.pagination import Page
from schema.context import HasContext
from schema.relay import Node, PageInfo
from schema.tweets import Tweet, load_tweets
from schema.users import User


@strawberry.enum(description="What happened.")
class NotificationKind(Enum):
    MENTION = "MENTION"
    REPLY = "REPLY"
    LIKE = "LIKE"
    RETWEET = "RETWEET"
    FOLLOW = "FOLLOW"


@strawberry.type(description="Something another user did that concerns the viewer.")
class Notification(Node):
    id: strawberry.ID = strawberry.field(description="The notification's opaque global id.")
    kind: NotificationKind = strawberry.field(description="What happened.")
    actor: User = strawberry.field(description="Who did it.")
    tweet: Tweet | None = strawberry.field(
        description=(
            "The tweet involved: the mentioning tweet, the reply, the liked or retweeted tweet. "
            "Null for FOLLOW."
        )
    )
    created_at: datetime = strawberry.field(description="When it happened.")
    read: bool = strawberry.field(description="Whether the viewer has marked it read.")


@strawberry.type(description="A notification in a list, with the cursor that resumes after it.")
class NotificationEdge:
    cursor: str = strawberry.field(description="Pass as `after` (or `since`) to resume after it.")
    node: Notification = strawberry.field(description="The notification.")


@strawberry.type(description="A page of notifications.")
class NotificationConnection:
    edges: list[NotificationEdge] = strawberry.field(description="The notifications, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")

    @classmethod
    async def of(cls, info: HasContext, page: Page) -> NotificationConnection:
        found = await load_notifications(info, page.node_ids)
        edges = [
            NotificationEdge(cursor=cursor, node=notification)
            for cursor, notification in zip(page.cursors, found, strict=True)
            if notification is not None
        ]
        return cls(edges=edges, page_info=PageInfo.of(page))


async def load_notifications(
    info: HasContext, notification_ids: list[int]
) -> list[Notification | None]:
    """The viewer's notifications by id (None for others' and for missing ones)."""
    loaders = info.context.loaders
    rows = [
        row
        for row in await loaders.notifications.load_many(notification_ids)
        if row is not None and row.recipient_id == info.context.viewer_id
    ]
    actors, tweets = await asyncio.gather(
        loaders.users.load_many([row.actor_id for row in rows]),
        load_tweets(info, [row.tweet_id for row in rows if row.tweet_id is not None]),
    )
    tweet_by_id = {tweet.row.id: tweet for tweet in tweets if tweet is not None}
    built = {
        row.id: Notification(
            id=strawberry.ID(to_global_id("Notification", row.id)),
            kind=NotificationKind(row.kind),
            actor=User.from_row(actor),
            tweet=tweet_by_id.get(row.tweet_id),
            created_at=row.created_at,
            read=row.read,
        )
        for row, actor in zip(rows, actors, strict=True)
        if actor is not None and (row.tweet_id is None or row.tweet_id in tweet_by_id)
    }
    return [built.get(notification_id) for notification_id in notification_ids]

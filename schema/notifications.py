"""The Notification type and its connection."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from core.ids import to_global_id
from schema.relay import Node, PageInfo
from schema.tweets import Tweet, optional
from schema.users import User
from views.notifications import NotificationView
from views.pages import Listed


@strawberry.enum(description="What happened.")
class NotificationKind(Enum):
    MENTION = "MENTION"
    REPLY = "REPLY"
    LIKE = "LIKE"
    RETWEET = "RETWEET"
    FOLLOW = "FOLLOW"
    QUOTE = "QUOTE"


@strawberry.type(description="Something another user did that concerns the viewer.")
class Notification(Node):
    id: strawberry.ID = strawberry.field(description="The notification's opaque global id.")
    kind: NotificationKind = strawberry.field(description="What happened.")
    actor: User = strawberry.field(description="Who did it.")
    tweet: Tweet | None = strawberry.field(
        description=(
            "The tweet involved: the mentioning tweet, the reply, the quote, the liked or "
            "retweeted tweet. Null for FOLLOW."
        )
    )
    created_at: datetime = strawberry.field(description="When it happened.")
    read: bool = strawberry.field(description="Whether the viewer has marked it read.")

    @classmethod
    def of(cls, view: NotificationView) -> Notification:
        row = view.row
        return cls(
            id=strawberry.ID(to_global_id("Notification", row.id)),
            kind=NotificationKind(row.kind),
            actor=User.from_row(view.actor),
            tweet=optional(view.tweet),
            created_at=row.created_at,
            read=row.read,
        )


@strawberry.type(description="A notification in a list, with the cursor that resumes after it.")
class NotificationEdge:
    cursor: str = strawberry.field(
        description=(
            "Pass as `after` (or `since`) to resume after it (a subscription event's: as "
            "`since` only)."
        )
    )
    node: Notification = strawberry.field(description="The notification.")


@strawberry.type(description="A page of notifications.")
class NotificationConnection:
    edges: list[NotificationEdge] = strawberry.field(description="The notifications, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")

    @classmethod
    def of(cls, listed: Listed[NotificationView]) -> NotificationConnection:
        edges = [
            NotificationEdge(cursor=cursor, node=Notification.of(view))
            for cursor, view in listed.entries
        ]
        return cls(edges=edges, page_info=PageInfo.of(listed.page))

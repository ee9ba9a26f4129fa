"""The types of blocks, mutes, muted words, reports and live removals (contract-safety.graphql)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from core.ids import to_global_id
from schema.context import Info
from schema.relay import Node, PageInfo
from schema.tweets import Tweet, optional
from schema.users import User
from services import moderation
from views import tweets as tweet_views
from views import users as user_views


@strawberry.enum(description="Why a tweet or an account is reported.")
class ReportReason(Enum):
    SPAM = "SPAM"
    ABUSE = "ABUSE"
    HARASSMENT = "HARASSMENT"
    MISINFORMATION = "MISINFORMATION"
    ILLEGAL = "ILLEGAL"
    OTHER = "OTHER"


@strawberry.enum(description="Where a report stands.")
class ReportStatus(Enum):
    OPEN = "OPEN"
    ACTIONED = "ACTIONED"
    DISMISSED = "DISMISSED"


@strawberry.enum(description="How a moderator resolves a report.")
class ModerationAction(Enum):
    DISMISS = strawberry.enum_value("DISMISS", description="Nothing wrong: the report is closed.")
    REMOVE_TWEET = strawberry.enum_value(
        "REMOVE_TWEET", description="The reported tweet is deleted, as if by its author."
    )
    SUSPEND_USER = strawberry.enum_value(
        "SUSPEND_USER", description="The reported account is suspended (CONTRACT.md, Safety)."
    )


@strawberry.type(description="A word or #hashtag the viewer does not want to see.")
class MutedWord(Node):
    id: strawberry.ID = strawberry.field(description="The muted word's opaque global id.")
    word: str = strawberry.field(description="Lower-case; a word, or a #hashtag.")
    expires_at: datetime | None = strawberry.field(description="Null: it never lapses.")

    @classmethod
    def of(cls, row: Any) -> MutedWord:
        return cls(
            id=strawberry.ID(to_global_id("MutedWord", row.id)),
            word=row.word,
            expires_at=row.expires_at,
        )


@strawberry.type(description="A report of a tweet or an account, for the moderators.")
class Report(Node):
    id: strawberry.ID = strawberry.field(description="The report's opaque global id.")
    reason: ReportReason = strawberry.field(description="Why it was reported.")
    comment: str = strawberry.field(description="What the reporter added; may be empty.")
    status: ReportStatus = strawberry.field(description="Where the report stands.")
    created_at: datetime = strawberry.field(description="When it was reported.")
    resolved_at: datetime | None = strawberry.field(
        description="When a moderator resolved it; null while open."
    )
    row: strawberry.Private[Any]

    @classmethod
    def of(cls, row: Any) -> Report:
        return cls(
            id=strawberry.ID(to_global_id("Report", row.id)),
            reason=ReportReason(row.reason),
            comment=row.comment,
            status=ReportStatus(row.status),
            created_at=row.created_at,
            resolved_at=row.resolved_at,
            row=row,
        )

    @strawberry.field(
        description="Visible to moderators and to the reporter; null for anyone else."
    )
    async def reporter(self, info: Info) -> User | None:
        viewer = info.context.viewer_id
        if viewer is None:
            return None
        if viewer != self.row.reporter_id and not await _is_moderator(info, viewer):
            return None
        return User.from_row(await user_views.existing(info.context.loaders, self.row.reporter_id))

    @strawberry.field(description="The reported account (the author, for a report of a tweet).")
    async def user(self, info: Info) -> User:
        return User.from_row(await user_views.existing(info.context.loaders, self.row.user_id))

    @strawberry.field(
        description=(
            "The reported tweet; null for a report of an account, or once the tweet is gone."
        )
    )
    async def tweet(self, info: Info) -> Tweet | None:
        return optional(await tweet_views.tweet(info.context.loaders, self.row.tweet_id))


async def _is_moderator(info: Info, user_id: int) -> bool:
    async with info.context.reads.connection(primary=True) as connection:  # a role, as it is now
        return await moderation.is_moderator(connection, user_id)


@strawberry.type(description="A report in a list, with the cursor that resumes after it.")
class ReportEdge:
    cursor: str = strawberry.field(description="Pass as `after` to get the entries after this one.")
    node: Report = strawberry.field(description="The report.")


@strawberry.type(description="A page of reports.")
class ReportConnection:
    edges: list[ReportEdge] = strawberry.field(description="The reports of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")


@strawberry.type(
    description="An entry that left the viewer's home timeline after it had been delivered."
)
class TimelineRemoval:
    id: strawberry.ID = strawberry.field(description="The id of the tweet or retweet that left.")
    cursor: str = strawberry.field(description="The cursor it had in homeTimeline.")


@strawberry.input(description="A word or #hashtag to mute.")
class MuteWordInput:
    word: str = strawberry.field(description="1 to 100 characters; a leading # mutes the hashtag.")
    expires_in: int | None = strawberry.field(
        default=None, description="Seconds until the mute lapses (at least 60); null: never."
    )


@strawberry.input(description="What is reported, and why.")
class ReportInput:
    subject_id: strawberry.ID = strawberry.field(description="The id of a Tweet or of a User.")
    reason: ReportReason = strawberry.field(description="Why.")
    comment: str | None = strawberry.field(default=None, description="At most 1,000 characters.")

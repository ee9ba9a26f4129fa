"""The User type and its connections."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row

from core.ids import to_global_id
from schema.context import Info
from schema.relay import AFTER, FIRST, Node, PageInfo
from views import pages
from views import tweets as tweet_views
from views.pages import Listed

if TYPE_CHECKING:
    from schema.tweets import Tweet, TweetConnection

TweetConnectionRef = Annotated["TweetConnection", strawberry.lazy("schema.tweets")]
TweetRef = Annotated["Tweet", strawberry.lazy("schema.tweets")]


@strawberry.type(description="An account: who posts, follows and is followed.")
class User(Node):
    id: strawberry.ID = strawberry.field(description="The user's opaque global id.")
    handle: str = strawberry.field(description="Unique, case-insensitive: 1-15 of A-Z a-z 0-9 _ .")
    display_name: str = strawberry.field(description="The name shown beside the handle.")
    bio: str = strawberry.field(description="A short text about the user; may be empty.")
    created_at: datetime = strawberry.field(description="When the account was created.")
    follower_count: int = strawberry.field(description="How many accounts follow this user.")
    following_count: int = strawberry.field(description="How many accounts this user follows.")
    tweet_count: int = strawberry.field(description="Original tweets and replies, not retweets.")
    suspended: bool = strawberry.field(description="True once a moderator suspended the account.")
    raw_id: strawberry.Private[int]
    pinned_tweet_id: strawberry.Private[int | None] = None

    @classmethod
    def from_row(cls, row: Row[Any]) -> User:
        return cls(
            id=strawberry.ID(to_global_id("User", row.id)),
            handle=row.handle,
            display_name=row.display_name,
            bio=row.bio,
            created_at=row.created_at,
            follower_count=row.follower_count,
            following_count=row.following_count,
            tweet_count=row.tweet_count if row.suspended_at is None else 0,
            suspended=row.suspended_at is not None,
            raw_id=row.id,
            pinned_tweet_id=row.pinned_tweet_id,
        )

    @strawberry.field(
        description="The tweet the user pinned to the top of the profile; null when none."
    )
    async def pinned_tweet(self, info: Info) -> TweetRef | None:
        from schema.tweets import optional

        return optional(await tweet_views.tweet(info.context.loaders, self.pinned_tweet_id))

    @strawberry.field(description="False when nobody is signed in.")
    async def viewer_is_following(self, info: Info) -> bool:
        return await info.context.loaders.viewer_follows.load(self.raw_id)

    @strawberry.field(
        description="True when this user follows the viewer; false when nobody is signed in."
    )
    async def follows_viewer(self, info: Info) -> bool:
        return await info.context.loaders.follows_viewer.load(self.raw_id)

    @strawberry.field(
        description=(
            "True when the signed-in viewer blocks this user; false when nobody is signed in."
        )
    )
    async def viewer_has_blocked(self, info: Info) -> bool:
        return self.raw_id in (await pages.safety(info.context)).blocking

    @strawberry.field(description="True when this user blocks the signed-in viewer.")
    async def blocks_viewer(self, info: Info) -> bool:
        return self.raw_id in (await pages.safety(info.context)).blocked_by

    @strawberry.field(
        description="True when the signed-in viewer mutes this user (private to the viewer)."
    )
    async def viewer_has_muted(self, info: Info) -> bool:
        return (await pages.safety(info.context)).mutes(self.raw_id, time.time())

    @strawberry.field(description="The user's own tweets, replies and retweets, newest first.")
    async def tweets(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> TweetConnectionRef:
        from schema.tweets import TweetConnection

        listed = await pages.user_tweets(
            info.context, user_id=self.raw_id, first=first, after=after
        )
        return TweetConnection.of(listed)

    @strawberry.field(description="Newest follow first.")
    async def followers(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> UserConnection:
        listed = await pages.followers(info.context, user_id=self.raw_id, first=first, after=after)
        return UserConnection.of(listed)

    @strawberry.field(description="Newest follow first.")
    async def following(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> UserConnection:
        listed = await pages.following(info.context, user_id=self.raw_id, first=first, after=after)
        return UserConnection.of(listed)

    @strawberry.field(description="Tweets this user liked, most recent like first.")
    async def likes(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> TweetConnectionRef:
        from schema.tweets import TweetConnection

        listed = await pages.user_likes(info.context, user_id=self.raw_id, first=first, after=after)
        return TweetConnection.of(listed)


def optional(row: Any | None) -> User | None:
    return User.from_row(row) if row is not None else None


@strawberry.type(description="A user in a list, with the cursor that resumes after it.")
class UserEdge:
    cursor: str = strawberry.field(description="Pass as `after` to get the entries after this one.")
    node: User = strawberry.field(description="The user.")


@strawberry.type(description="A page of users.")
class UserConnection:
    edges: list[UserEdge] = strawberry.field(description="The users of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")

    @classmethod
    def of(cls, listed: Listed[Any]) -> UserConnection:
        edges = [UserEdge(cursor=cursor, node=User.from_row(row)) for cursor, row in listed.entries]
        return cls(edges=edges, page_info=PageInfo.of(listed.page))

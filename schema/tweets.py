"""The Tweet type, its versions and connections."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import Row

from core.ids import to_global_id
from schema.context import Info
from schema.media import Media
from schema.relay import AFTER, FIRST, Node, PageInfo
from schema.users import User
from views import pages
from views import tweets as views
from views.pages import Listed
from views.tweets import TweetView


@strawberry.type(description="An earlier text of an edited tweet.")
class TweetVersion:
    text: str = strawberry.field(description="The text as it was.")
    created_at: datetime = strawberry.field(description="When this version was published.")


@strawberry.type(description="A tweet, a reply or a retweet.")
class Tweet(Node):
    id: strawberry.ID = strawberry.field(description="The tweet's opaque global id.")
    text: str = strawberry.field(description="The current text. Empty for a plain retweet.")
    created_at: datetime = strawberry.field(description="When the tweet was posted.")
    edited_at: datetime | None = strawberry.field(description="Null when never edited.")
    hashtags: list[str] = strawberry.field(
        description="Lower-case, without the #, in order of first appearance, no duplicates."
    )
    like_count: int = strawberry.field(description="How many users like this tweet.")
    retweet_count: int = strawberry.field(description="How many users retweeted this tweet.")
    reply_count: int = strawberry.field(description="How many direct replies this tweet has.")
    author: User = strawberry.field(description="Who posted it.")
    retweet_of: Tweet | None = strawberry.field(description="Set on a retweet: the original tweet.")
    viewer_has_liked: bool = strawberry.field(
        description="True when the signed-in viewer likes this tweet."
    )
    viewer_has_retweeted: bool = strawberry.field(
        description="True when the signed-in viewer retweeted this tweet."
    )
    media: list[Media] = strawberry.field(
        description="The attached images, in the order given; for a plain retweet, the original's."
    )
    row: strawberry.Private[Row[Any]]
    view: strawberry.Private[TweetView]

    @classmethod
    def of(cls, view: TweetView) -> Tweet:
        row = view.row
        return cls(
            id=strawberry.ID(to_global_id("Tweet", row.id)),
            text=row.text,
            created_at=row.created_at,
            edited_at=row.edited_at,
            hashtags=list(row.hashtags),
            like_count=row.like_count,
            retweet_count=row.retweet_count,
            reply_count=row.reply_count,
            author=User.from_row(view.author),
            retweet_of=cls.of(view.original) if view.original is not None else None,
            viewer_has_liked=view.liked,
            viewer_has_retweeted=view.retweeted,
            media=[Media.of(image) for image in view.shown_media],
            row=row,
            view=view,
        )

    @strawberry.field(description="Earlier versions, oldest first; empty when never edited.")
    async def edit_history(self, info: Info) -> list[TweetVersion]:
        rows = await info.context.loaders.edit_history.load(self.row.id)
        return [TweetVersion(text=row.text, created_at=row.created_at) for row in rows]

    @strawberry.field(
        description=(
            "The tweet this one replies to; null when not a reply or when that tweet was deleted."
        )
    )
    async def reply_to(self, info: Info) -> Tweet | None:
        return optional(await views.tweet(info.context.loaders, self.row.reply_to_id))

    @strawberry.field(description="Direct replies, oldest first.")
    async def replies(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> TweetConnection:
        listed = await pages.replies(info.context, tweet_id=self.row.id, first=first, after=after)
        return TweetConnection.of(listed)

    @strawberry.field(
        description=(
            "Users @mentioned in the text who exist, in order of first appearance, no duplicates."
        )
    )
    async def mentions(self, info: Info) -> list[User]:
        rows = await info.context.loaders.users_by_handle.load_many(list(self.row.mentions))
        return [User.from_row(row) for row in rows if row is not None]


def optional(view: TweetView | None) -> Tweet | None:
    return Tweet.of(view) if view is not None else None


@strawberry.type(description="A tweet in a list, with the cursor that resumes after it.")
class TweetEdge:
    cursor: str = strawberry.field(
        description=(
            "Pass as `after` to get the entries after this one (a subscription event's: as "
            "`since`, to resume after it)."
        )
    )
    node: Tweet = strawberry.field(description="The tweet.")
    # what a subscription event's answer depends on, when it is the same for many subscribers
    share: strawberry.Private[Hashable | None] = None


@strawberry.type(description="A page of tweets.")
class TweetConnection:
    edges: list[TweetEdge] = strawberry.field(description="The tweets of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")

    @classmethod
    def of(cls, listed: Listed[TweetView]) -> TweetConnection:
        edges = [TweetEdge(cursor=cursor, node=Tweet.of(view)) for cursor, view in listed.entries]
        return cls(edges=edges, page_info=PageInfo.of(listed.page))

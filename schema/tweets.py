"""The Tweet type, its versions and connections."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import Row

from core.ids import to_global_id
from core.pagination import Page
from schema.context import HasContext, Info
from schema.relay import AFTER, FIRST, Node, PageInfo
from schema.users import User
from services import timelines


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
    row: strawberry.Private[Row[Any]]

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
        return await load_tweet(info, self.row.reply_to_id)

    @strawberry.field(description="Direct replies, oldest first.")
    async def replies(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> TweetConnection:
        async with info.context.reads.connection() as connection:
            page = await timelines.replies(
                connection, tweet_id=self.row.id, first=first, after=after
            )
        return await TweetConnection.of(info, page)

    @strawberry.field(
        description=(
            "Users @mentioned in the text who exist, in order of first appearance, no duplicates."
        )
    )
    async def mentions(self, info: Info) -> list[User]:
        rows = await info.context.loaders.users_by_handle.load_many(list(self.row.mentions))
        return [User.from_row(row) for row in rows if row is not None]


async def load_tweet(info: HasContext, tweet_id: int | None) -> Tweet | None:
    if tweet_id is None:
        return None
    (tweet,) = await load_tweets(info, [tweet_id])
    return tweet


async def load_tweets(info: HasContext, tweet_ids: list[int]) -> list[Tweet | None]:
    """Tweets with their authors, originals and viewer flags, each kind in one batch.

    Hydrating a whole page at once keeps the per-field work of GraphQL execution to plain
    attribute reads: no resolver awaits per tweet.
    """
    loaders = info.context.loaders
    rows = await loaders.tweets.load_many(tweet_ids)
    original_ids = [row.retweet_of_id for row in rows if row is not None and row.retweet_of_id]
    originals = {row.id: row for row in await loaders.tweets.load_many(original_ids) if row}
    every = {row.id: row for row in rows if row is not None} | originals
    keys = list(every)
    authors, liked, retweeted = await asyncio.gather(
        loaders.users.load_many([row.author_id for row in every.values()]),
        loaders.viewer_likes.load_many(keys),
        loaders.viewer_retweets.load_many(keys),
    )
    users = {row.id: row for row in authors if row is not None}
    likes = {key for key, flag in zip(keys, liked, strict=True) if flag}
    retweets = {key for key, flag in zip(keys, retweeted, strict=True) if flag}
    return assemble(tweet_ids, every, users, likes.__contains__, retweets.__contains__)


def assemble(
    tweet_ids: list[int],
    rows: dict[int, Any],
    users: dict[int, Any],
    liked: Callable[[int], bool],
    retweeted: Callable[[int], bool],
) -> list[Tweet | None]:
    """Tweets from rows already read: the tweets and what they retweet, and their authors."""
    built: dict[int, Tweet] = {}
    for row in rows.values():
        author = users.get(row.author_id)
        if author is not None:
            built[row.id] = _tweet(row, User.from_row(author), liked(row.id), retweeted(row.id))
    for tweet in built.values():
        original_id = tweet.row.retweet_of_id
        if original_id is not None:
            tweet.retweet_of = built.get(original_id)
    return [built.get(tweet_id) for tweet_id in tweet_ids]


def _tweet(row: Row[Any], author: User, liked: bool, retweeted: bool) -> Tweet:
    return Tweet(
        id=strawberry.ID(to_global_id("Tweet", row.id)),
        text=row.text,
        created_at=row.created_at,
        edited_at=row.edited_at,
        hashtags=list(row.hashtags),
        like_count=row.like_count,
        retweet_count=row.retweet_count,
        reply_count=row.reply_count,
        author=author,
        retweet_of=None,
        viewer_has_liked=liked,
        viewer_has_retweeted=retweeted,
        row=row,
    )


@strawberry.type(description="A tweet in a list, with the cursor that resumes after it.")
class TweetEdge:
    cursor: str = strawberry.field(description="Pass as `after` to get the entries after this one.")
    node: Tweet = strawberry.field(description="The tweet.")
    # what a subscription event's answer depends on, when it is the same for many subscribers
    share: strawberry.Private[Hashable | None] = None


@strawberry.type(description="A page of tweets.")
class TweetConnection:
    edges: list[TweetEdge] = strawberry.field(description="The tweets of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")

    @classmethod
    async def of(cls, info: HasContext, page: Page) -> TweetConnection:
        tweets = await load_tweets(info, page.node_ids)
        edges = [
            TweetEdge(cursor=cursor, node=tweet)
            for cursor, tweet in zip(page.cursors, tweets, strict=True)
            if tweet is not None
        ]
        return cls(edges=edges, page_info=PageInfo.of(page))

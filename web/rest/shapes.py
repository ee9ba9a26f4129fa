"""What the REST API answers: the GraphQL types as JSON, with the same field names and ids.

The objects come from the same loading functions the GraphQL resolvers use (schema/); this
module only lays them out as JSON. The fields that GraphQL resolves lazily (edit history,
mentions, viewer flags) are read through the same loaders, each kind in one batch.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict

from core.ids import to_global_id
from schema import notifications as gql_notifications
from schema import tweets as gql_tweets
from schema import users as gql_users
from schema.context import HasContext
from schema.relay import PageInfo as GqlPageInfo
from schema.scalars import serialize_datetime

Timestamp = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "An ISO-8601 timestamp in UTC, e.g. 2026-11-22T10:42:31.123Z.",
        }
    ),
]
Cursor = Annotated[str, Field(description="Opaque: pass it back as `cursor` to resume after it.")]


class User(TypedDict):
    """An account, as GraphQL's `User` (without its lists: see /users/{handle}/tweets)."""

    id: Annotated[str, Field(description="The user's opaque global id, as in GraphQL.")]
    handle: Annotated[str, Field(description="Unique, case-insensitive: 1-15 of A-Z a-z 0-9 _.")]
    displayName: str
    bio: str
    createdAt: Timestamp
    followerCount: int
    followingCount: int
    tweetCount: Annotated[int, Field(description="Original tweets and replies, not retweets.")]
    viewerIsFollowing: Annotated[bool, Field(description="False when nobody is signed in.")]
    followsViewer: Annotated[bool, Field(description="False when nobody is signed in.")]


class TweetVersion(TypedDict):
    """An earlier text of an edited tweet."""

    text: str
    createdAt: Annotated[Timestamp, Field(description="When this version was published.")]


class TweetRef(TypedDict):
    """Another tweet, by id: GET /tweets/{tweet_id} has it whole."""

    id: str


class Tweet(TypedDict):
    """A tweet, a reply or a retweet, as GraphQL's `Tweet`."""

    id: Annotated[str, Field(description="The tweet's opaque global id, as in GraphQL.")]
    text: Annotated[str, Field(description="The current text. Empty for a plain retweet.")]
    author: User
    createdAt: Timestamp
    editedAt: Annotated[Timestamp | None, Field(description="Null when never edited.")]
    editHistory: Annotated[list[TweetVersion], Field(description="Earlier versions, oldest first.")]
    replyTo: Annotated[
        TweetRef | None,
        Field(description="The tweet this one replies to; null when none or deleted."),
    ]
    retweetOf: Annotated[Tweet | None, Field(description="Set on a retweet: the original tweet.")]
    hashtags: list[str]
    mentions: Annotated[list[User], Field(description="Users @mentioned who exist.")]
    likeCount: int
    retweetCount: int
    replyCount: int
    viewerHasLiked: bool
    viewerHasRetweeted: bool


class PageInfo(TypedDict):
    """Where a page sits in its list, as GraphQL's `PageInfo`."""

    hasNextPage: bool
    hasPreviousPage: bool
    startCursor: Cursor | None
    endCursor: Cursor | None


class TweetEdge(TypedDict):
    cursor: Cursor
    node: Tweet


class TweetPage(TypedDict):
    """A page of tweets, as GraphQL's `TweetConnection`, plus the cursor of the next page."""

    edges: list[TweetEdge]
    pageInfo: PageInfo
    nextCursor: Annotated[
        Cursor | None, Field(description="The `cursor` of the next page; null on the last page.")
    ]


class Notification(TypedDict):
    """Something another user did that concerns the viewer, as GraphQL's `Notification`."""

    id: str
    kind: Annotated[
        str,
        WithJsonSchema(
            {
                "type": "string",
                "enum": [kind.value for kind in gql_notifications.NotificationKind],
            }
        ),
    ]
    actor: User
    tweet: Annotated[Tweet | None, Field(description="Null for FOLLOW.")]
    createdAt: Timestamp
    read: bool


class NotificationEdge(TypedDict):
    cursor: Cursor
    node: Notification


class NotificationPage(TypedDict):
    """A page of notifications, as GraphQL's `NotificationConnection`, plus the next cursor."""

    edges: list[NotificationEdge]
    pageInfo: PageInfo
    nextCursor: Annotated[
        Cursor | None, Field(description="The `cursor` of the next page; null on the last page.")
    ]


class AuthPayload(TypedDict):
    """What register and login answer, as GraphQL's `AuthPayload`."""

    token: Annotated[str, Field(description="A bearer token for the Authorization header.")]
    user: User


class Deleted(TypedDict):
    """The id of what was deleted."""

    id: str


async def users(call: HasContext, found: list[gql_users.User]) -> list[User]:
    loaders = call.context.loaders
    keys = [user.raw_id for user in found]
    following, follower = await asyncio.gather(
        loaders.viewer_follows.load_many(keys), loaders.follows_viewer.load_many(keys)
    )
    return [
        _user(user, viewer_is_following, follows_viewer)
        for user, viewer_is_following, follows_viewer in zip(
            found, following, follower, strict=True
        )
    ]


async def user(call: HasContext, found: gql_users.User) -> User:
    (shaped,) = await users(call, [found])
    return shaped


async def tweets(call: HasContext, found: list[gql_tweets.Tweet]) -> list[Tweet]:
    originals = [tweet.retweet_of for tweet in found if tweet.retweet_of is not None]
    every = {tweet.row.id: tweet for tweet in [*found, *originals]}
    rows = [tweet.row for tweet in every.values()]
    loaders = call.context.loaders
    handles = sorted({handle for row in rows for handle in row.mentions})
    reply_ids = sorted({row.reply_to_id for row in rows if row.reply_to_id is not None})
    histories, mentioned, replied = await asyncio.gather(
        loaders.edit_history.load_many([row.id for row in rows]),
        loaders.users_by_handle.load_many(handles),
        loaders.tweets.load_many(reply_ids),
    )
    mentioned_users = {
        handle: gql_users.User.from_row(row)
        for handle, row in zip(handles, mentioned, strict=True)
        if row is not None
    }
    authors = {tweet.author.raw_id: tweet.author for tweet in every.values()}
    shaped_users = {
        shaped["id"]: shaped
        for shaped in await users(call, [*authors.values(), *mentioned_users.values()])
    }
    history = dict(zip(every, histories, strict=True))
    existing = {row.id for row in replied if row is not None}

    def shape(tweet: gql_tweets.Tweet) -> Tweet:
        row = tweet.row
        original = tweet.retweet_of
        return {
            "id": str(tweet.id),
            "text": tweet.text,
            "author": shaped_users[str(tweet.author.id)],
            "createdAt": serialize_datetime(tweet.created_at),
            "editedAt": serialize_datetime(tweet.edited_at) if tweet.edited_at else None,
            "editHistory": [
                {"text": version.text, "createdAt": serialize_datetime(version.created_at)}
                for version in history[row.id]
            ],
            "replyTo": (
                {"id": to_global_id("Tweet", row.reply_to_id)}
                if row.reply_to_id in existing
                else None
            ),
            "retweetOf": shape(original) if original is not None else None,
            "hashtags": tweet.hashtags,
            "mentions": [
                shaped_users[str(mentioned_users[handle].id)]
                for handle in row.mentions
                if handle in mentioned_users
            ],
            "likeCount": tweet.like_count,
            "retweetCount": tweet.retweet_count,
            "replyCount": tweet.reply_count,
            "viewerHasLiked": tweet.viewer_has_liked,
            "viewerHasRetweeted": tweet.viewer_has_retweeted,
        }

    return [shape(tweet) for tweet in found]


async def tweet(call: HasContext, found: gql_tweets.Tweet) -> Tweet:
    (shaped,) = await tweets(call, [found])
    return shaped


async def tweet_page(call: HasContext, connection: gql_tweets.TweetConnection) -> TweetPage:
    nodes = await tweets(call, [edge.node for edge in connection.edges])
    return {
        "edges": [
            {"cursor": edge.cursor, "node": node}
            for edge, node in zip(connection.edges, nodes, strict=True)
        ],
        "pageInfo": _page_info(connection.page_info),
        "nextCursor": _next_cursor(connection.page_info),
    }


async def notification_page(
    call: HasContext, connection: gql_notifications.NotificationConnection
) -> NotificationPage:
    found = [edge.node for edge in connection.edges]
    actors = await users(call, [notification.actor for notification in found])
    involved = [notification.tweet for notification in found if notification.tweet is not None]
    shaped_tweets = dict(zip([id(t) for t in involved], await tweets(call, involved), strict=True))
    return {
        "edges": [
            {
                "cursor": edge.cursor,
                "node": {
                    "id": str(edge.node.id),
                    "kind": edge.node.kind.value,
                    "actor": actor,
                    "tweet": shaped_tweets[id(edge.node.tweet)] if edge.node.tweet else None,
                    "createdAt": serialize_datetime(edge.node.created_at),
                    "read": edge.node.read,
                },
            }
            for edge, actor in zip(connection.edges, actors, strict=True)
        ],
        "pageInfo": _page_info(connection.page_info),
        "nextCursor": _next_cursor(connection.page_info),
    }


def _page_info(info: GqlPageInfo) -> PageInfo:
    return {
        "hasNextPage": info.has_next_page,
        "hasPreviousPage": info.has_previous_page,
        "startCursor": info.start_cursor,
        "endCursor": info.end_cursor,
    }


def _next_cursor(info: GqlPageInfo) -> str | None:
    return info.end_cursor if info.has_next_page else None


def _user(found: gql_users.User, viewer_is_following: bool, follows_viewer: bool) -> User:
    return {
        "id": str(found.id),
        "handle": found.handle,
        "displayName": found.display_name,
        "bio": found.bio,
        "createdAt": serialize_datetime(found.created_at),
        "followerCount": found.follower_count,
        "followingCount": found.following_count,
        "tweetCount": found.tweet_count,
        "viewerIsFollowing": viewer_is_following,
        "followsViewer": follows_viewer,
    }

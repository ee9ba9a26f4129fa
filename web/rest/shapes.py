"""What the REST API answers: the GraphQL types as JSON, with the same field names and ids.

Built from the same views the GraphQL types are (views/); the fields that GraphQL resolves
lazily (edit history, mentions, viewer flags) are read through the same loaders, each kind in
one batch. A list is the resources themselves, `{"data": [...], "nextCursor": ...}`
(CONTRACT.md, "REST lists").
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict

from core.config import Settings
from core.ids import to_global_id
from media.storage import public_url
from schema.context import Context
from schema.scalars import serialize_datetime
from services.notifications import KINDS
from views.notifications import NotificationView
from views.pages import Listed
from views.tweets import TweetView

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


class Media(TypedDict):
    """An image, as GraphQL's `Media`: processed, stripped of its metadata."""

    id: Annotated[str, Field(description="The image's opaque global id, as in GraphQL.")]
    url: Annotated[
        str, Field(description="Where the image is served; absolute, or relative to the API.")
    ]
    previewUrl: Annotated[str, Field(description="At most 400 pixels on its longer side.")]
    width: int
    height: int
    contentType: Annotated[str, Field(description="image/jpeg, image/png or image/webp.")]
    alt: Annotated[str, Field(description="Empty when none was given.")]
    blurhash: Annotated[str, Field(description="A BlurHash, for a placeholder.")]


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
    media: Annotated[
        list[Media], Field(description="The images in order; a plain retweet, the original's.")
    ]


class TweetList(TypedDict):
    """Tweets, and the cursor of the next page."""

    data: list[Tweet]
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
                "enum": list(KINDS),
            }
        ),
    ]
    actor: User
    tweet: Annotated[Tweet | None, Field(description="Null for FOLLOW.")]
    createdAt: Timestamp
    read: bool


class NotificationList(TypedDict):
    """The viewer's notifications, and the cursor of the next page."""

    data: list[Notification]
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


async def users(context: Context, rows: list[Any]) -> list[User]:
    loaders = context.loaders
    keys = [row.id for row in rows]
    following, follower = await asyncio.gather(
        loaders.viewer_follows.load_many(keys), loaders.follows_viewer.load_many(keys)
    )
    return [
        _user(row, viewer_is_following, follows_viewer)
        for row, viewer_is_following, follows_viewer in zip(rows, following, follower, strict=True)
    ]


async def user(context: Context, row: Any) -> User:
    (shaped,) = await users(context, [row])
    return shaped


async def tweets(context: Context, found: list[TweetView]) -> list[Tweet]:
    originals = [view.original for view in found if view.original is not None]
    every = {view.row.id: view for view in [*found, *originals]}
    rows = [view.row for view in every.values()]
    loaders = context.loaders
    handles = sorted({handle for row in rows for handle in row.mentions})
    reply_ids = sorted({row.reply_to_id for row in rows if row.reply_to_id is not None})
    histories, mentioned, replied = await asyncio.gather(
        loaders.edit_history.load_many([row.id for row in rows]),
        loaders.users_by_handle.load_many(handles),
        loaders.tweets.load_many(reply_ids),
    )
    mentioned_rows = {
        handle: row for handle, row in zip(handles, mentioned, strict=True) if row is not None
    }
    people = {view.author.id: view.author for view in every.values()}
    people |= {row.id: row for row in mentioned_rows.values()}
    shaped_users = dict(zip(people, await users(context, list(people.values())), strict=True))
    history = dict(zip(every, histories, strict=True))
    existing = {row.id for row in replied if row is not None}

    def shape(view: TweetView) -> Tweet:
        row = view.row
        return {
            "id": to_global_id("Tweet", row.id),
            "text": row.text,
            "author": shaped_users[view.author.id],
            "createdAt": serialize_datetime(row.created_at),
            "editedAt": serialize_datetime(row.edited_at) if row.edited_at else None,
            "editHistory": [
                {"text": version.text, "createdAt": serialize_datetime(version.created_at)}
                for version in history[row.id]
            ],
            "replyTo": (
                {"id": to_global_id("Tweet", row.reply_to_id)}
                if row.reply_to_id in existing
                else None
            ),
            "retweetOf": shape(view.original) if view.original is not None else None,
            "hashtags": list(row.hashtags),
            "mentions": [
                shaped_users[mentioned_rows[handle].id]
                for handle in row.mentions
                if handle in mentioned_rows
            ],
            "likeCount": row.like_count,
            "retweetCount": row.retweet_count,
            "replyCount": row.reply_count,
            "viewerHasLiked": view.liked,
            "viewerHasRetweeted": view.retweeted,
            "media": [media(context.settings, image) for image in view.shown_media],
        }

    return [shape(view) for view in found]


def media(settings: Settings, row: Any) -> Media:
    return {
        "id": to_global_id("Media", row.id),
        "url": public_url(settings, row.key),
        "previewUrl": public_url(settings, row.preview_key),
        "width": row.width,
        "height": row.height,
        "contentType": row.content_type,
        "alt": row.alt,
        "blurhash": row.blurhash,
    }


async def tweet(context: Context, found: TweetView) -> Tweet:
    (shaped,) = await tweets(context, [found])
    return shaped


async def tweet_list(context: Context, listed: Listed[TweetView]) -> TweetList:
    found = [view for _, view in listed.entries]
    return {"data": await tweets(context, found), "nextCursor": listed.next_cursor}


async def notification_list(context: Context, listed: Listed[NotificationView]) -> NotificationList:
    found = [view for _, view in listed.entries]
    actors = await users(context, [view.actor for view in found])
    about = [view.tweet for view in found if view.tweet is not None]
    shaped = dict(zip([id(t) for t in about], await tweets(context, about), strict=True))
    return {
        "data": [
            {
                "id": to_global_id("Notification", view.row.id),
                "kind": view.row.kind,
                "actor": actor,
                "tweet": shaped[id(view.tweet)] if view.tweet is not None else None,
                "createdAt": serialize_datetime(view.row.created_at),
                "read": view.row.read,
            }
            for view, actor in zip(found, actors, strict=True)
        ],
        "nextCursor": listed.next_cursor,
    }


def _user(row: Any, viewer_is_following: bool, follows_viewer: bool) -> User:
    return {
        "id": to_global_id("User", row.id),
        "handle": row.handle,
        "displayName": row.display_name,
        "bio": row.bio,
        "createdAt": serialize_datetime(row.created_at),
        "followerCount": row.follower_count,
        "followingCount": row.following_count,
        "tweetCount": row.tweet_count,
        "viewerIsFollowing": viewer_is_following,
        "followsViewer": follows_viewer,
    }

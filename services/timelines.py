"""Read paths: the pages of tweets and users that connections show."""

from __future__ import annotations

from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.pagination import Keyset, Page
from models import Follow, Like, Tweet

TWEETS = "tweet"  # a cursor keyed by tweet id: shared by every list of tweets in time order
LIKES = "like"
FOLLOWS = "follow"


_OWNER = bindparam("owner", type_=BigInteger)
_USER_TWEETS = Keyset(
    select(Tweet.id, Tweet.id).where(Tweet.author_id == _OWNER), key=Tweet.id, scope=TWEETS
)
_REPLIES = Keyset(
    select(Tweet.id, Tweet.id).where(Tweet.reply_to_id == _OWNER),
    key=Tweet.id,
    scope=TWEETS,
    ascending=True,
)
_QUOTES = Keyset(
    select(Tweet.id, Tweet.id).where(Tweet.quote_of_id == _OWNER), key=Tweet.id, scope=TWEETS
)
_USER_LIKES = Keyset(
    select(Like.id, Like.tweet_id).where(Like.user_id == _OWNER), key=Like.id, scope=LIKES
)
_FOLLOWERS = Keyset(
    select(Follow.id, Follow.follower_id).where(Follow.followee_id == _OWNER),
    key=Follow.id,
    scope=FOLLOWS,
)
_FOLLOWING = Keyset(
    select(Follow.id, Follow.followee_id).where(Follow.follower_id == _OWNER),
    key=Follow.id,
    scope=FOLLOWS,
)


async def user_tweets(
    connection: AsyncConnection, *, user_id: int, first: int | None, after: str | None
) -> Page:
    return await _USER_TWEETS.page(connection, first=first, after=after, owner=user_id)


async def replies(
    connection: AsyncConnection, *, tweet_id: int, first: int | None, after: str | None
) -> Page:
    return await _REPLIES.page(connection, first=first, after=after, owner=tweet_id)


async def quotes(
    connection: AsyncConnection, *, tweet_id: int, first: int | None, after: str | None
) -> Page:
    return await _QUOTES.page(connection, first=first, after=after, owner=tweet_id)


async def user_likes(
    connection: AsyncConnection, *, user_id: int, first: int | None, after: str | None
) -> Page:
    return await _USER_LIKES.page(connection, first=first, after=after, owner=user_id)


async def followers(
    connection: AsyncConnection, *, user_id: int, first: int | None, after: str | None
) -> Page:
    return await _FOLLOWERS.page(connection, first=first, after=after, owner=user_id)


async def following(
    connection: AsyncConnection, *, user_id: int, first: int | None, after: str | None
) -> Page:
    return await _FOLLOWING.page(connection, first=first, after=after, owner=user_id)

"""Read paths: the pages of tweets and users that connections show."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.pagination import Page, keyset_page
from models import Follow, Like, Tweet

TWEETS = "tweet"  # a cursor keyed by tweet id: shared by every list of tweets in time order
LIKES = "like"
FOLLOWS = "follow"


async def user_tweets(
    connection: AsyncConnection, *, user_id: int, first: int | None, after: str | None
) -> Page:
    query = select(Tweet.id, Tweet.id).where(Tweet.author_id == user_id)
    return await keyset_page(
        connection, query, key=Tweet.id, scope=TWEETS, first=first, after=after
    )


async def replies(
    connection: AsyncConnection, *, tweet_id: int, first: int | None, after: str | None
) -> Page:
    query = select(Tweet.id, Tweet.id).where(Tweet.reply_to_id == tweet_id)
    return await keyset_page(
        connection, query, key=Tweet.id, scope=TWEETS, first=first, after=after, ascending=True
    )


async def quotes(
    connection: AsyncConnection, *, tweet_id: int, first: int | None, after: str | None
) -> Page:
    query = select(Tweet.id, Tweet.id).where(Tweet.quote_of_id == tweet_id)
    return await keyset_page(
        connection, query, key=Tweet.id, scope=TWEETS, first=first, after=after
    )


async def user_likes(
    connection: AsyncConnection, *, user_id: int, first: int | None, after: str | None
) -> Page:
    query = select(Like.id, Like.tweet_id).where(Like.user_id == user_id)
    return await keyset_page(connection, query, key=Like.id, scope=LIKES, first=first, after=after)


async def followers(
    connection: AsyncConnection, *, user_id: int, first: int | None, after: str | None
) -> Page:
    query = select(Follow.id, Follow.follower_id).where(Follow.followee_id == user_id)
    return await keyset_page(
        connection, query, key=Follow.id, scope=FOLLOWS, first=first, after=after
    )


async def following(
    connection: AsyncConnection, *, user_id: int, first: int | None, after: str | None
) -> Page:
    query = select(Follow.id, Follow.followee_id).where(Follow.follower_id == user_id)
    return await keyset_page(
        connection, query, key=Follow.id, scope=FOLLOWS, first=first, after=after
    )

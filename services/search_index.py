"""What Meilisearch's indexes hold, read from the database: tweets (retweets have no text of
their own, so they are left out) and users. The outbox jobs and `make reindex` write through
here; PostgreSQL needs none of it (its search column follows the text by itself)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from models import Tweet, User
from services.meili import TWEET_INDEX, USER_INDEX, Document, Meili, split_id

State: TypeAlias = tuple[list[Document], list[int]]  # documents to put, ids to delete
Read: TypeAlias = Callable[[AsyncConnection, list[int]], Awaitable[State]]
_SYNC_ROUNDS = 3
_TWEET_COLUMNS = (Tweet.id, Tweet.author_id, Tweet.text, Tweet.hashtags, Tweet.mentions)
_USER_COLUMNS = (User.id, User.handle, User.display_name)


class ChangingTooFast(RuntimeError):
    """Documents changed again every time they were sent: the job is retried later."""


def _tweet(row: Any) -> Document:
    high, low = split_id(row.id)
    return {
        "id": str(row.id),
        "text": row.text,
        "author_id": str(row.author_id),
        "hashtags": list(row.hashtags),
        "mentions": list(row.mentions),
        "id_high": high,
        "id_low": low,
    }


def _user(row: Any) -> Document:
    return {"id": str(row.id), "handle": row.handle, "display_name": row.display_name}


async def tweets_after(connection: AsyncConnection, *, after: int, limit: int) -> list[Document]:
    """The next `limit` tweets by id, for a rebuild."""
    rows = await connection.execute(
        select(*_TWEET_COLUMNS)
        .where(Tweet.id > after, Tweet.retweet_of_id.is_(None))
        .order_by(Tweet.id)
        .limit(limit)
    )
    return [_tweet(row) for row in rows]


async def users_after(connection: AsyncConnection, *, after: int, limit: int) -> list[Document]:
    rows = await connection.execute(
        select(*_USER_COLUMNS).where(User.id > after).order_by(User.id).limit(limit)
    )
    return [_user(row) for row in rows]


async def count_tweets(connection: AsyncConnection, *, after: int) -> int:
    found = select(func.count()).where(Tweet.id > after, Tweet.retweet_of_id.is_(None))
    return int(await connection.scalar(found) or 0)


async def count_users(connection: AsyncConnection, *, after: int) -> int:
    return int(await connection.scalar(select(func.count()).where(User.id > after)) or 0)


async def sync_tweets(connection: AsyncConnection, meili: Meili, tweet_ids: list[int]) -> None:
    """Puts these tweets as they are now in the index, and takes out those deleted."""
    await _sync(connection, meili, TWEET_INDEX, tweet_ids, _tweet_state)


async def sync_users(connection: AsyncConnection, meili: Meili, user_ids: list[int]) -> None:
    await _sync(connection, meili, USER_INDEX, user_ids, _user_state)


async def _sync(
    connection: AsyncConnection, meili: Meili, index: str, ids: list[int], read: Read
) -> None:
    """Sends the current state, then reads it again and sends again if it changed meanwhile:
    jobs of two quick edits run in any order, and one that read the older text must not be
    the last to write (Meilisearch applies writes in the order it receives them)."""
    state = await read(connection, ids)
    for _ in range(_SYNC_ROUNDS):
        documents, gone = state
        await meili.put(index, documents)
        await meili.delete(index, gone)
        latest = await read(connection, ids)
        if latest == state:
            return
        state = latest
    raise ChangingTooFast(f"{index} {ids} changed {_SYNC_ROUNDS} times while being indexed")


async def _tweet_state(connection: AsyncConnection, ids: list[int]) -> State:
    rows = (
        await connection.execute(
            select(*_TWEET_COLUMNS, Tweet.retweet_of_id).where(Tweet.id.in_(ids))
        )
    ).all()
    present = {row.id for row in rows}
    documents = [_tweet(row) for row in rows if row.retweet_of_id is None]
    return sorted(documents, key=lambda d: d["id"]), sorted(set(ids) - present)


async def _user_state(connection: AsyncConnection, ids: list[int]) -> State:
    rows = (await connection.execute(select(*_USER_COLUMNS).where(User.id.in_(ids)))).all()
    documents = sorted((_user(row) for row in rows), key=lambda d: d["id"])
    return documents, sorted(set(ids) - {row.id for row in rows})

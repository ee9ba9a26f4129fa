"""Per-request DataLoaders: each batch is one SQL statement, results in key order.

The statements are built once, with the keys bound as one PostgreSQL array (`= ANY(:keys)`),
so a batch of any size reuses one compiled, prepared statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Row, Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import Executable
from strawberry.dataloader import DataLoader

from core.db import RequestReads
from core.text import HANDLE_RE
from models import Follow, Like, Tweet, TweetVersion, User

_IDS = bindparam("keys", type_=ARRAY(BigInteger))
_VIEWER = bindparam("viewer", type_=BigInteger)
USER_COLUMNS = (
    User.id,
    User.handle,
    User.display_name,
    User.bio,
    User.created_at,
    User.follower_count,
    User.following_count,
    User.tweet_count,
)
_USERS = select(*USER_COLUMNS).where(User.id == any_(_IDS))
_USERS_BY_HANDLE = select(*USER_COLUMNS).where(
    func.lower(User.handle) == any_(bindparam("keys", type_=ARRAY(Text)))
)
_TWEETS = select(*Tweet.__table__.columns).where(Tweet.id == any_(_IDS))
_EDIT_HISTORY = (
    select(TweetVersion.tweet_id, TweetVersion.text, TweetVersion.created_at)
    .where(TweetVersion.tweet_id == any_(_IDS))
    .order_by(TweetVersion.id)
)
_VIEWER_LIKES = select(Like.tweet_id).where(Like.user_id == _VIEWER, Like.tweet_id == any_(_IDS))
_VIEWER_RETWEETS = select(Tweet.retweet_of_id).where(
    Tweet.author_id == _VIEWER, Tweet.retweet_of_id == any_(_IDS)
)
_VIEWER_FOLLOWS = select(Follow.followee_id).where(
    Follow.follower_id == _VIEWER, Follow.followee_id == any_(_IDS)
)
_FOLLOWS_VIEWER = select(Follow.follower_id).where(
    Follow.followee_id == _VIEWER, Follow.follower_id == any_(_IDS)
)


class Loaders:
    """Built per request (per operation on a WebSocket), so nothing cached goes stale."""

    def __init__(self, reads: RequestReads, viewer_id: int | None) -> None:
        self._reads = reads
        self.viewer_id = viewer_id
        self.users: DataLoader[int, Row[Any] | None] = DataLoader(self._users)
        self.users_by_handle: DataLoader[str, Row[Any] | None] = DataLoader(self._users_by_handle)
        self.tweets: DataLoader[int, Row[Any] | None] = DataLoader(self._tweets)
        self.edit_history: DataLoader[int, list[Row[Any]]] = DataLoader(self._edit_history)
        self.viewer_likes: DataLoader[int, bool] = DataLoader(self._flags(_VIEWER_LIKES))
        self.viewer_retweets: DataLoader[int, bool] = DataLoader(self._flags(_VIEWER_RETWEETS))
        self.viewer_follows: DataLoader[int, bool] = DataLoader(self._flags(_VIEWER_FOLLOWS))
        self.follows_viewer: DataLoader[int, bool] = DataLoader(self._flags(_FOLLOWS_VIEWER))

    async def _rows(self, query: Executable, **params: Any) -> Sequence[Row[Any]]:
        async with self._reads.connection() as connection:
            rows: Sequence[Row[Any]] = (await connection.execute(query, params)).all()
            return rows

    async def _users(self, keys: list[int]) -> list[Row[Any] | None]:
        by_id = {row.id: row for row in await self._rows(_USERS, keys=keys)}
        return [by_id.get(key) for key in keys]

    async def _users_by_handle(self, keys: list[str]) -> list[Row[Any] | None]:
        lowered = [key.lower() for key in keys]
        valid = [key for key in lowered if HANDLE_RE.match(key)]
        rows = await self._rows(_USERS_BY_HANDLE, keys=valid)
        by_handle = {row.handle.lower(): row for row in rows}
        for row in rows:
            self.users.prime(row.id, row)
        return [by_handle.get(key) for key in lowered]

    async def _tweets(self, keys: list[int]) -> list[Row[Any] | None]:
        by_id = {row.id: row for row in await self._rows(_TWEETS, keys=keys)}
        return [by_id.get(key) for key in keys]

    async def _edit_history(self, keys: list[int]) -> list[list[Row[Any]]]:
        history: dict[int, list[Row[Any]]] = {key: [] for key in keys}
        for row in await self._rows(_EDIT_HISTORY, keys=keys):
            history[row.tweet_id].append(row)
        return [history[key] for key in keys]

    def _flags(self, query: Executable) -> Any:
        """A batch function: for each key, whether `query` (viewer, keys) returns it."""

        async def load(keys: list[int]) -> list[bool]:
            if self.viewer_id is None:
                return [False] * len(keys)
            rows = await self._rows(query, viewer=self.viewer_id, keys=keys)
            found = {row[0] for row in rows}
            return [key in found for key in keys]

        return load

"""Per-request DataLoaders: each batch is one SQL statement, results in key order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Executable, Row, Select, func, select
from strawberry.dataloader import DataLoader

from core.db import Database
from core.text import HANDLE_RE
from models import Follow, Like, Tweet, TweetVersion, User

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
TWEET_COLUMNS = tuple(column for column in Tweet.__table__.columns)


class Loaders:
    """Built per request (per operation on a WebSocket), so nothing cached goes stale."""

    def __init__(self, db: Database, viewer_id: int | None) -> None:
        self._db = db
        self.viewer_id = viewer_id
        self.users: DataLoader[int, Row[Any] | None] = DataLoader(self._users)
        self.users_by_handle: DataLoader[str, Row[Any] | None] = DataLoader(self._users_by_handle)
        self.tweets: DataLoader[int, Row[Any] | None] = DataLoader(self._tweets)
        self.edit_history: DataLoader[int, list[Row[Any]]] = DataLoader(self._edit_history)
        self.viewer_likes: DataLoader[int, bool] = DataLoader(self._viewer_likes)
        self.viewer_retweets: DataLoader[int, bool] = DataLoader(self._viewer_retweets)
        self.viewer_follows: DataLoader[int, bool] = DataLoader(self._viewer_follows)
        self.follows_viewer: DataLoader[int, bool] = DataLoader(self._follows_viewer)

    async def _rows(self, query: Executable) -> Sequence[Row[Any]]:
        async with self._db.read() as connection:
            return (await connection.execute(query)).all()

    async def _users(self, keys: list[int]) -> list[Row[Any] | None]:
        rows = await self._rows(select(*USER_COLUMNS).where(User.id.in_(keys)))
        by_id = {row.id: row for row in rows}
        return [by_id.get(key) for key in keys]

    async def _users_by_handle(self, keys: list[str]) -> list[Row[Any] | None]:
        lowered = [key.lower() for key in keys]
        valid = [key for key in lowered if HANDLE_RE.match(key)]
        rows = await self._rows(select(*USER_COLUMNS).where(func.lower(User.handle).in_(valid)))
        by_handle = {row.handle.lower(): row for row in rows}
        for row in rows:
            self.users.prime(row.id, row)
        return [by_handle.get(key) for key in lowered]

    async def _tweets(self, keys: list[int]) -> list[Row[Any] | None]:
        rows = await self._rows(select(*TWEET_COLUMNS).where(Tweet.id.in_(keys)))
        by_id = {row.id: row for row in rows}
        return [by_id.get(key) for key in keys]

    async def _edit_history(self, keys: list[int]) -> list[list[Row[Any]]]:
        rows = await self._rows(
            select(TweetVersion.tweet_id, TweetVersion.text, TweetVersion.created_at)
            .where(TweetVersion.tweet_id.in_(keys))
            .order_by(TweetVersion.id)
        )
        history: dict[int, list[Row[Any]]] = {key: [] for key in keys}
        for row in rows:
            history[row.tweet_id].append(row)
        return [history[key] for key in keys]

    async def _viewer_likes(self, keys: list[int]) -> list[bool]:
        return await self._flags(
            keys,
            select(Like.tweet_id).where(Like.user_id == self.viewer_id, Like.tweet_id.in_(keys)),
        )

    async def _viewer_retweets(self, keys: list[int]) -> list[bool]:
        return await self._flags(
            keys,
            select(Tweet.retweet_of_id).where(
                Tweet.author_id == self.viewer_id, Tweet.retweet_of_id.in_(keys)
            ),
        )

    async def _viewer_follows(self, keys: list[int]) -> list[bool]:
        return await self._flags(
            keys,
            select(Follow.followee_id).where(
                Follow.follower_id == self.viewer_id, Follow.followee_id.in_(keys)
            ),
        )

    async def _follows_viewer(self, keys: list[int]) -> list[bool]:
        return await self._flags(
            keys,
            select(Follow.follower_id).where(
                Follow.followee_id == self.viewer_id, Follow.follower_id.in_(keys)
            ),
        )

    async def _flags(self, keys: list[int], query: Select[Any]) -> list[bool]:
        if self.viewer_id is None:
            return [False] * len(keys)
        found = {row[0] for row in await self._rows(query)}
        return [key in found for key in keys]

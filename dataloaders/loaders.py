"""Per-request DataLoaders: each batch is one Redis read, and one SQL statement for misses.

Tweets, users and the viewer's flags are read through the Redis cache (services/cache.py);
edit histories and users by handle from the database. The statements are built once, with the
keys bound as one PostgreSQL array (`= ANY(:keys)`), so a batch of any size reuses one compiled,
prepared statement.
"""

from __future__ import annotations

import itertools
from collections import namedtuple
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import (
    BigInteger,
    DateTime,
    Row,
    Text,
    any_,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import CompoundSelect, Executable

from core.db import RequestReads
from core.text import is_handle
from dataloaders.batch import Loader
from models import Bookmark, Follow, Like, Media, Notification, Tweet, TweetVersion, User
from services import cache
from views.safety import SAFETY_ROWS, Safety


class Fill(Protocol):
    """Values of keys from the database; `primary`: there, not on a replica."""

    def __call__(self, keys: list[Any], primary: bool = ...) -> Awaitable[list[Any]]: ...


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
    User.suspended_at,
    User.pinned_tweet_id,
)
_USERS = select(*USER_COLUMNS).where(User.id == any_(_IDS))
_USERS_BY_HANDLE = select(*USER_COLUMNS).where(
    func.lower(User.handle) == any_(bindparam("keys", type_=ARRAY(Text)))
)
# what readers see of a tweet (its live position is the subscriptions' own: services/live.py)
TWEET_COLUMNS = [c for c in Tweet.__table__.columns if c.key not in ("search", "position")]
_TWEETS = select(*TWEET_COLUMNS).where(Tweet.id == any_(_IDS))
MEDIA_COLUMNS = list(Media.__table__.columns)
_MEDIA = select(*MEDIA_COLUMNS).where(Media.id == any_(_IDS))
_TWEET_MEDIA = select(*MEDIA_COLUMNS).where(Media.tweet_id == any_(_IDS)).order_by(Media.position)
_NOTIFICATIONS = select(*Notification.__table__.columns).where(Notification.id == any_(_IDS))
_EDIT_HISTORY = (
    select(TweetVersion.tweet_id, TweetVersion.text, TweetVersion.created_at)
    .where(TweetVersion.tweet_id == any_(_IDS))
    .order_by(TweetVersion.id)
)
_VIEWER_LIKES = select(Like.tweet_id).where(Like.user_id == _VIEWER, Like.tweet_id == any_(_IDS))
_VIEWER_RETWEETS = select(Tweet.retweet_of_id).where(
    Tweet.author_id == _VIEWER, Tweet.retweet_of_id == any_(_IDS)
)
_VIEWER_BOOKMARKS = select(Bookmark.tweet_id).where(
    Bookmark.user_id == _VIEWER, Bookmark.tweet_id == any_(_IDS)
)
_VIEWER_FOLLOWS = select(Follow.followee_id).where(
    Follow.follower_id == _VIEWER, Follow.followee_id == any_(_IDS)
)
_FOLLOWS_VIEWER = select(Follow.follower_id).where(
    Follow.followee_id == _VIEWER, Follow.follower_id == any_(_IDS)
)


class RowCodec:
    """Rows of some columns as JSON lists for the cache, and back as named tuples."""

    def __init__(self, name: str, columns: Sequence[Any]) -> None:
        self.row = namedtuple(name, [column.key for column in columns])  # type: ignore[misc]
        self._times = [i for i, c in enumerate(columns) if isinstance(c.type, DateTime)]
        self.decoded = cache.Decoded(self.decode)  # rows read from the cache, kept decoded

    def encode(self, row: Row[Any] | None) -> list[Any] | None:
        if row is None:
            return None
        values = list(row)
        for i in self._times:
            values[i] = values[i] and values[i].isoformat()
        return values

    def decode(self, values: list[Any] | None) -> Any:
        if values is None:
            return None
        for i in self._times:
            values[i] = values[i] and datetime.fromisoformat(values[i])
        return self.row(*values)


USER_ROWS = RowCodec("UserRow", USER_COLUMNS)
TWEET_ROWS = RowCodec("TweetRow", TWEET_COLUMNS)
MEDIA_ROWS = RowCodec("MediaRow", MEDIA_COLUMNS)
# each tweet's images, in order, as one cached value
_MEDIA_LISTS = cache.Decoded(lambda rows: tuple(MEDIA_ROWS.decode(row) for row in rows))


class Loaders:
    """Built per request (per event on a WebSocket), so nothing they hold goes stale."""

    def __init__(
        self, reads: RequestReads, redis: aioredis.Redis, viewer_id: int | None, *, ttl: int
    ) -> None:
        self._reads = reads
        self._redis = redis
        self._ttl = ttl
        self.viewer_id = viewer_id

    # each built on first use: a subscription event builds a fresh set and uses few
    @cached_property
    def users(self) -> Loader[int, Any]:
        return Loader(self._rows_of(cache.USER, _USERS, USER_ROWS))

    @cached_property
    def users_by_handle(self) -> Loader[str, Row[Any] | None]:
        return Loader(self._users_by_handle)

    @cached_property
    def tweets(self) -> Loader[int, Any]:
        return Loader(self._rows_of(cache.TWEET, _TWEETS, TWEET_ROWS))

    @cached_property
    def media(self) -> Loader[int, Row[Any] | None]:
        """Images by id, from the database (updateMediaAlt changes them; node(id) reads few)."""
        return Loader(self._media)

    @cached_property
    def tweet_media(self) -> Loader[int, tuple[Any, ...]]:
        """Each tweet's images in order (MediaRows), through the cache: the same for everyone."""
        return Loader(self._tweet_media)

    @cached_property
    def edit_history(self) -> Loader[int, list[Row[Any]]]:
        return Loader(self._edit_history)

    @cached_property
    def notifications(self) -> Loader[int, Row[Any] | None]:
        return Loader(self._notifications)

    @cached_property
    def safety(self) -> Loader[int, Safety]:
        """The viewer's blocks, mutes and muted words (views/safety.py), one read a request."""
        return Loader(self._safety)

    @cached_property
    def viewer_likes(self) -> Loader[int, bool]:
        return self._flags(cache.LIKED, _VIEWER_LIKES)

    @cached_property
    def viewer_retweets(self) -> Loader[int, bool]:
        return self._flags(cache.RETWEETED, _VIEWER_RETWEETS)

    @cached_property
    def viewer_bookmarks(self) -> Loader[int, bool]:
        return self._flags(cache.BOOKMARKED, _VIEWER_BOOKMARKS)

    @cached_property
    def viewer_follows(self) -> Loader[int, bool]:
        return self._flags(cache.FOLLOWING, _VIEWER_FOLLOWS)

    @cached_property
    def follows_viewer(self) -> Loader[int, bool]:
        return self._flags(cache.FOLLOWED_BY, _FOLLOWS_VIEWER)

    async def _rows(
        self, query: Executable, *, primary: bool = False, **params: Any
    ) -> Sequence[Row[Any]]:
        async def read(connection: AsyncConnection) -> Sequence[Row[Any]]:
            return (await connection.execute(query, params)).all()

        return await self._reads.run(read, primary=primary)

    async def _cached(
        self, kind: str, keys: list[Any], load: Fill, decoded: cache.Decoded | None = None
    ) -> list[Any]:
        """Through the cache; a key written recently is filled from the primary when reads go
        to replicas (services/cache.py)."""

        async def fresh(missing: list[Any]) -> list[Any]:
            return await load(missing, primary=True)

        try:
            return await cache.read_through(
                self._redis,
                kind,
                keys,
                load,
                ttl=self._ttl,
                load_fresh=fresh if self._reads.replicated else None,
                decoded=decoded,
            )
        except RedisError:  # Redis down: the database answers alone
            values = await load(keys)
            return values if decoded is None else [decoded.decode(value) for value in values]

    def _rows_of(self, kind: str, query: Executable, codec: RowCodec) -> Any:
        """A batch function: rows by id, through the cache."""

        async def from_database(keys: list[int], primary: bool = False) -> list[list[Any] | None]:
            by_id = {row.id: row for row in await self._rows(query, primary=primary, keys=keys)}
            missing = [key for key in keys if key not in by_id]
            if missing and not primary and self._reads.replicated:
                # perhaps too new for the replica (a tweet fanned out a moment ago): a row it
                # lacks is asked of the primary, rather than kept in the cache as gone
                rows = await self._rows(query, primary=True, keys=missing)
                by_id.update((row.id, row) for row in rows)
            return [codec.encode(by_id.get(key)) for key in keys]

        async def load(keys: list[int]) -> list[Any]:
            return await self._cached(kind, keys, from_database, codec.decoded)

        return load

    async def _users_by_handle(self, keys: list[str]) -> list[Row[Any] | None]:
        """Users by handle: the handle's id from the cache (handles never change), then the
        user through the cache of users; a handle not known there (or known wrong: a cache
        that outlived its database) from the database, whose ids are kept for the next."""
        lowered = [key.lower() for key in keys]
        valid = list(dict.fromkeys(key for key in lowered if is_handle(key)))
        try:
            ids = await cache.known(self._redis, cache.HANDLE, valid)
        except RedisError:
            ids = {}
        users = await self.users.load_many(list(ids.values()))
        by_handle = {  # those whose row agrees with the id held
            row.handle.lower(): row
            for row in users
            if row is not None and ids.get(row.handle.lower()) == row.id
        }
        unknown = [key for key in valid if key not in by_handle]
        if unknown:
            rows = await self._rows(_USERS_BY_HANDLE, keys=unknown)
            for row in rows:
                by_handle[row.handle.lower()] = row
                self.users.prime(row.id, row)
            try:
                found = {row.handle.lower(): row.id for row in rows}
                await cache.keep(self._redis, cache.HANDLE, found, ttl=self._ttl)
            except RedisError:
                pass  # read from the database next time too
        return [by_handle.get(key) for key in lowered]

    async def _safety(self, keys: list[int]) -> list[Safety]:
        async def from_database(keys: list[int], primary: bool = False) -> list[Any]:
            rows = await self._rows(SAFETY_ROWS, primary=primary, viewers=keys)
            return [safety.encode() for safety in Safety.of_each(keys, rows)]

        return [
            Safety.decode(value) for value in await self._cached(cache.SAFETY, keys, from_database)
        ]

    async def _notifications(self, keys: list[int]) -> list[Row[Any] | None]:
        """Not cached: their read flags change with every markNotificationsRead."""
        by_id = {row.id: row for row in await self._rows(_NOTIFICATIONS, keys=keys)}
        return [by_id.get(key) for key in keys]

    async def _media(self, keys: list[int]) -> list[Row[Any] | None]:
        by_id = {row.id: row for row in await self._rows(_MEDIA, keys=keys)}
        return [by_id.get(key) for key in keys]

    async def _tweet_media(self, keys: list[int]) -> list[tuple[Any, ...]]:
        async def from_database(keys: list[int], primary: bool = False) -> list[list[Any]]:
            # on the primary with replicas: a replica that lacks a new tweet would have its
            # images kept as none (an empty list is no sign that it is too new)
            primary = primary or self._reads.replicated
            found: dict[int, list[Any]] = {key: [] for key in keys}
            for row in await self._rows(_TWEET_MEDIA, primary=primary, keys=keys):
                found[row.tweet_id].append(MEDIA_ROWS.encode(row))
            return [found[key] for key in keys]

        return await self._cached(cache.TWEET_MEDIA, keys, from_database, _MEDIA_LISTS)

    async def _edit_history(self, keys: list[int]) -> list[list[Row[Any]]]:
        history: dict[int, list[Row[Any]]] = {key: [] for key in keys}
        for row in await self._rows(_EDIT_HISTORY, keys=keys):
            history[row.tweet_id].append(row)
        return [history[key] for key in keys]

    def _flags(self, kind: str, query: Executable) -> Loader[int, bool]:
        """For each key, whether `query` (viewer, keys) returns it: the viewer's flags."""
        viewer_id = self.viewer_id

        async def from_database(keys: list[int], primary: bool = False) -> list[bool]:
            rows = await self._rows(query, primary=primary, viewer=viewer_id, keys=keys)
            found = {row[0] for row in rows}
            return [key in found for key in keys]

        async def load(keys: list[int]) -> list[bool]:
            if viewer_id is None:
                return [False] * len(keys)
            return await self._cached(cache.scoped(kind, viewer_id), keys, from_database)

        return Loader(load)


_BATCHES = itertools.count()


@dataclass(frozen=True)
class SharedRows:
    """What every subscriber of a batch of new tweets needs, read once for all of them: the
    rows, the viewers' flags, and what each viewer must not see."""

    tweets: dict[int, Any]
    users: dict[int, Any]
    liked: set[tuple[int, int]]  # (viewer, tweet)
    retweeted: set[tuple[int, int]]
    safety: dict[int, Safety]  # by viewer
    media: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # by tweet, as for everyone
    batch: int = field(default_factory=lambda: next(_BATCHES))  # tells reads apart
    edges: dict[tuple[Any, ...], Any] = field(default_factory=dict)  # built from them, by flags


_VIEWERS = bindparam("viewers", type_=ARRAY(BigInteger))
# which viewers like (True) or retweeted (False) which tweets: one statement for both flags
_FLAGS: CompoundSelect[Any] = union_all(
    select(
        Like.user_id.label("viewer"), Like.tweet_id.label("tweet"), literal(True).label("like")
    ).where(Like.tweet_id == any_(_IDS), Like.user_id == any_(_VIEWERS)),
    select(Tweet.author_id, Tweet.retweet_of_id, literal(False)).where(
        Tweet.retweet_of_id == any_(_IDS), Tweet.author_id == any_(_VIEWERS)
    ),
)


async def shared_rows(
    reads: RequestReads, redis: aioredis.Redis, tweet_ids: list[int], viewers: set[int], *, ttl: int
) -> SharedRows:
    """The tweets (and what they retweet and quote), their authors, and which viewers like or
    retweeted them: through the cache, plus one statement for the flags, whatever the viewers."""
    loaders = Loaders(reads, redis, None, ttl=ttl)
    tweets = {row.id: row for row in await loaders.tweets.load_many(tweet_ids) if row}
    originals = [row.retweet_of_id for row in tweets.values() if row.retweet_of_id]
    tweets |= {row.id: row for row in await loaders.tweets.load_many(originals) if row}
    quoted = [row.quote_of_id for row in tweets.values() if row.quote_of_id]
    tweets |= {row.id: row for row in await loaders.tweets.load_many(quoted) if row}
    authors = list({row.author_id for row in tweets.values()})
    users = {row.id: row for row in await loaders.users.load_many(authors) if row}
    flags = await loaders._rows(_FLAGS, keys=list(tweets), viewers=list(viewers))
    media = dict(zip(tweets, await loaders.tweet_media.load_many(list(tweets)), strict=True))
    ordered = list(viewers)
    safety = dict(zip(ordered, await loaders.safety.load_many(ordered), strict=True))
    return SharedRows(
        tweets=tweets,
        users=users,
        liked={(row.viewer, row.tweet) for row in flags if row.like},
        retweeted={(row.viewer, row.tweet) for row in flags if not row.like},
        safety=safety,
        media=media,
    )

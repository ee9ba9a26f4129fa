"""Live events for subscriptions: one Redis stream that every API process reads.

Writers append after their commit (`publish`); each API process runs one Hub, which reads the
stream from where it left off (also across a Redis outage, within the stream's length) and
hands each event to the subscriptions it concerns, each through a bounded buffer, so a slow
subscriber never delays the others. The stream is a notice board, not the record: what a
subscription replays (`since`) comes from the database.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import BigInteger, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from core.db import Database
from core.metrics import SUBSCRIPTIONS
from core.tasks import stopping
from models import Follow

log = logging.getLogger("chirp.live")
STREAM = "live:events"
STREAM_LENGTH = 100_000
BUFFER = 256  # events a subscription may fall behind before it is closed
_IDS = ARRAY(BigInteger)
BLOCK_SECONDS = 2  # its client's socket timeout is longer (app.py)
# topics, and the subscriptions they reach
TWEET = "tweet"  # {tweet, author}: home timelines of the author and its followers
NOTIFICATION = "notification"  # {id, recipient}
TWEET_UPDATED = "tweet.updated"  # {tweet}
REVOKED = "revoked"  # {user}: its tokens may have been revoked (password, suspension)
REMOVED = "removed"  # {tweet, author}: gone from the home timelines it was in
AUTHOR_REMOVED = "author.removed"  # {viewer, author}: the author's entries left that timeline
HOME = "home"
HOME_REMOVED = "home.removed"  # what leaves a viewer's home timeline
AUTHOR = "author"  # an item of HOME_REMOVED that names an author, not a tweet

Event = Mapping[str, str | int]
Item = tuple[int, Any]  # an id, and what was read once for every subscriber it goes to
# reads, once per batch, what the subscribers of these tweets need: (tweet ids, viewers)
Prepare = Callable[[list[int], set[int]], Awaitable[Any]]


_hubs: weakref.WeakSet[Hub] = weakref.WeakSet()  # every app's, for the gauge
SUBSCRIPTIONS.set_function(lambda: sum(hub.subscriptions for hub in _hubs))


async def publish(redis: aioredis.Redis, events: Sequence[Event]) -> None:
    if not events:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            fields: dict[Any, Any] = dict(event)
            pipe.xadd(STREAM, fields, maxlen=STREAM_LENGTH, approximate=True)
        await pipe.execute()


class Subscriber:
    """One subscription's buffer, registered with its Hub inside a `with` block. Past BUFFER
    unread events it is `behind`: `on_overflow` runs once (the connection is closed) and
    nothing more is queued. Lighter than an asyncio.Queue (four deques of ~760 bytes each),
    which matters at thousands of idle subscriptions."""

    __slots__ = ("_hub", "key", "_items", "_waiter", "behind", "_on_overflow")

    def __init__(self, hub: Hub, key: tuple[str, int], on_overflow: Callable[[], None]) -> None:
        self._hub = hub
        self.key = key
        self._items: list[Item] = []
        self._waiter: asyncio.Future[None] | None = None
        self.behind = False
        self._on_overflow = on_overflow

    def __enter__(self) -> Subscriber:
        self._hub._add(self)
        return self

    def __exit__(self, *_: object) -> None:
        self._hub._remove(self)

    def offer(self, item: Item) -> None:
        if self.behind:
            return
        if len(self._items) >= BUFFER:
            self.behind = True
            self._on_overflow()
            return
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Item:
        """The oldest unread event, once there is one."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def drop_unread(self) -> None:
        """Forgets the events not read yet (what a coalesced update already covers)."""
        self._items.clear()


class Hub:
    """Reads the live stream for this process's subscriptions (one per app)."""

    def __init__(self, redis: aioredis.Redis, db: Database, prepare: Prepare) -> None:
        self._redis = redis
        self._db = db
        self._prepare = prepare
        self._subscribers: dict[tuple[str, int], set[Subscriber]] = defaultdict(set)
        # viewers with a subscription here that follows their home timeline, by its topic
        self._home: dict[str, set[int]] = {HOME: set(), HOME_REMOVED: set()}
        self._revocations: dict[int, set[Callable[[], None]]] = defaultdict(set)  # by user
        self._last = "$"  # the last entry read: a restarted run() goes on after it
        _hubs.add(self)

    @property
    def subscriptions(self) -> int:
        return sum(len(group) for group in self._subscribers.values())

    def subscribe(self, topic: str, key: int, on_overflow: Callable[[], None]) -> Subscriber:
        """A buffer of the ids of `topic` events for `key` (a viewer, a recipient, a tweet),
        registered while its `with` block runs."""
        return Subscriber(self, (topic, key), on_overflow)

    def on_revocation(self, user_id: int, call: Callable[[], None]) -> Callable[[], None]:
        """Calls `call` whenever the user's tokens may have been revoked; returns the undo."""
        self._revocations[user_id].add(call)

        def undo() -> None:
            calls = self._revocations.get(user_id)
            if calls is not None:
                calls.discard(call)
                if not calls:
                    del self._revocations[user_id]

        return undo

    def _add(self, subscriber: Subscriber) -> None:
        topic, key = subscriber.key
        self._subscribers[subscriber.key].add(subscriber)
        if topic in self._home:
            self._home[topic].add(key)

    def _remove(self, subscriber: Subscriber) -> None:
        topic, key = subscriber.key
        group = self._subscribers[subscriber.key]
        group.discard(subscriber)
        if not group:
            del self._subscribers[subscriber.key]
            if topic in self._home:
                self._home[topic].discard(key)

    async def run(self) -> None:
        """Reads the stream until cancelled: from the events written after it first started,
        and when run again (by its supervisor, app.py), from where it stopped."""
        while not stopping():
            try:
                if self._last == "$":  # where "$" is now: a restart misses nothing after it
                    self._last = await self._newest()
                reply: Any = await self._redis.xread(
                    {STREAM: self._last}, count=1000, block=BLOCK_SECONDS * 1000
                )
            except RedisError:
                log.warning("live events: Redis failed; reading again in a second")
                await asyncio.sleep(1)
                continue
            events = []
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    self._last = _text(entry_id)
                    events.append({_text(k): _text(v) for k, v in fields.items()})
            try:
                await self._route(events)
            except Exception:  # noqa: BLE001 - one bad batch must not end live delivery
                log.exception("live events: could not route %d events", len(events))

    async def _newest(self) -> str:
        newest: Any = await self._redis.xrevrange(STREAM, count=1)
        return _text(newest[0][0]) if newest else "0-0"

    async def _route(self, events: list[dict[str, str]]) -> None:
        tweets: list[tuple[int, int]] = []
        removed: list[tuple[int, int]] = []
        for event in events:
            topic = event.get("topic")
            if topic == TWEET:
                tweets.append((int(event["tweet"]), int(event["author"])))
            elif topic == REMOVED:
                removed.append((int(event["tweet"]), int(event["author"])))
            elif topic == AUTHOR_REMOVED:
                self._offer(HOME_REMOVED, int(event["viewer"]), (int(event["author"]), AUTHOR))
            elif topic == NOTIFICATION:
                self._offer(NOTIFICATION, int(event["recipient"]), (int(event["id"]), None))
            elif topic == TWEET_UPDATED:
                self._offer(TWEET_UPDATED, int(event["tweet"]), (int(event["tweet"]), None))
            elif topic == REVOKED:
                for call in tuple(self._revocations.get(int(event["user"]), ())):
                    call()
        if removed and self._home[HOME_REMOVED]:
            for tweet_id, audience in (await self._audiences(removed, HOME_REMOVED)).items():
                for viewer in audience:
                    self._offer(HOME_REMOVED, viewer, (tweet_id, None))
        if tweets and self._home[HOME]:
            recipients = await self._audiences(tweets, HOME)
            viewers = set().union(*recipients.values())
            if viewers:
                shared = await self._prepare([t for t, _ in tweets], viewers)
                for tweet_id, audience in recipients.items():
                    for viewer in audience:
                        self._offer(HOME, viewer, (tweet_id, shared))

    async def _audiences(self, tweets: list[tuple[int, int]], topic: str) -> dict[int, set[int]]:
        """For each (tweet, author): the viewers subscribed here to `topic` whose home timeline
        has the author's tweets (the author, and its followers)."""
        here = self._home[topic]
        readers = await self._followers_here({author for _, author in tweets}, here)
        return {
            tweet_id: {v for v in readers.get(author, set()) | {author} if v in here}
            for tweet_id, author in tweets
        }

    def _offer(self, topic: str, key: int, item: Item) -> None:
        for subscriber in tuple(self._subscribers.get((topic, key), ())):
            subscriber.offer(item)

    async def _followers_here(self, authors: set[int], here: set[int]) -> dict[int, set[int]]:
        """Which of these viewers follow each author: one statement a batch."""
        query = (
            select(Follow.followee_id, func.array_agg(Follow.follower_id))
            .where(
                Follow.followee_id == any_(bindparam("authors", list(authors), _IDS)),
                Follow.follower_id == any_(bindparam("viewers", list(here), _IDS)),
            )
            .group_by(Follow.followee_id)
        )
        async with self._db.read() as connection:
            return {author: set(viewers) for author, viewers in await connection.execute(query)}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

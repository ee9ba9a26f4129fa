"""Live events for subscriptions: the database says what and in which order, a Redis stream
says when.

Tweets and notifications each get a position at their commit (migration 0007): a deferred
trigger takes its stream's advisory lock, held until the commit has ended, and the next value
of the stream's sequence, never below the row's own id. From there to the end of their commit,
writers go one at a time, so positions become visible in their order: whoever sees a position
sees every lower one there will ever be (a rolled-back writer leaves a hole, never a late
arrival). Ids, minted before the commit, are no such order: a lower id may commit after a
higher one. A position is where an entry entered its stream, and what a subscription's cursor
names.

Writers append a notice to one Redis stream after their commit (`publish`). Each API process
runs one Hub, which reads the stream (also across a Redis outage, within the stream's length)
and, on each notice of a new tweet or notification (and every couple of seconds when idle with
subscribers), reads from the database what follows the last position it routed of that stream,
in position order, and hands each entry to the subscriptions it concerns, each through a
bounded buffer, so a slow subscriber never delays the others. A notice only wakes the Hub: one
lost is made up by the next or by the idle read, one said twice sends nothing twice. While
PostgreSQL is out of reach the Hub keeps its place and reads again after pauses that double up
to RETRY_SECONDS[1]; its subscribers get, in order, what was committed meanwhile once it
answers, or, past OUTAGE_SECONDS, are closed (4413) to resume with `since`. Notices of
updates, removals and revocations name what they concern and go out as they come.

A subscription registers with its Hub, then replays from the database what follows its
cursor's position (`since`): an entry committed in between is in the replay, in the live
feed, or in both, and its position tells which were sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import BigInteger, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from core.metrics import SUBSCRIPTIONS
from core.tasks import stopping
from models import Follow, Notification, Tweet

log = logging.getLogger("chirp.live")
STREAM = "live:events"
STREAM_LENGTH = 100_000
BUFFER = 256  # events a subscription may fall behind before it is closed
READ_BATCH = 1_000  # entries read from the database at once
RETRY_SECONDS = (0.1, 2.0)  # the first and the longest pause before reading the database again
# a database outage this long closes the feeds' subscriptions here (4413, as when they fall
# behind): they resume with `since`, on another process if this one is cut off
OUTAGE_SECONDS = 30.0
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
# the cursor scopes of the subscriptions' events: a position in the stream of tweets or of
# notifications (the queries' cursors name ids: resolvers/live.py)
HOME_CURSOR = "home.position"
NOTIFICATION_CURSOR = "notification.position"

Event = Mapping[str, str | int]
# a position (0 for topics without one), an id, and what goes with it: what was read once for
# every subscriber of a new tweet, AUTHOR for an item of HOME_REMOVED that names an author
Item = tuple[int, int, Any]
# reads, once per batch, what the subscribers of these tweets need: (tweet ids, viewers)
Prepare = Callable[[list[int], set[int]], Awaitable[Any]]
# each stream's entries after a position, in position order, with who they concern
_AFTER = bindparam("after", type_=BigInteger)
_FEEDS = {
    TWEET: (Tweet.position, Tweet.id, Tweet.author_id),
    NOTIFICATION: (Notification.position, Notification.id, Notification.recipient_id),
}
_ENTRIES = {
    topic: select(*columns).where(columns[0] > _AFTER).order_by(columns[0]).limit(READ_BATCH)
    for topic, columns in _FEEDS.items()
}
_NEWEST = {
    topic: select(func.coalesce(func.max(columns[0]), 0)) for topic, columns in _FEEDS.items()
}


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


async def resume_after(connection: AsyncConnection, topic: str, entry_id: int) -> int:
    """The position a query's cursor resumes after (it names an entry of `topic` by id): the
    entry's own, or its id once it is gone, which every entry that became visible after it is
    above (positions are never below ids)."""
    position, key = _FEEDS[topic][:2]
    found = (await connection.execute(select(position).where(key == entry_id))).scalar()
    return entry_id if found is None else found


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
            self.fall_behind()
            return
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def fall_behind(self) -> None:
        """Queues nothing more; `on_overflow` closes the connection, to resume with `since`."""
        if not self.behind:
            self.behind = True
            self._on_overflow()

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
        # the last position routed of each stream; None until read (the newest then)
        self._routed: dict[str, int | None] = dict.fromkeys(_FEEDS)
        self._retry_at = 0.0  # while the database fails: when to read it again (monotonic)
        self._pause = RETRY_SECONDS[0]
        self._outage_from = 0.0  # when the database began to fail, or the feeds were last closed
        _hubs.add(self)

    @property
    def subscriptions(self) -> int:
        return sum(len(group) for group in self._subscribers.values())

    def subscribe(self, topic: str, key: int, on_overflow: Callable[[], None]) -> Subscriber:
        """A buffer of the `topic` events for `key` (a viewer, a recipient, a tweet), in
        position order, registered while its `with` block runs."""
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
        await self._catch_up()  # the positions it starts from (kept across a restart)
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
        """Sends on what the notices say (updates, removals, revocations); reads a stream on a
        notice of it, both when idle with subscribers (a notice may have been lost), and both
        while a read is to be tried again."""
        wanted = set(_FEEDS) if self._retry_at or (not events and self._subscribers) else set()
        removed: list[tuple[int, int]] = []
        for event in events:
            topic = event.get("topic", "")
            if topic in _FEEDS:
                wanted.add(topic)
            elif topic == REMOVED:
                removed.append((int(event["tweet"]), int(event["author"])))
            elif topic == AUTHOR_REMOVED:
                self._offer(HOME_REMOVED, int(event["viewer"]), (0, int(event["author"]), AUTHOR))
            elif topic == TWEET_UPDATED:
                tweet = int(event["tweet"])
                self._offer(TWEET_UPDATED, tweet, (0, tweet, None))
            elif topic == REVOKED:
                for call in tuple(self._revocations.get(int(event["user"]), ())):
                    call()
        if wanted:
            await self._catch_up(wanted)
        if removed and self._home[HOME_REMOVED]:
            async with self._db.read() as connection:
                audiences = await self._audiences(connection, removed, HOME_REMOVED)
            for tweet_id, audience in audiences.items():
                for viewer in audience:
                    self._offer(HOME_REMOVED, viewer, (0, tweet_id, None))

    async def _catch_up(self, topics: Iterable[str] = _FEEDS) -> None:
        """Routes what these streams hold after the last position routed. When that fails
        (PostgreSQL away, or Redis for the shared rows), nothing is skipped: the positions
        stay, and the read is tried again after a pause that doubles up to RETRY_SECONDS[1]."""
        now = time.monotonic()
        if now < self._retry_at:
            return
        try:
            async with self._db.read() as connection:
                for topic in topics:
                    while await self._read(connection, topic):
                        pass
        except Exception as error:  # noqa: BLE001 - whatever failed, the place is kept
            if not self._retry_at:
                log.warning(
                    "live events: cannot read the database (%s); trying again, nothing is skipped",
                    error,
                )
                self._outage_from = now
            elif now - self._outage_from >= OUTAGE_SECONDS:
                self._close_feeds()
                self._outage_from = now
            self._retry_at = now + self._pause
            self._pause = min(self._pause * 2, RETRY_SECONDS[1])
            return
        if self._retry_at:
            log.info("live events: reading the database again")
        self._retry_at, self._pause = 0.0, RETRY_SECONDS[0]

    def _close_feeds(self) -> None:
        """Closes the home timeline and notification subscriptions here, to resume with since."""
        feeds = [
            subscriber
            for (topic, _), group in self._subscribers.items()
            if topic in (HOME, NOTIFICATION)
            for subscriber in group
        ]
        log.warning(
            "live events: the database is away for %.0f s; closing %d subscriptions (4413) to "
            "resume with since",
            OUTAGE_SECONDS,
            len(feeds),
        )
        for subscriber in feeds:
            subscriber.fall_behind()

    async def _read(self, connection: AsyncConnection, topic: str) -> bool:
        """Routes the next entries of one stream; True when more may follow."""
        routed = self._routed[topic]
        if routed is None:
            self._routed[topic] = (await connection.execute(_NEWEST[topic])).scalar_one()
            return False
        rows: Sequence[Any] = (await connection.execute(_ENTRIES[topic], {"after": routed})).all()
        if not rows:
            return False
        if topic == TWEET:
            await self._route_tweets(connection, rows)
        else:
            for position, notification, recipient in rows:
                self._offer(NOTIFICATION, recipient, (position, notification, None))
        self._routed[topic] = rows[-1][0]
        return len(rows) == READ_BATCH

    async def _route_tweets(self, connection: AsyncConnection, rows: Sequence[Any]) -> None:
        """(position, tweet id, author) rows, in position order, to the home timelines here."""
        if not self._home[HOME]:
            return
        tweets = [(tweet_id, author) for _, tweet_id, author in rows]
        recipients = await self._audiences(connection, tweets, HOME)
        viewers = set().union(*recipients.values())
        if viewers:
            shared = await self._prepare(
                [t for t, audience in recipients.items() if audience], viewers
            )
            for position, tweet_id, _ in rows:
                for viewer in recipients[tweet_id]:
                    self._offer(HOME, viewer, (position, tweet_id, shared))

    async def _audiences(
        self, connection: AsyncConnection, tweets: list[tuple[int, int]], topic: str
    ) -> dict[int, set[int]]:
        """For each (tweet, author): the viewers subscribed here to `topic` whose home timeline
        has the author's tweets (the author, and its followers)."""
        here = self._home[topic]
        readers = await self._followers_here(connection, {author for _, author in tweets}, here)
        return {
            tweet_id: {v for v in readers.get(author, set()) | {author} if v in here}
            for tweet_id, author in tweets
        }

    def _offer(self, topic: str, key: int, item: Item) -> None:
        for subscriber in tuple(self._subscribers.get((topic, key), ())):
            subscriber.offer(item)

    async def _followers_here(
        self, connection: AsyncConnection, authors: set[int], here: set[int]
    ) -> dict[int, set[int]]:
        """Which of these viewers follow each author: one statement a batch."""
        query = (
            select(Follow.followee_id, func.array_agg(Follow.follower_id))
            .where(
                Follow.followee_id == any_(bindparam("authors", list(authors), _IDS)),
                Follow.follower_id == any_(bindparam("viewers", list(here), _IDS)),
            )
            .group_by(Follow.followee_id)
        )
        return {author: set(viewers) for author, viewers in await connection.execute(query)}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""Subscriptions: the home timeline, notifications and one tweet's updates, as they happen.

Each subscription registers with the process's Hub before it replays what came after `since`
from the database, so an entry committed meanwhile is in the replay, in the live feed, or in
both (then sent once): none missed, none repeated. Each event is built with fresh loaders and
gives back its database connection, so an hour-long subscription shows current counts and
holds no connection while idle.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry
from graphql import OperationDefinitionNode

from core import cursors
from core.errors import BadUserInput, NotFound
from core.ids import expect_global_id, to_global_id
from core.metrics import EVENTS
from dataloaders import SharedRows
from schema import shared_events
from schema.context import Context, Info
from schema.notifications import Notification, NotificationEdge
from schema.relay import TweetIdArg
from schema.safety import TimelineRemoval
from schema.tweets import Tweet, TweetEdge, optional
from services import home, live, notifications
from services.timelines import TWEETS
from views import notifications as notification_views
from views import pages
from views import tweets as tweet_views
from views.safety import NOBODY, hidden

REPLAY_MAX = 1_000  # entries `since` may be behind; older: read the query, then resubscribe
REMOVALS_MAX = 200  # removals sent for an author whose entries all left a timeline
UPDATES_PER_SECOND = 4  # tweetUpdated: a burst of changes is sent as one
_SINCE = "A cursor from this subscription or the matching query: what came after it first."
_TOO_SLOW = "Subscription fell too far behind; subscribe again with since."

T = TypeVar("T")
Since = Annotated[str | None, strawberry.argument(description=_SINCE)]


async def home_timeline(info: Info, since: Since = None) -> AsyncGenerator[TweetEdge, None]:
    context = info.context
    viewer_id, hub = context.viewer(), context.live()
    with hub.subscribe(live.HOME, viewer_id, _too_slow(context)) as subscriber:
        replay: list[int] = []
        after = 0
        if since is not None:
            after = cursors.decode(since, TWEETS)[0]
            async with context.reads.connection() as connection:
                newest = await home.newer_than(
                    connection, viewer_id=viewer_id, after=after, limit=REPLAY_MAX + 1
                )
            _check_gap(len(newest))
            replay = newest[::-1]

        async def edge(tweet_id: int, shared: Any) -> TweetEdge | None:
            if isinstance(shared, SharedRows):
                return _shared_edge(shared, viewer_id, tweet_id)
            view = await tweet_views.tweet(context.loaders, tweet_id)
            if view is None or hidden(
                view, await pages.safety(context), viewer_id=viewer_id, home=True
            ):
                return None
            return TweetEdge(cursor=cursors.encode(TWEETS, tweet_id), node=Tweet.of(view))

        async for built in _each(info, live.HOME, replay, subscriber, edge, after=after):
            yield built


async def notifications_feed(
    info: Info, since: Since = None
) -> AsyncGenerator[NotificationEdge, None]:
    context = info.context
    viewer_id, hub = context.viewer(), context.live()
    with hub.subscribe(live.NOTIFICATION, viewer_id, _too_slow(context)) as subscriber:
        replay: list[int] = []
        after = 0
        if since is not None:
            after = cursors.decode(since, notifications.NOTIFICATIONS)[0]
            async with context.reads.connection() as connection:
                replay = await notifications.newer_than(
                    connection, viewer_id=viewer_id, after=after, limit=REPLAY_MAX + 1
                )
            _check_gap(len(replay))

        async def edge(notification_id: int, _: Any) -> NotificationEdge | None:
            loaders = context.loaders
            (found,) = await notification_views.notifications(loaders, viewer_id, [notification_id])
            if found is None or not pages.notified(found, await pages.safety(context), viewer_id):
                return None
            cursor = cursors.encode(notifications.NOTIFICATIONS, notification_id)
            return NotificationEdge(cursor=cursor, node=Notification.of(found))

        events = _each(info, live.NOTIFICATION, replay, subscriber, edge, after=after)
        async for built in events:
            yield built


async def tweet_updated(info: Info, id: TweetIdArg) -> AsyncGenerator[Tweet, None]:
    context = info.context
    tweet_id, hub = expect_global_id(id, "Tweet"), context.live()
    if await tweet_views.tweet(context.loaders, tweet_id) is None:
        raise NotFound("No such tweet.")
    await context.reads.close()
    with hub.subscribe(live.TWEET_UPDATED, tweet_id, _too_slow(context)) as subscriber:
        sent_at, sent = 0.0, None
        while True:
            await subscriber.get()
            await asyncio.sleep(max(sent_at + 1 / UPDATES_PER_SECOND - time.monotonic(), 0))
            subscriber.drop_unread()  # what came meanwhile is in this update
            context.after_write()
            tweet = optional(await tweet_views.tweet(context.loaders, tweet_id))
            if tweet is None:
                return  # deleted: the subscription completes
            if _state(tweet) != sent:  # an event may arrive after its change was already sent
                sent_at, sent = time.monotonic(), _state(tweet)
                EVENTS.labels(live.TWEET_UPDATED).inc()
                yield tweet
            await context.reads.close()


async def _each(
    info: Info,
    topic: str,
    replay: list[int],
    subscriber: live.Subscriber,
    build: Callable[[int, Any], Awaitable[T | None]],
    *,
    after: int,
) -> AsyncIterator[T]:
    """Builds and yields the replayed ids, then each one the subscriber gets, each newer than
    `after` once, with fresh loaders (an event read once for every subscriber needs none);
    gone ones (deleted) are skipped. What `since` named the client has: a late announcement of
    it (a worker saying it again after its fan-out) is not sent again. A shared result already
    executed for another subscriber goes out as it is."""
    context, events = info.context, EVENTS.labels(topic)
    document = (info.operation, info.variable_values)  # what a shared result is shared for
    seen: OrderedDict[int, None] = OrderedDict()
    position = 0
    while True:
        if position < len(replay):
            item, shared = replay[position], None
            position += 1
        else:
            item, shared = await subscriber.get()
        if item <= after or item in seen:
            continue
        seen[item] = None
        if len(seen) > 2 * live.BUFFER + REPLAY_MAX:
            seen.popitem(last=False)
        if shared is None:
            context.after_write()
        built = await build(item, shared)
        if built is not None:
            events.inc()
            if not await _sent_as_shared(context, document, built):
                yield built
        await context.reads.close()  # the event is sent: hold no connection while idle


async def _sent_as_shared(
    context: Context, document: tuple[OperationDefinitionNode, Any], built: object
) -> bool:
    """Whether the result of a shared event, executed for another subscriber of the same
    document, went out to this one as it is (schema/shared_events.py, web/websocket.py)."""
    share, send = getattr(built, "share", None), context.send_shared
    if share is None or send is None:
        return False
    data = await shared_events.shared_data(*document, share)
    return data is not None and await send(data)


def _shared_edge(shared: SharedRows, viewer_id: int, tweet_id: int) -> TweetEdge | None:
    """The edge from rows read once for every subscriber, built once for every viewer with the
    same flags on it; `share` tells the executor which viewers get the same answer."""
    row = shared.tweets.get(tweet_id)
    if row is None:
        return None
    safety = shared.safety.get(viewer_id, NOBODY)
    flags = tuple(
        (viewer_id, t) in found
        for t in (tweet_id, row.retweet_of_id)
        if t is not None
        for found in (shared.liked, shared.retweeted)
    )
    key = (tweet_id, *flags)
    if key not in shared.edges:
        [view] = tweet_views.assemble(
            [tweet_id],
            shared.tweets,
            shared.users,
            lambda t: (viewer_id, t) in shared.liked,
            lambda t: (viewer_id, t) in shared.retweeted,
        )
        cursor = cursors.encode(TWEETS, tweet_id)
        share = (shared.batch, *key)
        shared.edges[key] = view and TweetEdge(cursor=cursor, node=Tweet.of(view), share=share)
    built: TweetEdge | None = shared.edges[key]
    if built is not None and hidden(_view_of(built), safety, viewer_id=viewer_id, home=True):
        return None
    return built


def _view_of(edge: TweetEdge) -> Any:
    """What views/safety.py reads of a tweet (its author, what it retweets, their texts)."""
    return edge.node.view


async def home_timeline_removals(info: Info) -> AsyncGenerator[TimelineRemoval, None]:
    """Each entry that leaves the viewer's home timeline; for an author whose entries all left
    it (unfollowed, blocked, muted), the newest REMOVALS_MAX of them. An entry announced again
    (by the outbox job, after the process that committed) is not sent twice."""
    context = info.context
    viewer_id, hub = context.viewer(), context.live()
    sent: OrderedDict[int, None] = OrderedDict()
    with hub.subscribe(live.HOME_REMOVED, viewer_id, _too_slow(context)) as subscriber:
        while True:
            item, what = await subscriber.get()
            if what == live.AUTHOR:
                async with context.reads.connection() as connection:
                    gone = await home.entries_by(connection, author_id=item, limit=REMOVALS_MAX)
                await context.reads.close()
            else:
                gone = [item]
            for tweet_id in gone:
                if tweet_id in sent:
                    continue
                sent[tweet_id] = None
                if len(sent) > 2 * REMOVALS_MAX:
                    sent.popitem(last=False)
                EVENTS.labels(live.HOME_REMOVED).inc()
                yield TimelineRemoval(
                    id=strawberry.ID(to_global_id("Tweet", tweet_id)),
                    cursor=cursors.encode(TWEETS, tweet_id),
                )


def _flags(tweet: Tweet) -> tuple[bool, ...]:
    """The viewer's flags on a tweet and on what it retweets: all of an event that differs."""
    original = tweet.retweet_of
    flags = (tweet.viewer_has_liked, tweet.viewer_has_retweeted)
    return flags + ((original.viewer_has_liked, original.viewer_has_retweeted) if original else ())


def _state(tweet: Tweet) -> tuple[Any, ...]:
    """What a tweetUpdated client sees change."""
    counts = (tweet.like_count, tweet.retweet_count, tweet.reply_count)
    return (tweet.text, tweet.edited_at, *counts, *_flags(tweet))


def _check_gap(entries: int) -> None:
    if entries > REPLAY_MAX:
        raise BadUserInput(
            f"since is more than {REPLAY_MAX} entries behind: read the query from the top, "
            "then subscribe with its newest cursor."
        )


def _too_slow(context: Context) -> Callable[[], None]:
    def close() -> None:
        if context.close_socket is not None:
            context.close_socket(4413, _TOO_SLOW)

    return close

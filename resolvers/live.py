"""Subscriptions: the home timeline, notifications and one tweet's updates, as they happen.

homeTimeline and notifications send their entries in the order they became visible, each
with a cursor naming its live position (services/live.py). Each subscription registers with
the process's Hub before it replays what follows `since` from the database, so an entry
committed meanwhile is in the replay, in the live feed, or in both: sending only positions
past the last one sent makes it none missed, none repeated, whatever order the ids are in.
`since` may also be a cursor of the matching query, which names an entry by its id: the
replay starts past that entry's position (past its id once it is gone: whatever became visible
after it is above). Nothing is missed from it; only an entry with a lower id that committed
after it, and before the query was read, can come again (the client knows it by its id).
Each event is built with fresh loaders and gives back its database connection before waiting
for the next, so an hour-long subscription shows current counts and holds no connection while
idle.
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

# the cursor scopes of each feed: its query's (ids) and its subscription's (positions)
_SCOPES = {
    live.TWEET: (TWEETS, live.HOME_CURSOR),
    live.NOTIFICATION: (notifications.NOTIFICATIONS, live.NOTIFICATION_CURSOR),
}

T = TypeVar("T")
Since = Annotated[str | None, strawberry.argument(description=_SINCE)]
NewerThan = Callable[..., Awaitable[list[tuple[int, int]]]]


async def home_timeline(info: Info, since: Since = None) -> AsyncGenerator[TweetEdge, None]:
    context = info.context
    viewer_id, hub = context.viewer(), context.live()
    with hub.subscribe(live.HOME, viewer_id, _too_slow(context)) as subscriber:
        after, replay = await _replay(context, since, live.TWEET, home.newer_than)

        async def edge(position: int, tweet_id: int, shared: Any) -> TweetEdge | None:
            if isinstance(shared, SharedRows):
                return _shared_edge(shared, viewer_id, position, tweet_id)
            view = await tweet_views.tweet(context.loaders, tweet_id)
            if view is None or hidden(
                view, await pages.safety(context), viewer_id=viewer_id, home=True
            ):
                return None
            cursor = cursors.encode(live.HOME_CURSOR, position)
            return TweetEdge(cursor=cursor, node=Tweet.of(view))

        async for built in _each(info, live.HOME, replay, subscriber, edge, after=after):
            yield built


async def notifications_feed(
    info: Info, since: Since = None
) -> AsyncGenerator[NotificationEdge, None]:
    context = info.context
    viewer_id, hub = context.viewer(), context.live()
    with hub.subscribe(live.NOTIFICATION, viewer_id, _too_slow(context)) as subscriber:
        after, replay = await _replay(context, since, live.NOTIFICATION, notifications.newer_than)

        async def edge(position: int, notification_id: int, _: Any) -> NotificationEdge | None:
            loaders = context.loaders
            (found,) = await notification_views.notifications(loaders, viewer_id, [notification_id])
            if found is None or not pages.notified(found, await pages.safety(context), viewer_id):
                return None
            cursor = cursors.encode(live.NOTIFICATION_CURSOR, position)
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
    replay: list[tuple[int, int]],
    subscriber: live.Subscriber,
    build: Callable[[int, int, Any], Awaitable[T | None]],
    *,
    after: int | None,
) -> AsyncIterator[T]:
    """Builds and yields the replayed entries, then each one the subscriber gets, in position
    order and only past `after` and the last one sent, with fresh loaders (an event read once
    for every subscriber needs none); gone ones (deleted) are skipped. A shared result already
    executed for another subscriber goes out as it is."""
    context, events = info.context, EVENTS.labels(topic)
    document = (info.operation, info.variable_values)  # what a shared result is shared for
    replayed = iter(replay)
    while True:
        entry = next(replayed, None)
        if entry is not None:
            (position, item), shared = entry, None
        else:
            await context.reads.close()  # the replay is sent: hold no connection while idle
            position, item, shared = await subscriber.get()
        if after is not None and position <= after:
            continue  # sent already (replayed and live both), or before `since`
        after = position
        if shared is None:
            context.after_write()
        built = await build(position, item, shared)
        if built is not None:
            events.inc()
            if not await _sent_as_shared(context, document, built):
                yield built


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


def _shared_edge(
    shared: SharedRows, viewer_id: int, position: int, tweet_id: int
) -> TweetEdge | None:
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
            media=shared.media,
        )
        cursor = cursors.encode(live.HOME_CURSOR, position)  # the same for every viewer
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
            _, item, what = await subscriber.get()
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


async def _replay(
    context: Context, since: str | None, feed: str, newer_than: NewerThan
) -> tuple[int | None, list[tuple[int, int]]]:
    """The position `since` resumes after (None: from now on) and the entries that follow it
    (`newer_than` reads them: position, id). A subscription's cursor names its position; a
    query's names an entry, whose position it takes (module docstring)."""
    if since is None:
        return None, []
    query_scope, live_scope = _SCOPES[feed]
    entry_id = None
    try:
        (after,) = cursors.decode(since, live_scope)
    except BadUserInput:
        (entry_id,) = cursors.decode(since, query_scope)
    async with context.reads.connection() as connection:
        if entry_id is not None:
            after = await live.resume_after(connection, feed, entry_id)
        replay = await newer_than(
            connection, viewer_id=context.viewer(), after=after, limit=REPLAY_MAX + 1
        )
    _check_gap(len(replay))
    return after, replay


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

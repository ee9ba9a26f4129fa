"""What a worker does with each event of the outbox (services/events.py): the slow effects
(fan-out, notifications, trends, search), and for certain the after-commit effects that read no
state (services/effects.py: `forget`, `announce`). Every job is idempotent and reads the current
state, so running one twice, late, or after the change it reacts to was undone is safe. Its
steps all run even when one fails; the job then fails, and the broker runs it again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from core.errors import NotFound, Unauthenticated
from services import (
    effects,
    events,
    fanout,
    idempotency,
    media,
    notifications,
    search_index,
    trends,
)
from services.events import (
    Event,
    FollowChanged,
    MediaRemoved,
    TweetEdited,
    TweetLiked,
    TweetPosted,
    TweetRemoved,
    UserChanged,
    UserSuspended,
)
from services.stores import Stores
from services.work import unit_of_work

Step = Callable[[], Awaitable[None]]


class PoisonMessage(ValueError):
    """A job that can never succeed (unknown topic, malformed payload): not retried."""


async def run(stores: Stores, topic: str, payload: dict[str, Any]) -> None:
    try:
        event = events.decode(topic, payload)
    except ValueError as error:
        raise PoisonMessage(f"cannot run {topic!r} with {payload!r}") from error
    await deliver(stores, event)


async def deliver(stores: Stores, event: Event) -> None:
    await _all(_steps(stores, event))


async def _all(steps: list[Step]) -> None:
    """Runs every step, even after one failed; then raises the first failure."""
    failed: Exception | None = None
    for step in steps:
        try:
            await step()
        except Exception as error:  # noqa: BLE001 - the other steps still run
            failed = failed or error
    if failed is not None:
        raise failed


def _steps(stores: Stores, event: Event) -> list[Step]:
    again = _again(stores, event)
    match event:
        case TweetPosted(tweet_id=tweet):
            return [lambda: _tweet_posted(stores, event, tweet)]
        case TweetRemoved(tweets=tweets):
            return [*again, lambda: _tweets_removed(stores, tweets)]
        case TweetEdited(tweet_id=tweet):
            return [*again, lambda: _tweet_edited(stores, tweet)]
        case TweetLiked(tweet_id=tweet, actor_id=actor):
            like = {"tweet_id": tweet, "actor_id": actor}
            return [*again, lambda: _notify(stores, notifications.for_like, **like)]
        case FollowChanged(follower_id=follower, followee_id=followee):
            follow = {"follower_id": follower, "followee_id": followee}
            return [
                *again,
                lambda: effects.follow_changed(stores, follower, followee),
                lambda: _notify(stores, notifications.for_follow, **follow),
            ]
        case UserChanged(user_id=user):
            return [*again, lambda: _index_users(stores, [user])]
        case UserSuspended(user_id=user):
            return [*again, lambda: _suspended(stores, user)]
        case MediaRemoved(keys=keys):
            return [*again, lambda: _remove_files(stores, keys)]
    return again


def _again(stores: Stores, event: Event) -> list[Step]:
    """The after-commit effects that read no state, for certain."""
    return [lambda: effects.forget(stores, [event]), lambda: effects.announce(stores, [event])]


async def _tweet_posted(stores: Stores, event: TweetPosted, tweet_id: int) -> None:
    window = stores.settings.trend_window_hours
    async with stores.db.read() as connection:
        await trends.count_tweet(connection, stores.redis, tweet_id, window_hours=window)
        done = await fanout.fan_out_tweet(
            connection, stores.redis, tweet_id=tweet_id, threshold=stores.settings.hybrid_threshold
        )
    if done is None:  # deleted meanwhile: counted after its removal job, if that ran first
        await trends.uncount(stores.redis, [tweet_id])
        return
    announced = replace(event, author_id=done.author_id)  # an older row may lack the author
    await _all(
        [
            *_again(stores, announced),
            lambda: _notify(stores, notifications.for_tweet, tweet_id=tweet_id),
            lambda: _index_tweets(stores, [tweet_id]),
            lambda: _purge_idempotency_keys(stores),
        ]
    )


async def _purge_idempotency_keys(stores: Stores) -> None:
    """A batch of expired keys goes with each new tweet: more than a tweet brings."""
    async with unit_of_work(stores) as work:
        await idempotency.purge(work)


async def _tweets_removed(stores: Stores, tweets: tuple[tuple[int, int], ...]) -> None:
    await trends.uncount(stores.redis, [tweet_id for tweet_id, _ in tweets])
    async with stores.db.read() as connection:
        for tweet_id, author_id in tweets:
            await fanout.remove_tweet(
                connection, stores.redis, tweet_id=tweet_id, author_id=author_id
            )
    await _index_tweets(stores, [tweet_id for tweet_id, _ in tweets])


async def _suspended(stores: Stores, user_id: int) -> None:
    """A suspended account's newest tweets leave every timeline, trend and index (reads hide
    them all already; this keeps pages from scanning past them)."""
    async with stores.db.read() as connection:
        newest = await fanout.newest_of(connection, user_id)
    gone = tuple((tweet_id, user_id) for tweet_id in newest)
    await _all(
        [
            lambda: _tweets_removed(stores, gone),
            lambda: effects.announce(stores, [TweetRemoved(gone)]),  # live removals
        ]
    )


async def _remove_files(stores: Stores, keys: tuple[str, ...]) -> None:
    async with stores.db.transaction() as session:
        await media.remove_files(session, stores.media, keys)


async def _tweet_edited(stores: Stores, tweet_id: int) -> None:
    async with stores.db.read() as connection:
        await trends.recount_tweet(
            connection, stores.redis, tweet_id, window_hours=stores.settings.trend_window_hours
        )
    await _index_tweets(stores, [tweet_id])


async def _notify(stores: Stores, create: Callable[..., Awaitable[None]], **what: int) -> None:
    """Creates the notifications (their unit of work announces them to the recipients'
    subscriptions); nothing when what they are about, or who did it, was deleted meanwhile."""
    try:
        async with unit_of_work(stores) as work:
            await create(work, **what)
    except (NotFound, Unauthenticated):  # services/integrity.py: a tweet, a user gone
        pass


async def _index_users(stores: Stores, user_ids: list[int]) -> None:
    if stores.search is not None:
        async with stores.db.read() as connection:
            await search_index.sync_users(connection, stores.search, user_ids)


async def _index_tweets(stores: Stores, tweet_ids: list[int]) -> None:
    """Meilisearch only: PostgreSQL's search column follows the text by itself."""
    if stores.search is not None:
        async with stores.db.read() as connection:
            await search_index.sync_tweets(connection, stores.search, tweet_ids)

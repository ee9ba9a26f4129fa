"""What the workers do for each outbox topic. Every job is idempotent and reads the current
state, so running one twice, late, or after the change it reacts to was undone is safe."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from core.config import Settings
from core.db import Database
from services import fanout, home, live, notifications, search_index, trends
from services.meili import Meili


class PoisonMessage(ValueError):
    """A job that can never succeed (unknown topic, malformed payload): not retried."""


@dataclass(frozen=True)
class Stores:
    db: Database
    redis: aioredis.Redis
    settings: Settings
    search: Meili | None = None  # when SEARCH_URL is set

    @classmethod
    def connect(cls, settings: Settings, *, pool_size: int = 4) -> Stores:
        return cls(
            db=Database.connect(settings.database_url or "", pool_size=pool_size),
            redis=aioredis.from_url(settings.redis_url or ""),
            settings=settings,
            search=Meili.connect(settings) if settings.search_url else None,
        )

    async def close(self) -> None:
        if self.search is not None:
            await self.search.close()
        await self.redis.aclose()
        await self.db.dispose()


async def run(stores: Stores, topic: str, payload: dict[str, Any]) -> None:
    try:
        job, arguments = _JOBS[topic], _ints(payload)
    except (KeyError, TypeError, ValueError) as error:
        raise PoisonMessage(f"cannot run {topic!r} with {payload!r}") from error
    await job(stores, **arguments)


def _ints(payload: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise TypeError("payload is not an object")
    return {
        name: [(int(i), int(a)) for i, a in value] if name == "tweets" else int(value)
        for name, value in payload.items()
    }


async def _tweet_posted(stores: Stores, *, tweet_id: int) -> None:
    window = stores.settings.trend_window_hours
    async with stores.db.read() as connection:
        await trends.count_tweet(connection, stores.redis, tweet_id, window_hours=window)
        done = await fanout.fan_out_tweet(
            connection, stores.redis, tweet_id=tweet_id, threshold=stores.settings.hybrid_threshold
        )
    if done is None:  # deleted meanwhile: counted after its removal job, if that ran first
        await trends.uncount(stores.redis, [tweet_id])
        return
    # the API announced it after its commit; this says it again for certain (subscribers
    # drop repeats), should that process have died in between
    await live.publish(
        stores.redis, [{"topic": live.TWEET, "tweet": tweet_id, "author": done.author_id}]
    )
    await _notify(stores, notifications.for_tweet, tweet_id=tweet_id)
    await _index_tweets(stores, [tweet_id])


async def _tweet_liked(stores: Stores, *, tweet_id: int, actor_id: int) -> None:
    await _notify(stores, notifications.for_like, tweet_id=tweet_id, actor_id=actor_id)


async def _notify(
    stores: Stores, create: Callable[..., Awaitable[notifications.Created]], **what: int
) -> None:
    """Creates the notifications and announces them to their recipients' subscriptions."""
    async with stores.db.transaction() as session:
        created = await create(session, **what)
    events: list[live.Event] = [
        {"topic": live.NOTIFICATION, "id": notification_id, "recipient": recipient}
        for notification_id, recipient in created
    ]
    await live.publish(stores.redis, events)


async def _tweet_removed(stores: Stores, *, tweets: list[tuple[int, int]]) -> None:
    await trends.uncount(stores.redis, [tweet_id for tweet_id, _ in tweets])
    async with stores.db.read() as connection:
        for tweet_id, author_id in tweets:
            await fanout.remove_tweet(
                connection, stores.redis, tweet_id=tweet_id, author_id=author_id
            )
    await _index_tweets(stores, [tweet_id for tweet_id, _ in tweets])


async def _tweet_edited(stores: Stores, *, tweet_id: int) -> None:
    async with stores.db.read() as connection:
        await trends.recount_tweet(
            connection, stores.redis, tweet_id, window_hours=stores.settings.trend_window_hours
        )
    await _index_tweets(stores, [tweet_id])


async def _user_changed(stores: Stores, *, user_id: int) -> None:
    if stores.search is not None:
        async with stores.db.read() as connection:
            await search_index.sync_users(connection, stores.search, [user_id])


async def _index_tweets(stores: Stores, tweet_ids: list[int]) -> None:
    """Meilisearch only (last, so that while it is down the other effects still happen):
    PostgreSQL's search column follows the text by itself."""
    if stores.search is not None:
        async with stores.db.read() as connection:
            await search_index.sync_tweets(connection, stores.search, tweet_ids)


async def _follow_changed(stores: Stores, *, follower_id: int, followee_id: int) -> None:
    async with stores.db.read() as connection:
        await home.follow_changed(
            connection,
            stores.redis,
            follower_id=follower_id,
            followee_id=followee_id,
            settings=stores.settings,
        )
    await _notify(
        stores, notifications.for_follow, follower_id=follower_id, followee_id=followee_id
    )


_JOBS = {
    "tweet.posted": _tweet_posted,
    "tweet.removed": _tweet_removed,
    "tweet.liked": _tweet_liked,
    "follow.changed": _follow_changed,
    "tweet.edited": _tweet_edited,
    "user.changed": _user_changed,
}

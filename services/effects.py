"""What follows a commit: the one place that maps events (services/events.py) to their effects.

Right after a unit of work commits (services/work.py), in the process that committed:
- the cached rows and flags the events changed are dropped (services/cache.py);
- the actor's own timeline shows the change at once (services/feed.py, services/home.py);
- subscribers hear of it (services/live.py).
Each effect runs on its own: one that fails (Redis away) is logged and counted, and skips no
other. None of them is the only copy: every event is in the outbox too, and its job in a worker
(workers/jobs.py) drops the same cache entries and announces it again (`forget`, `announce`),
besides doing the
slow part (fan-out, notifications, search), so an effect lost here is done there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from core.metrics import EFFECT_FAILURES
from services import cache, feed, home, live
from services.events import (
    BlockChanged,
    BookmarkChanged,
    Event,
    FollowChanged,
    MediaChanged,
    MuteChanged,
    MutedWordsChanged,
    NotificationsCreated,
    PasswordChanged,
    TweetEdited,
    TweetLiked,
    TweetPinned,
    TweetPosted,
    TweetRemoved,
    TweetUnliked,
    UserChanged,
    UserSuspended,
)
from services.stores import Stores

log = logging.getLogger("chirp.effects")


async def after_commit(stores: Stores, events: Sequence[Event]) -> None:
    if events:
        await _each(
            stores,
            events,
            [("forget cached rows", forget), ("own timeline", _show_own), ("announce", announce)],
        )


Effect = Callable[[Stores, Sequence[Event]], Awaitable[None]]


async def _each(stores: Stores, events: Sequence[Event], effects: list[tuple[str, Effect]]) -> None:
    for name, effect in effects:
        try:
            await effect(stores, events)
        except Exception:  # noqa: BLE001 - the others still run; the outbox job redoes it
            EFFECT_FAILURES.labels(name).inc()
            log.warning(
                "after commit: %s failed; the outbox job does it again", name, exc_info=True
            )


async def forget(stores: Stores, events: Sequence[Event]) -> None:
    settings = stores.settings
    # as long as a usable replica may still lack the commit (core/replicas.py), and a poll more
    recent_ms = (settings.database_replica_max_lag_seconds + 2) * 1000
    await cache.forget(
        stores.redis,
        {key for event in events for key in stale_keys(event)},
        recent_ms=recent_ms if settings.database_replica_urls else 0,
    )


def stale_keys(event: Event) -> Iterable[str]:
    """The cache entries whose values the event changed."""
    match event:
        case UserChanged(user_id=user):
            yield cache.key(cache.USER, user)
        case PasswordChanged(user_id=user):
            yield cache.key(cache.TOKEN_GENERATION, user)
        case TweetPosted(
            author_id=author, reply_to_id=reply_to, retweet_of_id=original, quote_of_id=quoted
        ):
            if original is not None:
                yield cache.key(cache.TWEET, original)
                yield cache.key(cache.scoped(cache.RETWEETED, author), original)
            elif author is not None:
                yield cache.key(cache.USER, author)
                yield cache.key(cache.TWEET_MEDIA, event.tweet_id)  # none read before: cheap
            for counted in (reply_to, quoted):
                if counted is not None:
                    yield cache.key(cache.TWEET, counted)
        case TweetEdited(tweet_id=tweet):
            yield cache.key(cache.TWEET, tweet)
        case TweetRemoved(tweets=tweets, counted=counted):
            for tweet, author in tweets:
                yield cache.key(cache.TWEET, tweet)
                yield cache.key(cache.USER, author)
            _, remover = tweets[0]
            for tweet in counted:
                yield cache.key(cache.TWEET, tweet)
                yield cache.key(cache.scoped(cache.RETWEETED, remover), tweet)
        case (
            TweetLiked(tweet_id=tweet, actor_id=actor)
            | TweetUnliked(tweet_id=tweet, actor_id=actor)
        ):
            yield cache.key(cache.TWEET, tweet)
            yield cache.key(cache.scoped(cache.LIKED, actor), tweet)
        case BookmarkChanged(tweet_id=tweet, user_id=user):
            yield cache.key(cache.scoped(cache.BOOKMARKED, user), tweet)
        case TweetPinned(user_id=user):
            yield cache.key(cache.USER, user)
        case FollowChanged(follower_id=follower, followee_id=followee):
            yield cache.key(cache.USER, follower)
            yield cache.key(cache.USER, followee)
            yield cache.key(cache.scoped(cache.FOLLOWING, follower), followee)
            yield cache.key(cache.scoped(cache.FOLLOWED_BY, followee), follower)
        case BlockChanged(blocker_id=blocker, blocked_id=blocked):
            yield cache.key(cache.SAFETY, blocker)
            yield cache.key(cache.SAFETY, blocked)
        case MuteChanged(muter_id=user) | MutedWordsChanged(user_id=user):
            yield cache.key(cache.SAFETY, user)
        case MediaChanged(tweet_id=tweet) if tweet is not None:
            yield cache.key(cache.TWEET_MEDIA, tweet)
        case UserSuspended(user_id=user, counted=counted):
            yield cache.key(cache.USER, user)
            yield cache.key(cache.TOKEN_GENERATION, user)
            for tweet in counted:
                yield cache.key(cache.TWEET, tweet)


async def announce(stores: Stores, events: Sequence[Event]) -> None:
    await live.publish(stores.redis, [item for event in events for item in live_events(event)])


def live_events(event: Event) -> Iterable[live.Event]:
    """What subscribers hear of the event: new tweets, changed ones, new notifications."""
    match event:
        case TweetPosted(
            tweet_id=tweet,
            author_id=author,
            reply_to_id=reply_to,
            retweet_of_id=original,
            quote_of_id=quoted,
        ):
            if author is not None:
                yield {"topic": live.TWEET, "tweet": tweet, "author": author}
            for changed in (reply_to, original, quoted):
                if changed is not None:
                    yield {"topic": live.TWEET_UPDATED, "tweet": changed}
        case (
            TweetEdited(tweet_id=tweet) | TweetLiked(tweet_id=tweet) | TweetUnliked(tweet_id=tweet)
        ):
            yield {"topic": live.TWEET_UPDATED, "tweet": tweet}
        case MediaChanged(tweet_id=tweet) if tweet is not None:
            yield {"topic": live.TWEET_UPDATED, "tweet": tweet}
        case TweetRemoved(tweets=tweets, counted=counted):
            for changed in [*(tweet for tweet, _ in tweets), *counted]:
                yield {"topic": live.TWEET_UPDATED, "tweet": changed}
            for tweet, author in tweets:
                yield {"topic": live.REMOVED, "tweet": tweet, "author": author}
        case FollowChanged(follower_id=viewer, followee_id=author, following=False):
            yield {"topic": live.AUTHOR_REMOVED, "viewer": viewer, "author": author}
        case BlockChanged(blocker_id=blocker, blocked_id=blocked, blocking=True):
            yield {"topic": live.AUTHOR_REMOVED, "viewer": blocker, "author": blocked}
            yield {"topic": live.AUTHOR_REMOVED, "viewer": blocked, "author": blocker}
        case MuteChanged(muter_id=viewer, muted_id=author, muting=True):
            yield {"topic": live.AUTHOR_REMOVED, "viewer": viewer, "author": author}
        case NotificationsCreated(notifications=created):
            for notification, recipient in created:
                yield {"topic": live.NOTIFICATION, "id": notification, "recipient": recipient}
        case PasswordChanged(user_id=user):
            yield {"topic": live.REVOKED, "user": user}
        case UserSuspended(user_id=user, counted=counted):
            yield {"topic": live.REVOKED, "user": user}
            for changed in counted:
                yield {"topic": live.TWEET_UPDATED, "tweet": changed}


async def _show_own(stores: Stores, events: Sequence[Event]) -> None:
    """The actor's own timeline shows what the actor just did; fan-out does it for everyone
    else, and again for the actor."""
    for event in events:
        match event:
            case TweetPosted(tweet_id=tweet, author_id=author) if author is not None:
                await feed.insert(stores.redis, [author], [tweet])
            case TweetRemoved(tweets=tweets):
                for tweet, author in tweets:
                    await feed.remove(stores.redis, [author], [tweet])
                    await feed.remove(stores.redis, [author], [tweet], kind=feed.AUTHORED)
            case FollowChanged(follower_id=follower, followee_id=followee):
                await follow_changed(stores, follower, followee)


async def follow_changed(stores: Stores, follower_id: int, followee_id: int) -> None:
    """The follower's timeline as it now follows, or not, the followee (services/home.py)."""
    async with stores.db.read() as connection:
        await home.follow_changed(
            connection,
            stores.redis,
            follower_id=follower_id,
            followee_id=followee_id,
            settings=stores.settings,
        )

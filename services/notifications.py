"""Notifications: written by a worker once the action has committed, read by their recipient.

Each job reads the current state, so a like undone before its job runs notifies nobody, and
a job run twice notifies once (one row per recipient, kind, actor and tweet).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core import ids
from core.pagination import Keyset, Page
from models import Follow, Like, Notification, Tweet, User
from services.events import NotificationsCreated
from services.work import Work

NOTIFICATIONS = "notification"  # the cursor scope
MENTION, REPLY, LIKE, RETWEET, FOLLOW = "MENTION", "REPLY", "LIKE", "RETWEET", "FOLLOW"
QUOTE = "QUOTE"
KINDS = (MENTION, REPLY, LIKE, RETWEET, FOLLOW, QUOTE)
_ONCE = ["recipient_id", "kind", "actor_id", "tweet_id"]  # the columns of uq_notifications_once


async def for_tweet(work: Work, *, tweet_id: int) -> None:
    """MENTION for each existing @handle, REPLY to the author replied to, QUOTE to the author
    quoted, RETWEET to the author of the retweeted tweet: one notice a recipient, the first
    of REPLY, QUOTE, MENTION that applies."""
    session = work.session
    columns = (Tweet.author_id, Tweet.mentions, Tweet.reply_to_id, Tweet.retweet_of_id)
    tweet = (
        await session.execute(select(*columns, Tweet.quote_of_id).where(Tweet.id == tweet_id))
    ).first()
    if tweet is None:
        return
    wanted: list[tuple[int, str, int | None]] = []
    if tweet.retweet_of_id is not None:
        original = await _author_of(session, tweet.retweet_of_id)
        if original is not None:
            wanted.append((original, RETWEET, tweet.retweet_of_id))
        await _insert(work, tweet.author_id, wanted)
        return
    if tweet.reply_to_id is not None:
        parent = await _author_of(session, tweet.reply_to_id)
        if parent is not None:
            wanted.append((parent, REPLY, tweet_id))
    if tweet.quote_of_id is not None:
        quoted = await _author_of(session, tweet.quote_of_id)
        if quoted is not None and quoted not in {recipient for recipient, _, _ in wanted}:
            wanted.append((quoted, QUOTE, tweet_id))
    if tweet.mentions:
        mentioned = await session.scalars(
            select(User.id).where(func.lower(User.handle).in_(tweet.mentions))
        )
        replied = {recipient for recipient, _, _ in wanted}  # one notice for the same tweet
        wanted += [(user, MENTION, tweet_id) for user in mentioned if user not in replied]
    await _insert(work, tweet.author_id, wanted)


async def for_like(work: Work, *, tweet_id: int, actor_id: int) -> None:
    liked = await work.session.scalar(
        select(Tweet.author_id)
        .join(Like, Like.tweet_id == Tweet.id)
        .where(Like.tweet_id == tweet_id, Like.user_id == actor_id)
    )
    if liked is not None:
        await _insert(work, actor_id, [(liked, LIKE, tweet_id)])


async def for_follow(work: Work, *, follower_id: int, followee_id: int) -> None:
    follows = await work.session.scalar(
        select(Follow.id).where(
            Follow.follower_id == follower_id, Follow.followee_id == followee_id
        )
    )
    if follows is not None:
        await _insert(work, follower_id, [(followee_id, FOLLOW, None)])


async def page(
    connection: AsyncConnection, *, viewer_id: int, first: int | None, after: str | None
) -> Page:
    return await _RECEIVED.page(connection, first=first, after=after, viewer=viewer_id)


_RECEIVED = Keyset(
    select(Notification.id, Notification.id).where(
        Notification.recipient_id == bindparam("viewer", type_=BigInteger)
    ),
    key=Notification.id,
    scope=NOTIFICATIONS,
)


async def newer_than(
    connection: AsyncConnection, *, viewer_id: int, after: int, limit: int
) -> list[tuple[int, int]]:
    """Up to `limit` of the viewer's notifications past the live position `after`
    (services/live.py), in position order: (position, notification id)."""
    position = Notification.position
    query = (
        select(position, Notification.id)
        .where(Notification.recipient_id == viewer_id, position > after)
        .order_by(position)
        .limit(limit)
    )
    return [(row.position, row.id) for row in await connection.execute(query)]


async def unread_count(connection: AsyncConnection, *, viewer_id: int) -> int:
    query = select(func.count()).where(
        Notification.recipient_id == viewer_id, Notification.read.is_(False)
    )
    return int((await connection.execute(query)).scalar_one())


async def mark_read(work: Work, *, viewer_id: int, up_to: int | None) -> int:
    """Marks the viewer's unread notifications read, up to and including `up_to`."""
    query = update(Notification).where(
        Notification.recipient_id == viewer_id, Notification.read.is_(False)
    )
    if up_to is not None:
        query = query.where(Notification.id <= up_to)
    changed = await work.session.execute(query.values(read=True))
    return int(changed.rowcount)  # type: ignore[attr-defined]


_SHIELDED = text("""
SELECT r FROM unnest(CAST(:recipients AS bigint[])) AS r
WHERE NOT EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = r AND blocked_id = :actor)
                                           OR (blocker_id = :actor AND blocked_id = r))
  AND NOT EXISTS (SELECT 1 FROM mutes WHERE muter_id = r AND muted_id = :actor
                                        AND (expires_at IS NULL OR expires_at > now()))
""")


async def _not_shielded(session: AsyncSession, actor_id: int, recipients: list[int]) -> set[int]:
    """The recipients whom no block either way, nor their mute, keeps from hearing of the actor."""
    found = await session.execute(_SHIELDED, {"recipients": recipients, "actor": actor_id})
    return {row[0] for row in found}


async def _author_of(session: AsyncSession, tweet_id: int) -> int | None:
    author: int | None = await session.scalar(select(Tweet.author_id).where(Tweet.id == tweet_id))
    return author


async def _insert(work: Work, actor_id: int, wanted: Sequence[tuple[int, str, int | None]]) -> None:
    """Inserts the notifications that are new; a user's own actions never notify that user, nor
    notify anyone blocking or blocked by the actor, or muting it (CONTRACT.md, "Safety")."""
    recipients = [recipient for recipient, _, _ in wanted if recipient != actor_id]
    if not recipients:
        return
    kept = await _not_shielded(work.session, actor_id, recipients)
    rows = []
    for recipient, kind, tweet_id in wanted:
        if recipient in kept:
            notification_id = ids.new_id()
            rows.append(
                {
                    "id": notification_id,
                    "recipient_id": recipient,
                    "actor_id": actor_id,
                    "kind": kind,
                    "tweet_id": tweet_id,
                    "created_at": ids.snowflake_time(notification_id),
                }
            )
    if not rows:
        return
    # skips what uq_notifications_once already holds, and only that: an id minted twice is an
    # error (the job is retried), never a notification quietly lost
    created = await work.session.execute(
        insert(Notification)
        .values(rows)
        .on_conflict_do_nothing(index_elements=_ONCE)
        .returning(Notification.id, Notification.recipient_id)
    )
    new = tuple((row.id, row.recipient_id) for row in created)
    if new:
        work.record(NotificationsCreated(new))

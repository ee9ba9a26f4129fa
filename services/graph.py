"""The social graph: follow and unfollow."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import ids
from core.errors import BadUserInput, NotFound
from models import Follow, User
from services import cache, outbox


async def follow(session: AsyncSession, *, actor_id: int, user_id: int) -> int:
    if actor_id == user_id:
        raise BadUserInput("You cannot follow yourself.")
    follow_id = ids.new_id()
    try:
        inserted = await session.scalar(
            insert(Follow)
            .values(
                follower_id=actor_id,
                followee_id=user_id,
                id=follow_id,
                created_at=ids.snowflake_time(follow_id),
            )
            .on_conflict_do_nothing(index_elements=["follower_id", "followee_id"])
            .returning(Follow.id)
        )
    except IntegrityError:
        raise NotFound("No such user.") from None
    if inserted is not None:
        await _count(session, follower_id=actor_id, followee_id=user_id, delta=1)
        await outbox.record(session, "follow.changed", follower_id=actor_id, followee_id=user_id)
    return user_id


async def unfollow(session: AsyncSession, *, actor_id: int, user_id: int) -> int:
    if await session.scalar(select(User.id).where(User.id == user_id)) is None:
        raise NotFound("No such user.")
    removed = await session.scalar(
        delete(Follow)
        .where(Follow.follower_id == actor_id, Follow.followee_id == user_id)
        .returning(Follow.id)
    )
    if removed is not None:
        await _count(session, follower_id=actor_id, followee_id=user_id, delta=-1)
        await outbox.record(session, "follow.changed", follower_id=actor_id, followee_id=user_id)
    return user_id


async def _count(session: AsyncSession, *, follower_id: int, followee_id: int, delta: int) -> None:
    # Rows are locked in id order so that A following B while B follows A cannot deadlock.
    changes = {
        follower_id: {"following_count": User.following_count + delta},
        followee_id: {"follower_count": User.follower_count + delta},
    }
    for user_id in sorted(changes):
        await session.execute(update(User).where(User.id == user_id).values(**changes[user_id]))
    cache.stale(
        session,
        cache.key(cache.USER, follower_id),
        cache.key(cache.USER, followee_id),
        cache.key(cache.scoped(cache.FOLLOWING, follower_id), followee_id),
        cache.key(cache.scoped(cache.FOLLOWED_BY, followee_id), follower_id),
    )

"""The social graph: follow and unfollow."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import ids
from core.errors import BadUserInput, NotFound
from models import Follow, User
from services import reach
from services.events import FollowChanged
from services.work import Work


async def follow(work: Work, *, actor_id: int, user_id: int) -> int:
    if actor_id == user_id:
        raise BadUserInput("You cannot follow yourself.")
    await reach.ensure_can_reach(work.session, actor_id, user_id)
    follow_id = ids.new_id()
    inserted = await work.session.scalar(
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
    if inserted is not None:
        await count_follow(work.session, follower_id=actor_id, followee_id=user_id, delta=1)
        work.record(FollowChanged(actor_id, user_id, following=True))
    return user_id


async def unfollow(work: Work, *, actor_id: int, user_id: int) -> int:
    if await work.session.scalar(select(User.id).where(User.id == user_id)) is None:
        raise NotFound("No such user.")
    removed = await work.session.scalar(
        delete(Follow)
        .where(Follow.follower_id == actor_id, Follow.followee_id == user_id)
        .returning(Follow.id)
    )
    if removed is not None:
        await count_follow(work.session, follower_id=actor_id, followee_id=user_id, delta=-1)
        work.record(FollowChanged(actor_id, user_id, following=False))
    return user_id


async def count_follow(
    session: AsyncSession, *, follower_id: int, followee_id: int, delta: int
) -> None:
    # Rows are locked in id order so that A following B while B follows A cannot deadlock.
    changes = {
        follower_id: {"following_count": User.following_count + delta},
        followee_id: {"follower_count": User.follower_count + delta},
    }
    for user_id in sorted(changes):
        await session.execute(update(User).where(User.id == user_id).values(**changes[user_id]))

"""Blocks: either account blocking the other keeps both apart (CONTRACT.md, "Safety").

A block removes the follows between the two, both ways. While it stands, neither can follow
the other, reply to, quote, like or retweet the other's tweets (FORBIDDEN): those writes check
it under the same per-pair lock the block takes, so a block racing one of them either sees it
committed (and undoes its follow) or is seen by it (which is refused): the block wins, and
nothing is left half-done.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, and_, bindparam, delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core import ids
from core.errors import BadUserInput, NotFound
from core.pagination import Keyset, Page
from models import Block, Follow, User
from services import graph, reach
from services.events import BlockChanged, FollowChanged
from services.work import Work

BLOCKS = "block"  # the cursor scope


async def block(work: Work, *, actor_id: int, user_id: int) -> int:
    if actor_id == user_id:
        raise BadUserInput("You cannot block yourself.")
    session = work.session
    await reach.lock_pair(session, actor_id, user_id)
    block_id = ids.new_id()
    inserted = await session.scalar(
        insert(Block)
        .values(
            blocker_id=actor_id,
            blocked_id=user_id,
            id=block_id,
            created_at=ids.snowflake_time(block_id),
        )
        .on_conflict_do_nothing(index_elements=["blocker_id", "blocked_id"])
        .returning(Block.id)
    )
    if inserted is None:
        return user_id
    removed = await session.execute(
        delete(Follow)
        .where(
            or_(
                and_(Follow.follower_id == actor_id, Follow.followee_id == user_id),
                and_(Follow.follower_id == user_id, Follow.followee_id == actor_id),
            )
        )
        .returning(Follow.follower_id, Follow.followee_id)
    )
    for follower, followee in removed.all():
        await graph.count_follow(session, follower_id=follower, followee_id=followee, delta=-1)
        work.record(FollowChanged(follower, followee, following=False))
    work.record(BlockChanged(actor_id, user_id, blocking=True))
    return user_id


async def unblock(work: Work, *, actor_id: int, user_id: int) -> int:
    """Follows the block removed are not restored."""
    await _exists(work.session, user_id)
    removed = await work.session.scalar(
        delete(Block)
        .where(Block.blocker_id == actor_id, Block.blocked_id == user_id)
        .returning(Block.id)
    )
    if removed is not None:
        work.record(BlockChanged(actor_id, user_id, blocking=False))
    return user_id


async def _exists(session: AsyncSession, user_id: int) -> None:
    if await session.scalar(select(User.id).where(User.id == user_id)) is None:
        raise NotFound("No such user.")


async def blocked_page(
    connection: AsyncConnection, *, viewer_id: int, first: int | None, after: str | None
) -> Page:
    """Accounts the viewer blocks, newest block first."""
    return await _BLOCKED.page(connection, first=first, after=after, viewer=viewer_id)


_BLOCKED = Keyset(
    select(Block.id, Block.blocked_id).where(
        Block.blocker_id == bindparam("viewer", type_=BigInteger)
    ),
    key=Block.id,
    scope=BLOCKS,
)

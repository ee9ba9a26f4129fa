"""Who may reach whom: no write of one account may touch another while either blocks the other
(services/blocks.py), checked under a per-pair lock that the block takes too."""

from __future__ import annotations

from sqlalchemy import and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden
from models import Block

_PAIR_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:pair, 0))")


async def ensure_can_reach(session: AsyncSession, actor_id: int, other_id: int) -> None:
    """FORBIDDEN while either of the two blocks the other. Takes the pair's lock first, so a
    block committing meanwhile is seen, and a block waiting for this write sees it."""
    if actor_id == other_id:
        return
    await lock_pair(session, actor_id, other_id)
    either = select(Block.id).where(
        or_(
            and_(Block.blocker_id == actor_id, Block.blocked_id == other_id),
            and_(Block.blocker_id == other_id, Block.blocked_id == actor_id),
        )
    )
    if await session.scalar(either.limit(1)) is not None:
        raise Forbidden("A block stands between you and this account.")


async def lock_pair(session: AsyncSession, one: int, other: int) -> None:
    low, high = sorted((one, other))
    await session.execute(_PAIR_LOCK, {"pair": f"block:{low}:{high}"})

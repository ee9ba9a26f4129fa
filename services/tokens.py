"""Which signed tokens still count: a token names the user's token generation it was issued
under, and a password change raises it, which revokes every earlier token at once.

The check runs on every signed-in request and WebSocket, so the generation is read through
the Redis cache (services/cache.py) with the database as the truth; the change drops the
cached value after its commit.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.security import Identity
from models import User
from services import cache

log = logging.getLogger(__name__)
_BY_ID = select(User.id, User.token_generation).where(User.id.in_(bindparam("ids", expanding=True)))


def stale(session: AsyncSession, user_id: int) -> None:
    """Notes that this transaction changes the user's token generation."""
    cache.stale(session, cache.key(cache.TOKEN_GENERATION, user_id))


async def is_current(db: Database, redis: aioredis.Redis, identity: Identity, *, ttl: int) -> bool:
    """True when the user exists and has not revoked the token since it was issued."""
    generation = await _generation(db, redis, identity.user_id, ttl=ttl)
    return generation is not None and generation == identity.generation


async def _generation(db: Database, redis: aioredis.Redis, user_id: int, *, ttl: int) -> int | None:
    async def load(user_ids: list[int]) -> list[int | None]:
        async with db.read() as connection:
            rows = (await connection.execute(_BY_ID, {"ids": user_ids})).all()
        found = {row.id: row.token_generation for row in rows}
        return [found.get(user_id) for user_id in user_ids]

    try:
        (generation,) = await cache.read_through(
            redis, cache.TOKEN_GENERATION, [user_id], load, ttl=ttl
        )
    except RedisError:
        log.warning("tokens: Redis failed; the token generation is read from the database")
        (generation,) = await load([user_id])
    return generation if isinstance(generation, int) else None

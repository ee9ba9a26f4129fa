"""Which signed tokens still count: a token names the user's token generation it was issued
under, and a password change raises it, which revokes every earlier token at once.

The check runs on every signed-in request and WebSocket, so the generation is read through
the Redis cache (services/cache.py) with the database as the truth; a change drops the
cached value after its commit (services/effects.py).
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, select

from core.db import Database
from core.security import Identity
from models import User
from services import cache

log = logging.getLogger(__name__)
_BY_ID = select(User.id, User.token_generation).where(User.id.in_(bindparam("ids", expanding=True)))


async def forget_if_gone(db: Database, redis: aioredis.Redis, user_id: int) -> bool:
    """Whether the user is gone from the database (deleted behind the service's back while its
    generation stayed cached); its cached generation is then dropped, so its tokens stop at once."""
    async with db.read() as connection:
        if await connection.scalar(select(User.id).where(User.id == user_id)) is not None:
            return False
    try:
        await cache.forget(redis, [cache.key(cache.TOKEN_GENERATION, user_id)])
    except RedisError:
        log.warning("tokens: Redis failed; a deleted user's tokens work until the cache expires")
    return True


async def is_current(db: Database, redis: aioredis.Redis, identity: Identity, *, ttl: int) -> bool:
    """True when the user exists and has not revoked the token since it was issued."""
    (current,) = await are_current(db, redis, [identity], ttl=ttl)
    return current


async def are_current(
    db: Database, redis: aioredis.Redis, identities: list[Identity], *, ttl: int
) -> list[bool]:
    """is_current for many tokens at once: one cache read, one statement for the misses."""
    user_ids = sorted({identity.user_id for identity in identities})
    generations = dict(zip(user_ids, await _generations(db, redis, user_ids, ttl=ttl), strict=True))
    return [generations[identity.user_id] == identity.generation for identity in identities]


async def _generations(
    db: Database, redis: aioredis.Redis, user_ids: list[int], *, ttl: int
) -> list[int | None]:
    async def load(wanted: list[int]) -> list[int | None]:
        async with db.read() as connection:
            rows = (await connection.execute(_BY_ID, {"ids": wanted})).all()
        found = {row.id: row.token_generation for row in rows}
        return [found.get(user_id) for user_id in wanted]

    try:
        generations = await cache.read_through(
            redis, cache.TOKEN_GENERATION, user_ids, load, ttl=ttl
        )
    except RedisError:
        log.warning("tokens: Redis failed; the token generation is read from the database")
        generations = await load(user_ids)
    return [value if isinstance(value, int) else None for value in generations]

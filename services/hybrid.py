"""Which accounts are merged into home timelines at read time instead of fanned out.

An account joins the set when its follower count passes the hybrid threshold, and stays:
fan-out and the read path consult this one set, so each tweet is found by one of them, also
while an account crosses the threshold either way. The set lives in Redis beside the timelines;
when it is missing (Redis flushed, and the timelines with it) it is rebuilt from the database.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from models import User

KEY = "hybrid:accounts"
_PRESENT = "-"  # keeps an empty set present: missing means "rebuild"


async def accounts(connection: AsyncConnection, redis: aioredis.Redis, threshold: int) -> list[int]:
    members = await redis.smembers(KEY)
    if members:
        return [int(member) for member in members if member not in (_PRESENT, _PRESENT.encode())]
    query = select(User.id).where(User.follower_count > threshold)
    found = list((await connection.execute(query)).scalars())
    await redis.sadd(KEY, _PRESENT, *found)
    return found


async def is_merged(
    redis: aioredis.Redis, user_id: int, *, follower_count: int, threshold: int
) -> bool:
    """Whether the account's tweets are merged at read time; joins it when it has grown."""
    if follower_count > threshold:
        await redis.sadd(KEY, user_id)
        return True
    return bool(await redis.sismember(KEY, str(user_id)))

"""Read-your-writes across replicas: the WAL position of each user's last write, in Redis.

After a unit of work commits on behalf of a user, the primary's WAL position is kept here for
STICKY_SECONDS (shared by every API process); that user's reads go to a replica only once it
has replayed that far (core/db.py RequestReads), as GitLab's database load balancer does. Past
STICKY_SECONDS every usable replica holds the write anyway: none lags past its bound
(DATABASE_REPLICA_MAX_LAG_SECONDS, far below it).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from core.scripts import Script

STICKY_SECONDS = 60
# KEYS: the user's; ARGV: position, seconds. Keeps the greater of two writes racing
_REMEMBER = Script("""
local known = redis.call('GET', KEYS[1])
if not known or tonumber(known) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
""")


def _key(user_id: int) -> str:
    return f"wal:{user_id}"


async def remember(redis: aioredis.Redis, user_id: int, position: int) -> None:
    await _REMEMBER(redis, [_key(user_id)], [position, STICKY_SECONDS])


async def recall(redis: aioredis.Redis, user_id: int | None) -> int | None:
    """The position the user's reads must see; None for nobody, or no recent write."""
    if user_id is None:
        return None
    known = await redis.get(_key(user_id))
    return None if known is None else int(known)

"""Who holds WebSocket connections, across every API process: for the per-user limit.

Each user has a sorted set of connection ids scored by when they lapse. The process holding a
connection renews it every RENEW seconds; one that dies leaves entries that lapse after TTL.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.scripts import Script
from core.tasks import stopping

TTL = 90
RENEW = 30
# KEYS: the user's set; ARGV: now, lapses at, connection id, limit. 1 when admitted.
_ADMIT = Script("""
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(ARGV[2] - ARGV[1]))
return 1
""")


def _key(user_id: int) -> str:
    return f"ws:{user_id}"


class Presence:
    def __init__(self, redis: aioredis.Redis, limit: int) -> None:
        self._redis = redis
        self._limit = limit
        self._here: dict[str, int] = {}  # connection id -> user id

    async def admit(self, user_id: int, connection_id: str) -> bool:
        now = time.time()
        args = [now, now + TTL, connection_id, self._limit]
        if not await _ADMIT(self._redis, [_key(user_id)], args):
            return False
        self._here[connection_id] = user_id
        return True

    async def leave(self, connection_id: str) -> None:
        user_id = self._here.pop(connection_id, None)
        if user_id is not None:
            await self._redis.zrem(_key(user_id), connection_id)

    async def run(self) -> None:
        """Renews this process's connections until cancelled."""
        while not stopping():
            await asyncio.sleep(RENEW)
            lapses = time.time() + TTL
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for connection_id, user_id in list(self._here.items()):
                        pipe.zadd(_key(user_id), {connection_id: lapses}, xx=True)
                    await pipe.execute()
            except RedisError:
                continue

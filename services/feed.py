"""How home timelines are stored in Redis. Only this module knows their keys.

A timeline is a sorted set of tweet ids, all with score 0, ordered by member: ids are written
as 19-digit strings, so lexicographic order is id order, exact for 64-bit Snowflakes (a float
score is not). It holds a contiguous newest part of the viewer's timeline: every tweet of it
with an id at or above a floor. The floor is kept in the set as one marker member, "!" and
19 digits, which sorts before every id; it also keeps an empty timeline present, since a
missing key means "cold, rebuild from the database". Entries below the floor are refused, so
a late fan-out or a follow can never leave a gap, and trimming to CAP entries raises it.
Timelines expire when nobody reads them for `ttl` seconds; older pages come from the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis.asyncio as aioredis

CAP = 800
BATCH = 1000
_IDS = "[0"  # the lowest lexicographic bound that excludes the floor marker
_COMPLETE = "0" * 19
# KEYS: timelines; ARGV: cap, then ids. Only live timelines (the key exists) take entries.
_INSERT = """
local cap = tonumber(ARGV[1])
local written = 0
for i, key in ipairs(KEYS) do
  local marker = redis.call('ZRANGE', key, 0, 0)[1]
  if marker then
    local floor = string.sub(marker, 2)
    for j = 2, #ARGV do
      if ARGV[j] >= floor then written = written + redis.call('ZADD', key, 0, ARGV[j]) end
    end
    if redis.call('ZREMRANGEBYRANK', key, 1, -(cap + 1)) > 0 then
      local oldest = redis.call('ZRANGE', key, 1, 1)[1]
      redis.call('ZREM', key, marker)
      redis.call('ZADD', key, 0, '!' .. oldest)
    end
  end
end
return written
"""
_MAKE_LIVE = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then redis.call('ZADD', key, 0, ARGV[1]) end
  redis.call('EXPIRE', key, ARGV[2])
end
return 0
"""
_REMOVE = """
for i, key in ipairs(KEYS) do
  for j = 1, #ARGV do redis.call('ZREM', key, ARGV[j]) end
end
return #KEYS
"""


def key(user_id: int) -> str:
    """The Redis key of a user's timeline."""
    return f"tl:{user_id}"


def _member(tweet_id: int) -> str:
    return f"{tweet_id:019d}"


async def insert(redis: aioredis.Redis, user_ids: Iterable[int], tweet_ids: Sequence[int]) -> int:
    """Adds tweets to the live timelines among `user_ids`; returns the entries written."""
    return await _run(redis, _INSERT, user_ids, [str(CAP), *map(_member, tweet_ids)])


async def remove(redis: aioredis.Redis, user_ids: Iterable[int], tweet_ids: Sequence[int]) -> None:
    await _run(redis, _REMOVE, user_ids, [_member(t) for t in tweet_ids])


async def _run(redis: aioredis.Redis, script: str, user_ids: Iterable[int], args: list[str]) -> int:
    runner = redis.register_script(script)
    keys = [key(user_id) for user_id in user_ids]
    async with redis.pipeline(transaction=False) as pipe:
        for start in range(0, len(keys), BATCH):
            await runner(keys=keys[start : start + BATCH], args=args, client=pipe)
        results = await pipe.execute()
    return sum(int(count) for count in results)


async def page(
    redis: aioredis.Redis, user_id: int, *, before: int | None, count: int, ttl: int
) -> list[int] | None:
    """Up to `count` ids older than `before`, newest first; None when the timeline is cold."""
    name = key(user_id)
    upper = f"({_member(before)}" if before is not None else "+"
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrevrangebylex(name, upper, _IDS, start=0, num=count)
        pipe.expire(name, ttl, xx=True)
        members, alive = await pipe.execute()
    if not alive:
        return None
    return [int(member) for member in members]


async def rebuild(redis: aioredis.Redis, user_id: int, newest: Sequence[int], *, ttl: int) -> None:
    """Replaces the timeline with `newest`: the newest ids from the database, at most CAP."""
    kept = newest[:CAP]
    floor = _member(kept[-1]) if len(newest) >= CAP else _COMPLETE
    mapping = {_member(t): 0 for t in kept} | {f"!{floor}": 0}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key(user_id))
        pipe.zadd(key(user_id), mapping)
        pipe.expire(key(user_id), ttl)
        await pipe.execute()


async def make_live(redis: aioredis.Redis, user_ids: Iterable[int], *, ttl: int) -> None:
    """Makes cold timelines live and empty (for tools: benchmarks, tests)."""
    await _run(redis, _MAKE_LIVE, user_ids, [f"!{_COMPLETE}", str(ttl)])


async def holding(redis: aioredis.Redis, user_ids: Sequence[int], tweet_id: int) -> int:
    """How many of these timelines hold the tweet."""
    async with redis.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.zscore(key(user_id), _member(tweet_id))
        scores = await pipe.execute()
    return sum(score is not None for score in scores)


async def rebuild_lock(redis: aioredis.Redis, user_id: int, *, seconds: int = 10) -> bool:
    """True for the one caller that should rebuild a cold timeline now."""
    return bool(await redis.set(f"{key(user_id)}:rebuilding", 1, nx=True, ex=seconds))


async def release_rebuild_lock(redis: aioredis.Redis, user_id: int) -> None:
    await redis.delete(f"{key(user_id)}:rebuilding")

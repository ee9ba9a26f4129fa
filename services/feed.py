"""How home timelines are stored in Redis. Only this module knows their keys.

A timeline is a sorted set of tweet ids, all with score 0, ordered by member: ids are written
as 19-digit strings, so lexicographic order is id order, exact for 64-bit Snowflakes (a float
score is not). It holds a contiguous newest part of the viewer's timeline: every tweet of it
with an id at or above a floor. The floor is kept in the set as one marker member, "!" and
19 digits, which sorts before every id; it also keeps an empty timeline present, since a
missing key means "cold, rebuild from the database". Reads never go below the floor, so an
entry that lands there (a late fan-out, a follow) can never show a gap: it is invisible until
a trim drops it. Trimming to CAP entries raises the floor; to keep a fan-out at one cheap
check and one ZADD per timeline, an insert of one tweet trims on one tweet in TRIM_EVERY (by
its id), so a timeline may hold a few entries over CAP. Timelines expire when nobody reads
them for `ttl` seconds; older pages come from the database.

A cold timeline is rebuilt by one reader, which first makes it present but *rebuilding*: its
marker is "!~" and the rebuild's token instead of a floor. Reads find it cold still, while
inserts write into it as into any present timeline, so that a tweet fanned out while the
rebuild reads the database is kept, whatever its id; the rebuild then adds what it read and
the floor, in one script. ("!~" sorts after every floor marker, so the scripts that compare
floors leave a rebuilding timeline alone.)

The same structure, of kind AUTHORED, holds the newest tweets of an account whose tweets are
merged into timelines at read time (services/hybrid.py) instead of fanned out.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.scripts import Script, SpreadScript

CAP = 800
BATCH = 1000
TIMELINE, AUTHORED = "tl", "au"
TRIM_EVERY = 8
_COMPLETE = "0" * 19
_REBUILDING = "!~"  # the marker of a timeline being rebuilt, before the rebuild's token
# KEYS: timelines; ARGV: cap (0: no trim), then ids. Only live timelines (the key exists) take
# entries. A trim keeps the marker and the newest `cap` ids; the floor never goes down.
_INSERT = SpreadScript("""
local cap = tonumber(ARGV[1])
local written = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    for j = 2, #ARGV do written = written + redis.call('ZADD', key, 0, ARGV[j]) end
    if cap > 0 and redis.call('ZCARD', key) > cap + 1 then
      local marker = redis.call('ZRANGE', key, 0, 0)[1]
      redis.call('ZREMRANGEBYRANK', key, 1, -(cap + 1))
      local oldest = redis.call('ZRANGE', key, 1, 1)[1]
      if oldest > string.sub(marker, 2) then
        redis.call('ZREM', key, marker)
        redis.call('ZADD', key, 0, '!' .. oldest)
      end
    end
  end
end
return written
""")
# KEYS: one timeline; ARGV: upper bound, newer-than id or '', count, ttl.
# Returns nil when cold, else the floor and then the ids, newest first.
# KEYS: lists; ARGV: as _PAGE. Returns one status letter a list (c: cold, y: the page is
# complete, n: it reaches below the floor), then the newest `count` ids of the complete pages.
_MERGE = SpreadScript("""
local count = tonumber(ARGV[3])
local status, all = {}, {}
for i, key in ipairs(KEYS) do
  local marker = redis.call('ZRANGE', key, 0, 0)[1]
  if not marker or string.sub(marker, 2, 2) == '~' then
    status[i] = 'c'
  else
    redis.call('EXPIRE', key, ARGV[4])
    local floor = string.sub(marker, 2)
    local lower = '[' .. floor
    if ARGV[2] ~= '' and ARGV[2] >= floor then lower = '(' .. ARGV[2] end
    local ids = redis.call('ZREVRANGEBYLEX', key, ARGV[1], lower, 'LIMIT', 0, count)
    if #ids == count or string.sub(lower, 1, 1) == '(' or tonumber(floor) == 0 then
      status[i] = 'y'
      for _, id in ipairs(ids) do all[#all + 1] = id end
    else
      status[i] = 'n'
    end
  end
end
table.sort(all, function(a, b) return a > b end)
local out = {table.concat(status)}
for i = 1, math.min(count, #all) do out[#out + 1] = all[i] end
return out
""")
_PAGE = Script("""
local marker = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if not marker or string.sub(marker, 2, 2) == '~' then return false end
redis.call('EXPIRE', KEYS[1], ARGV[4])
local floor = string.sub(marker, 2)
local lower = '[' .. floor
if ARGV[2] ~= '' and ARGV[2] >= floor then lower = '(' .. ARGV[2] end
local ids = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], lower, 'LIMIT', 0, tonumber(ARGV[3]))
table.insert(ids, 1, floor)
return ids
""")
# KEYS: a cold timeline; ARGV: the rebuilding marker, seconds. 1 when it was cold.
_BEGIN_REBUILD = Script("""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
""")
# KEYS: a rebuilding timeline; ARGV: its marker, the floor marker, ttl, then ids. 0 when the
# rebuild is no longer this one (it took too long and lapsed).
_FINISH_REBUILD = Script("""
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
redis.call('ZADD', KEYS[1], 0, ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
""")
_ABANDON_REBUILD = Script("""
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then redis.call('DEL', KEYS[1]) end
return 0
""")
_MAKE_LIVE = SpreadScript("""
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then redis.call('ZADD', key, 0, ARGV[1]) end
  redis.call('EXPIRE', key, ARGV[2])
end
return 0
""")
# KEYS: timelines; ARGV: the new floor. Drops what lies below it.
_RAISE_FLOOR = SpreadScript("""
for i, key in ipairs(KEYS) do
  local marker = redis.call('ZRANGE', key, 0, 0)[1]
  if marker and string.sub(marker, 2) < ARGV[1] then
    redis.call('ZREMRANGEBYLEX', key, '[0', '(' .. ARGV[1])
    redis.call('ZREM', key, marker)
    redis.call('ZADD', key, 0, '!' .. ARGV[1])
  end
end
return 0
""")
_REMOVE = SpreadScript("""
for i, key in ipairs(KEYS) do
  for j = 1, #ARGV do redis.call('ZREM', key, ARGV[j]) end
end
return #KEYS
""")


def key(user_id: int, kind: str = TIMELINE) -> str:
    """The Redis key of a user's timeline (or, of kind AUTHORED, of the user's own tweets)."""
    return f"{kind}:{user_id}"


def _member(tweet_id: int) -> str:
    return f"{tweet_id:019d}"


async def insert(
    redis: aioredis.Redis,
    user_ids: Iterable[int],
    tweet_ids: Sequence[int],
    *,
    kind: str = TIMELINE,
) -> int:
    """Adds tweets to the live timelines among `user_ids`; returns the entries written."""
    if not tweet_ids:
        return 0
    trim = len(tweet_ids) > 1 or (tweet_ids[0] >> 22) % TRIM_EVERY == 0  # by its millisecond
    cap = CAP if trim else 0
    return await _run(redis, _INSERT, user_ids, [str(cap), *map(_member, tweet_ids)], kind)


async def remove(
    redis: aioredis.Redis,
    user_ids: Iterable[int],
    tweet_ids: Sequence[int],
    *,
    kind: str = TIMELINE,
) -> None:
    await _run(redis, _REMOVE, user_ids, [_member(t) for t in tweet_ids], kind)


async def raise_floor(redis: aioredis.Redis, user_ids: Iterable[int], tweet_id: int) -> None:
    """Makes the timelines hold nothing below `tweet_id`: older pages come from the database."""
    await _run(redis, _RAISE_FLOOR, user_ids, [_member(tweet_id)])


async def _run(
    redis: aioredis.Redis,
    script: SpreadScript,
    user_ids: Iterable[int],
    args: list[str],
    kind: str = TIMELINE,
) -> int:
    """Runs an (idempotent) script over the timelines, BATCH keys per call: in one round trip
    on a single Redis; on a cluster, a call per node at once, each node's writes on one of its
    replicas before it returns."""
    keys = [key(user_id, kind) for user_id in user_ids]
    done = await script.over(redis, keys, args, batch=BATCH, replicated=True)
    return sum(int(count) for _, count in done)


async def page(
    redis: aioredis.Redis,
    user_id: int,
    *,
    before: int | None,
    count: int,
    ttl: int,
    newer_than: int | None = None,
    kind: str = TIMELINE,
) -> list[int] | None:
    """Up to `count` ids older than `before` (and newer than `newer_than`), newest first;
    None when the timeline is cold."""
    found = await holdings(
        redis, [user_id], before=before, count=count, ttl=ttl, newer_than=newer_than, kind=kind
    )
    held = found[user_id]
    return None if held is None else held.ids


@dataclass(frozen=True)
class Held:
    """A page read from a timeline, and the timeline's floor: below it, Redis knows nothing."""

    ids: list[int]
    floor: int

    def complete(self, count: int, newer_than: int | None) -> bool:
        """Whether the page holds every id of the range (or `count` of them, all it needs)."""
        return len(self.ids) == count or self.floor <= (newer_than or 0)


async def holdings(
    redis: aioredis.Redis,
    user_ids: Sequence[int],
    *,
    before: int | None,
    count: int,
    ttl: int,
    newer_than: int | None = None,
    kind: str = TIMELINE,
) -> dict[int, Held | None]:
    """Pages of several timelines with their floors, in one round trip; None for cold ones."""
    upper = f"({_member(before)}" if before is not None else "+"
    newer = _member(newer_than) if newer_than is not None else ""
    calls = [([key(user_id, kind)], [upper, newer, count, ttl]) for user_id in user_ids]
    replies = await _PAGE.many(redis, calls)
    return {
        user_id: Held([int(m) for m in reply[1:]], int(reply[0])) if reply else None
        for user_id, reply in zip(user_ids, replies, strict=True)
    }


async def rebuild_lock(
    redis: aioredis.Redis, user_id: int, *, seconds: int = 10, kind: str = TIMELINE
) -> str | None:
    """For the one caller that should rebuild a cold timeline now: the rebuild's token, and
    the timeline rebuilding (for `seconds` at most) until `rebuild` completes it."""
    token = secrets.token_hex(8)
    began = await _BEGIN_REBUILD(redis, [key(user_id, kind)], [_REBUILDING + token, seconds])
    return token if began else None


async def rebuild(
    redis: aioredis.Redis,
    user_id: int,
    newest: Sequence[int],
    *,
    lock: str,
    ttl: int,
    kind: str = TIMELINE,
) -> bool:
    """Completes the rebuild `lock` began with `newest`, the newest ids from the database (at
    most CAP are kept), beside what was inserted meanwhile; False when it had lapsed."""
    kept = newest[:CAP]
    floor = _member(kept[-1]) if len(newest) >= CAP else _COMPLETE
    args = [_REBUILDING + lock, f"!{floor}", ttl, *map(_member, kept)]
    return bool(await _FINISH_REBUILD(redis, [key(user_id, kind)], args))


async def release_rebuild_lock(
    redis: aioredis.Redis, user_id: int, lock: str, *, kind: str = TIMELINE
) -> None:
    """Makes a timeline whose rebuild failed cold again (unless `rebuild` completed it)."""
    await _ABANDON_REBUILD(redis, [key(user_id, kind)], [_REBUILDING + lock])


async def make_live(
    redis: aioredis.Redis, user_ids: Iterable[int], *, ttl: int, kind: str = TIMELINE
) -> None:
    """Makes cold timelines live and empty (for tools: benchmarks, tests)."""
    await _run(redis, _MAKE_LIVE, user_ids, [f"!{_COMPLETE}", str(ttl)], kind)


async def holding(redis: aioredis.Redis, user_ids: Sequence[int], tweet_id: int) -> int:
    """How many of these timelines hold the tweet."""
    async with redis.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.zscore(key(user_id), _member(tweet_id))
        scores = await pipe.execute()
    return sum(score is not None for score in scores)


@dataclass(frozen=True)
class Merged:
    ids: list[int]  # the newest of the complete pages, newest first
    cold: list[int]  # lists to rebuild
    incomplete: list[int]  # lists whose page reaches below what they hold


async def merged(
    redis: aioredis.Redis,
    user_ids: Sequence[int],
    *,
    before: int | None,
    count: int,
    ttl: int,
    newer_than: int | None = None,
    kind: str = TIMELINE,
) -> Merged:
    """The newest `count` ids in the range across several lists, merged by one script (one
    a node on a cluster, whose answers are merged here)."""
    upper = f"({_member(before)}" if before is not None else "+"
    newer = _member(newer_than) if newer_than is not None else ""
    owners = {key(user_id, kind): user_id for user_id in user_ids}
    replies = await _MERGE.over(redis, list(owners), [upper, newer, count, ttl], batch=BATCH)
    ids: list[int] = []
    status: dict[int, str] = {}
    for keys, (told, *members) in replies:
        told = told.decode() if isinstance(told, bytes) else told
        status.update((owners[name], s) for name, s in zip(keys, told, strict=True))
        ids.extend(int(member) for member in members)
    return Merged(
        ids=sorted(ids, reverse=True)[:count],
        cold=[user_id for user_id in user_ids if status[user_id] == "c"],
        incomplete=[user_id for user_id in user_ids if status[user_id] == "n"],
    )
